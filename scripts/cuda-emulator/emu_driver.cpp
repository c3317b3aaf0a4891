// A stand-in for libcuda.so.1, libnvrtc and libcublasLt that runs the GR kernels on the host
// (see emu_cuda.h): device memory is host memory, "compilation" returns a token, cuLaunchKernel
// runs the named kernel block by block, cublasLtMatmul is a naive column-major GEMM. Stream
// capture (CUDA graphs): while the stream captures, each launch, GEMM, copy and memset is recorded
// (its arguments copied, as the driver does) instead of run; cuGraphLaunch runs the recording.
#include "emu_cuda.h"
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <vector>
#include <string>
#include <memory>
#include <functional>

thread_local dim3 threadIdx, blockIdx;
dim3 blockDim, gridDim;
thread_local std::barrier<>* emu_barrier = nullptr;
alignas(64) char emu_dynamic_shared[1 << 20];
extern const unsigned long long emu_dynamic_shared_bytes = sizeof(emu_dynamic_shared);
unsigned long long emu_exchange[1024];
struct EmuKernel { const char* name; void (*fn)(void**); int params; };
// Stream capture: the recording in progress (nullptr: not capturing); a graph is its recording.
typedef std::vector<std::function<void()>> EmuGraph;
static EmuGraph* emu_capture = nullptr;
// EMU_TRACE=1: one stderr line per op as it runs (eager or replayed): what, its arguments, and an
// FNV-1a hash of the bytes a copy reads or a GEMM writes, for diffing an eager step against a replay.
static const bool emu_trace = getenv("EMU_TRACE") != nullptr;
// EMU_NOEXEC=1: kernels and GEMMs are accepted but not run (copies and memsets still are), so a
// run measures the host side alone (the Swift code that queues the work); results are garbage.
// Memsets and device-to-device copies are skipped too (uploads and downloads still run).
static const bool emu_noexec = getenv("EMU_NOEXEC") != nullptr;
static unsigned long long emu_hash(const void* p, size_t n) {
    unsigned long long h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char*)p)[i]) * 1099511628211ull;
    return h;
}
// Runs `op` now, or records it while the stream captures.
static int emu_queue(std::function<void()> op) {
    if (emu_capture) emu_capture->push_back(std::move(op)); else op();
    return 0;
}
extern const EmuKernel emu_kernels[];

typedef int CUresult;
typedef unsigned long long CUdeviceptr;
extern "C" {
CUresult cuInit(unsigned) { return 0; }
CUresult cuDriverGetVersion(int* v) { *v = 13000; return 0; }
CUresult cuDeviceGetCount(int* c) { *c = 1; return 0; }
CUresult cuDeviceGet(int* d, int) { *d = 0; return 0; }
CUresult cuDeviceGetName(char* n, int len, int) { snprintf(n, len, "host emulator"); return 0; }
CUresult cuDeviceGetAttribute(int* v, int attr, int) { *v = attr == 75 ? 9 : attr == 76 ? 0 : attr == 97 ? 232448 : 1; return 0; }
CUresult cuDeviceTotalMem_v2(size_t* b, int) { *b = 1ull << 32; return 0; }
CUresult cuDevicePrimaryCtxRetain(void** c, int) { static int ctx; *c = &ctx; return 0; }
static void* current = nullptr;
CUresult cuCtxSetCurrent(void* c) { current = c; return 0; }
CUresult cuCtxGetCurrent(void** c) { *c = current; return 0; }
CUresult cuStreamCreate(void** s, unsigned) { static int st; *s = &st; return 0; }
CUresult cuStreamSynchronize(void*) { return emu_capture ? 900 : 0; }   // CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED
CUresult cuMemAlloc_v2(CUdeviceptr* p, size_t n) {
    void* m = aligned_alloc(256, (n + 255) / 256 * 256);
    memset(m, emu_noexec ? 1 : 0xCD, n);   // garbage, as device memory (0x01 bytes without execution: ranks ≥ 1)
    *p = (CUdeviceptr)m; return m ? 0 : 2;
}
CUresult cuMemFree_v2(CUdeviceptr p) { free((void*)p); return 0; }
CUresult cuMemHostAlloc(void** p, size_t n, unsigned) { *p = malloc(n); return *p ? 0 : 2; }
CUresult cuMemGetInfo_v2(size_t* f, size_t* t) { *f = 1ull << 31; *t = 1ull << 32; return 0; }
static void emu_copy(const char* what, void* d, const void* s, size_t n) {
    if (emu_trace) fprintf(stderr, "EMU %s %p <- %p %zu #%016llx\n", what, d, s, n, emu_hash(s, n));
    memmove(d, s, n);
}
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr d, const void* s, size_t n, void*) { return emu_queue([=] { emu_copy("htod", (void*)d, s, n); }); }
CUresult cuMemcpyDtoHAsync_v2(void* d, CUdeviceptr s, size_t n, void*) { return emu_queue([=] { emu_copy("dtoh", d, (void*)s, n); }); }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr d, CUdeviceptr s, size_t n, void*) {
    if (emu_noexec && !emu_capture) return 0;
    return emu_queue([=] { emu_copy("dtod", (void*)d, (void*)s, n); }); }
