#ifndef GR_NCCL_SHIM_H
#define GR_NCCL_SHIM_H

/// `ncclUniqueId` (nccl.h): 128 opaque bytes, passed BY VALUE to ncclCommInitRank. Swift cannot
/// declare a C function type that takes a struct by value without a C declaration of it, so this
/// shim makes the call: `fn` is the dlsym'ed `ncclCommInitRank`, `id` points at the 128 bytes.
/// Returns the ncclResult_t.
#define GR_NCCL_UNIQUE_ID_BYTES 128

int gr_nccl_comm_init_rank(void *fn, void **comm, int nranks, const void *id, int rank);

#endif
