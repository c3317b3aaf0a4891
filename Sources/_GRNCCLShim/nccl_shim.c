#include "GRNCCLShim.h"
#include <string.h>

typedef struct { char internal[GR_NCCL_UNIQUE_ID_BYTES]; } gr_nccl_unique_id;
typedef int (*gr_nccl_comm_init_rank_fn)(void **comm, int nranks, gr_nccl_unique_id id, int rank);

int gr_nccl_comm_init_rank(void *fn, void **comm, int nranks, const void *id, int rank) {
    gr_nccl_unique_id value;
    memcpy(value.internal, id, GR_NCCL_UNIQUE_ID_BYTES);
    return ((gr_nccl_comm_init_rank_fn)fn)(comm, nranks, value, rank);
}