CUresult cuMemsetD32Async(CUdeviceptr d, unsigned v, size_t n, void*) {
    if (emu_noexec && !emu_capture) return 0;
    return emu_queue([=] {
        if (emu_trace) fprintf(stderr, "EMU memset %p %08x %zu\n", (void*)d, v, n);
        unsigned* p = (unsigned*)d; for (size_t i = 0; i < n; i++) p[i] = v;
    });
}
// The dynamic shared-memory opt-in (attribute 8, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES):
// accepted up to the emulator's buffer.
CUresult cuFuncSetAttribute(void*, int attr, int v) { return attr == 8 && v >= 0 && (size_t)v <= sizeof(emu_dynamic_shared) ? 0 : 1; }
CUresult cuModuleLoadData(void** m, const void*) { static int mod; *m = &mod; return 0; }
CUresult cuModuleGetFunction(void** f, void*, const char* name) {
    for (const EmuKernel* k = emu_kernels; k->name; k++) if (!strcmp(k->name, name)) { *f = (void*)k; return 0; }
    return 500;   // CUDA_ERROR_NOT_FOUND
}
static void emu_run(const EmuKernel* k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, void** params);
CUresult cuLaunchKernel(void* f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by, unsigned bz,
                        unsigned shared, void*, void** params, void**) {
    const EmuKernel* k = (const EmuKernel*)f;
    if (by != 1 || bz != 1 || bx > 1024 || shared > sizeof(emu_dynamic_shared)) return 1;
    // every argument is an 8-byte slot (the Swift side's convention): copy them for a recording
    std::vector<unsigned long long> slots(k->params);
    for (int i = 0; i < k->params; i++) memcpy(&slots[i], params[i], 8);
    if (emu_noexec && !emu_capture) return 0;
    return emu_queue([=]() mutable {
        std::vector<void*> ptrs(k->params);
        for (int i = 0; i < k->params; i++) ptrs[i] = &slots[i];
        emu_run(k, gx, gy, gz, bx, ptrs.data());
    });
}
static void emu_run(const EmuKernel* k, unsigned gx, unsigned gy, unsigned gz, unsigned bx, void** params) {
    if (emu_trace) {
        fprintf(stderr, "EMU kernel %s (%u,%u,%u)x%u", k->name, gx, gy, gz, bx);
        for (int i = 0; i < k->params; i++) fprintf(stderr, " %llx", *(unsigned long long*)params[i]);
        fprintf(stderr, "\n");
    }
    gridDim = {gx, gy, gz}; blockDim = {bx, 1, 1};
    size_t blocks = (size_t)gx * gy * gz;
    // one __syncthreads barrier per block (a thread that returns early drops out of its block's
    // barrier only), one barrier that ends every block for all threads
    std::vector<std::unique_ptr<std::barrier<>>> bars;
    bars.reserve(blocks);
    for (size_t b = 0; b < blocks; b++) bars.emplace_back(new std::barrier<>((std::ptrdiff_t)bx));
    std::barrier<> endBar((std::ptrdiff_t)bx);
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < bx; t++) threads.emplace_back([&, t] {
        threadIdx = {t, 0, 0};
        size_t b = 0;
        for (unsigned z = 0; z < gz; z++) for (unsigned y = 0; y < gy; y++) for (unsigned x = 0; x < gx; x++, b++) {
            blockIdx = {x, y, z};
            emu_barrier = bars[b].get();
            k->fn(params);
            emu_wgmma_block_end();
            emu_barrier->arrive_and_drop();
            endBar.arrive_and_wait();
        }
    });
    for (auto& th : threads) th.join();
}
// CUDA graphs by stream capture (relaxed mode only: nothing else is checked).
CUresult cuStreamBeginCapture_v2(void*, int) {
    if (emu_capture) return 900;
    emu_capture = new EmuGraph(); return 0;
}
CUresult cuStreamEndCapture(void*, void** g) {
    if (!emu_capture) return 901;   // CUDA_ERROR_STREAM_CAPTURE_INVALIDATED
    *g = emu_capture; emu_capture = nullptr; return 0;
}
CUresult cuGraphInstantiateWithFlags(void** exec, void* g, unsigned long long) { *exec = new EmuGraph(*(EmuGraph*)g); return 0; }
CUresult cuGraphLaunch(void* exec, void*) {
    if (emu_capture) return 900;
    for (auto& op : *(EmuGraph*)exec) op();
    return 0;
}
CUresult cuGraphGetNodes(void* g, void** nodes, size_t* n) {
    if (nodes) return 1;
    *n = ((EmuGraph*)g)->size(); return 0;
}
CUresult cuGraphExecDestroy(void* exec) { delete (EmuGraph*)exec; return 0; }
CUresult cuGraphDestroy(void* g) { delete (EmuGraph*)g; return 0; }
CUresult cuGetErrorName(CUresult, const char** s) { *s = "EMU_ERROR"; return 0; }
CUresult cuGetErrorString(CUresult, const char** s) { *s = "emulator error"; return 0; }

