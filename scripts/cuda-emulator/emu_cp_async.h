// Host emulation of cp.async's groups and of the generic → async proxy fence, so that a kernel
// that reads a tile before its copies are waited for, or lets wgmma read cp.async data that no
// fence.proxy.async has handed to the async proxy, is caught (PTX ISA 9.7.9.25.3 cp.async,
// cp.async.commit_group, cp.async.wait_group; 8.6 proxies; 9.7.12.4 fence.proxy.async). Included
// by emu_wgmma.h.
//  - cp.async reads its source at issue (global memory does not change within a kernel) and writes
//    shared memory only when a cp.async.wait_group completes its group ("wait_group N": all
//    committed groups but the N most recent; copies not yet committed stay pending); until then the
//    destination keeps its old bytes. A block's copies still pending at its end are written then.
//  - Each 16-byte chunk of the dynamic shared window has a state: pending (a copy to it has not
//    completed), written (completed, not yet fenced by the thread that issued the copy:
//    fence.proxy.async covers the issuing thread's completed writes) or clean. wgmma reading a
//    chunk that is not clean stops the run. Generic stores (st.shared) are not tracked.
#pragma once
#include <vector>
#include <cstring>

inline unsigned char emu_cp_state[1 << 16];   // per 16-byte chunk of emu_dynamic_shared (1 MiB)
enum { EMU_CHUNK_CLEAN = 0, EMU_CHUNK_PENDING = 1, EMU_CHUNK_WRITTEN = 2 };
struct EmuCopy { char* dst; unsigned char data[16]; int bytes; int group; };
struct EmuCpState {
    std::vector<EmuCopy> pending;
    std::vector<unsigned> unfenced;   // chunks this thread's completed copies wrote
    int nextGroup = 0;
};
inline thread_local EmuCpState emu_cp;

inline long emu_cp_chunk(const void* p) {   // −1 outside the dynamic window
    const char* c = (const char*)p;
    if (c < emu_dynamic_shared || c >= emu_dynamic_shared + emu_dynamic_shared_bytes) return -1;
    return (long)((c - emu_dynamic_shared) >> 4);
}
inline void emu_cp_set(const void* p, int bytes, unsigned char s) {
    for (const char* c = (const char*)p; c < (const char*)p + bytes; c += 16) {
        long k = emu_cp_chunk(c);
        if (k >= 0) __atomic_store_n(&emu_cp_state[k], s, __ATOMIC_RELAXED);
    }
}
// cp.async of `bytes` (4, 8, 16) from src to dst; src == nullptr: zero fill (src-size 0).
inline void emu_cp_async(void* dst, const void* src, int bytes) {
    EmuCopy c{(char*)dst, {}, bytes, -1};
    if (src) memcpy(c.data, src, bytes);
    emu_cp.pending.push_back(c);
    emu_cp_set(dst, bytes, EMU_CHUNK_PENDING);
}
inline void emu_cp_async_commit() {
    for (auto& c : emu_cp.pending) if (c.group < 0) c.group = emu_cp.nextGroup;
    emu_cp.nextGroup++;
}
inline void emu_cp_complete(const EmuCopy& c) {
    memcpy(c.dst, c.data, c.bytes);
    emu_cp_set(c.dst, c.bytes, EMU_CHUNK_WRITTEN);
    long k = emu_cp_chunk(c.dst);
    if (k >= 0) emu_cp.unfenced.push_back((unsigned)k);
}
inline void emu_cp_async_wait(int n) {
    const int limit = emu_cp.nextGroup - n;
    std::vector<EmuCopy> keep;
    for (auto& c : emu_cp.pending) {
        if (c.group >= 0 && c.group < limit) emu_cp_complete(c);
        else keep.push_back(c);
    }
    emu_cp.pending = std::move(keep);
}
// fence.proxy.async: this thread's completed cp.async writes become visible to the async proxy.
inline void emu_fence_proxy_async() {
    for (unsigned k : emu_cp.unfenced)
        if (__atomic_load_n(&emu_cp_state[k], __ATOMIC_RELAXED) == EMU_CHUNK_WRITTEN) __atomic_store_n(&emu_cp_state[k], EMU_CHUNK_CLEAN, __ATOMIC_RELAXED);
    emu_cp.unfenced.clear();
}
// The async proxy (wgmma) reads the chunk at host pointer p.
inline void emu_cp_check_async_read(const void* p) {
    long k = emu_cp_chunk(p);
    if (k < 0) return;
    const unsigned char s = __atomic_load_n(&emu_cp_state[k], __ATOMIC_RELAXED);
    if (s == EMU_CHUNK_PENDING) emu_fail("wgmma reads shared memory whose cp.async has not completed (cp.async.wait_group missing)");
    if (s == EMU_CHUNK_WRITTEN) emu_fail("wgmma reads shared memory written by cp.async without fence.proxy.async by the writing thread");
}
// Block end: the copies still pending complete; this thread's chunks are clean for the next block.
inline void emu_cp_block_end() {
    for (auto& c : emu_cp.pending) { memcpy(c.dst, c.data, c.bytes); emu_cp_set(c.dst, c.bytes, EMU_CHUNK_CLEAN); }
    for (unsigned k : emu_cp.unfenced) __atomic_store_n(&emu_cp_state[k], EMU_CHUNK_CLEAN, __ATOMIC_RELAXED);
    emu_cp = EmuCpState();
}