// NVRTC
int nvrtcCreateProgram(void** p, const char*, const char*, int, const char**, const char**) { static int prog; *p = &prog; return 0; }
int nvrtcCompileProgram(void*, int, const char**) { return 0; }
int nvrtcGetProgramLogSize(void*, size_t* n) { *n = 1; return 0; }
int nvrtcGetProgramLog(void*, char* s) { s[0] = 0; return 0; }
int nvrtcGetCUBINSize(void*, size_t* n) { *n = 4; return 0; }
int nvrtcGetCUBIN(void*, char* s) { memcpy(s, "EMU", 4); return 0; }
int nvrtcDestroyProgram(void**) { return 0; }
const char* nvrtcGetErrorString(int) { return "nvrtc emulator error"; }
int nvrtcVersion(int* a, int* b) { *a = 0; *b = 0; return 0; }

// cuBLASLt (column-major, D = alpha·op(A)·op(B) + beta·C; beta == 0 does not read C)
struct Desc { int transA = 0, transB = 0; unsigned epilogue = 1; const float* bias = nullptr; };
struct Layout { unsigned long long rows, cols; long long ld; };
int cublasLtCreate(void** h) { static int handle; *h = &handle; return 0; }
int cublasLtMatmulDescCreate(Desc** d, int, int) { *d = new Desc(); return 0; }
int cublasLtMatmulDescSetAttribute(Desc* d, int attr, const void* v, size_t) {
    if (attr == 3) d->transA = *(const int*)v; else if (attr == 4) d->transB = *(const int*)v;
    else if (attr == 7) { d->epilogue = *(const unsigned*)v; if (d->epilogue != 1 && d->epilogue != 4) return 7; }   // DEFAULT, BIAS
    else if (attr == 8) d->bias = *(const float* const*)v;   // BIAS_POINTER
    else return 7;
    return 0;
}
int cublasLtMatmulDescDestroy(Desc* d) { delete d; return 0; }
int cublasLtMatmulPreferenceCreate(void** p) { static int pref; *p = &pref; return 0; }
int cublasLtMatmulPreferenceSetAttribute(void*, int, const void*, size_t) { return 0; }
int cublasLtMatmulPreferenceDestroy(void*) { return 0; }
int cublasLtMatmulAlgoGetHeuristic(void*, Desc*, Layout*, Layout*, Layout*, Layout*, void*, int, void* r, int* n) { memset(r, 0, 96); *n = 1; return 0; }
int cublasLtMatrixLayoutCreate(Layout** l, int, unsigned long long r, unsigned long long c, long long ld) {
    if (ld < (long long)r) return 7;
    *l = new Layout{r, c, ld}; return 0;
}
int cublasLtMatrixLayoutDestroy(Layout* l) { delete l; return 0; }
int cublasLtMatmul(void*, Desc* d, const float* alpha, const float* A, Layout* la, const float* B, Layout* lb,
                   const float* beta, const float* C, Layout* lc, float* D, Layout* ld, const void*, void*, size_t, void*) {
    if (emu_capture) {   // record with copies of the descriptors and scalars
        Desc dc = *d; Layout a = *la, b = *lb, c = *lc, o = *ld; float al = *alpha, be = *beta;
        emu_capture->push_back([=]() mutable { cublasLtMatmul(nullptr, &dc, &al, A, &a, B, &b, &be, C, &c, D, &o, nullptr, nullptr, 0, nullptr); });
        return 0;
    }
    if (emu_noexec) return 0;
    long long m = ld->rows, n = ld->cols, k = d->transA ? la->rows : la->cols;
    long long am = d->transA ? la->cols : la->rows, bk = d->transB ? lb->cols : lb->rows, bn = d->transB ? lb->rows : lb->cols;
    if (am != m || bk != k || bn != n || lc->rows != (unsigned long long)m || lc->cols != (unsigned long long)n) return 7;
    for (long long j = 0; j < n; j++) for (long long i = 0; i < m; i++) {
        double s = 0;
        for (long long p = 0; p < k; p++) {
            float a = d->transA ? A[i * la->ld + p] : A[p * la->ld + i];
            float b = d->transB ? B[p * lb->ld + j] : B[j * lb->ld + p];
            s += (double)a * b;
        }
        float r = *alpha * (float)s;
        if (*beta != 0) r += *beta * C[j * lc->ld + i];
        if (d->epilogue == 4) { if (!d->bias) return 7; r += d->bias[i]; }   // one bias value per row of D
        D[j * ld->ld + i] = r;
    }
    if (emu_trace) fprintf(stderr, "EMU gemm %lld %lld %lld A %p B %p D %p a %g b %g -> #%016llx\n", m, n, k, (void*)A, (void*)B,
                           (void*)D, *alpha, *beta, emu_hash(D, (size_t)(n - 1) * ld->ld * 4 + m * 4));
    return 0;
}
size_t cublasLtGetVersion() { return 0; }
}
