#!/usr/bin/env python3
# Compiles the kernel sources here, without a GPU, with the NVRTC the device uses (13.0), as the
# binary does (the files of Sources/GRCUDA/Kernels concatenated in CUDAKernelSources' order, the
# same options, --arch: sm_90a by default, as the binary compiles on an H100/H200), and prints for the named kernels the registers, spills and shared memory
# (ptxas) and the SASS instruction counts (nvdisasm). With --cache DIR it also writes the cubin
# under the name the binary's cache looks up (`GR_CUDA_CACHE`, NVRTCCompiler.swift), so a device
# call that carries DIR skips NVRTC for this source.
#
#   python3 -m venv /tmp/cudatools
#   /tmp/cudatools/bin/pip install nvidia-cuda-nvrtc==13.0.88 nvidia-cuda-nvdisasm
#   /tmp/cudatools/bin/python scripts/nvrtc-offline.py [--override FILE.cu]... [--cache DIR] [KERNEL]...
#
# --override FILE.cu replaces the kernel file of the same name (as GR_CUDA_KERNEL_DIR does).
import argparse, ctypes, glob, os, re, subprocess, sys, collections

ORDER = ["Common", "Elementwise", "Norm", "Embedding", "Loss", "Optimizer", "Retrieval", "Attention", "AttentionMMA",
         "AttentionTiled", "SoftmaxAttentionMMA", "AttentionWGMMA"]   # CUDAKernelSources.files
OPTIONS = ["--std=c++17", "-default-device"]   # NVRTCCompiler.compile (after --gpu-architecture)

ap = argparse.ArgumentParser()
ap.add_argument("--override", action="append", default=[])
ap.add_argument("--cache")
ap.add_argument("--arch", default="sm_90a", help="CUDAContext.compileArch of the device (sm_90a on an H100/H200)")
ap.add_argument("--version", default="13.0", help="the device's NVRTC major.minor (the cache key)")
ap.add_argument("kernels", nargs="*", default=["gr_hstu_tc_fwd_d128", "gr_hstu_tc_bwd_d128", "gr_hstu_tc_bwd_dq_d128"])
args = ap.parse_args()
OPTIONS = ["--gpu-architecture=" + args.arch] + OPTIONS

site = glob.glob(os.path.join(os.path.dirname(sys.executable), "..", "lib", "python3*", "site-packages", "nvidia", "cu13"))
if not site:
    sys.exit("nvrtc-offline: no nvidia/cu13 in this Python's site-packages (see the header for the install)")
lib = os.path.join(site[0], "lib")
os.environ["LD_LIBRARY_PATH"] = lib   # for the builtins library NVRTC opens
ctypes.CDLL(os.path.join(lib, "libnvrtc-builtins.so.13.0"), mode=ctypes.RTLD_GLOBAL)
nvrtc = ctypes.CDLL(os.path.join(lib, "libnvrtc.so.13"))

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
overrides = {os.path.basename(p): p for p in args.override}
parts = []
for n in ORDER:
    name = n + ".cu"
    path = overrides.get(name, os.path.join(root, "Sources", "GRCUDA", "Kernels", name))
    parts.append(f"// ---- {name}\n" + open(path, encoding="utf-8").read())
source = "\n".join(parts).encode()

prog = ctypes.c_void_p()
if nvrtc.nvrtcCreateProgram(ctypes.byref(prog), source, b"gr_kernels.cu", 0, None, None) != 0:
    sys.exit("nvrtcCreateProgram failed")
opts = [o.encode() for o in OPTIONS + ["--ptxas-options=-v"]]
r = nvrtc.nvrtcCompileProgram(prog, len(opts), (ctypes.c_char_p * len(opts))(*opts))
size = ctypes.c_size_t()
nvrtc.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
log = ctypes.create_string_buffer(size.value)
nvrtc.nvrtcGetProgramLog(prog, log)
text = log.value.decode(errors="replace")
if r != 0:
    print(text)
    sys.exit(f"nvrtcCompileProgram failed ({r})")
current = None
for line in text.splitlines():
    m = re.search(r"Compiling entry function '(\w+)'", line)
    if m:
        current = m.group(1)
    elif "wgmma" in line.lower() or (current in args.kernels and ("registers" in line or "spill" in line)):
        print(current, line.split("info    : ")[-1].strip())
nvrtc.nvrtcGetCUBINSize(prog, ctypes.byref(size))
cubin = ctypes.create_string_buffer(size.value)
nvrtc.nvrtcGetCUBIN(prog, cubin)

tmp = "/tmp/nvrtc-offline.cubin"
open(tmp, "wb").write(cubin.raw)
sass = subprocess.run([os.path.join(site[0], "bin", "nvdisasm"), "-c", tmp], capture_output=True, text=True).stdout
counts, fn = collections.defaultdict(collections.Counter), None
for line in sass.splitlines():
    m = re.match(r"\s*\.text\.(\w+):", line)
    if m:
        fn = m.group(1)
        continue
    m = re.search(r"/\*[0-9a-f]{4,}\*/\s+(@!?U?P\w+\s+)?([A-Z][A-Z0-9_.]+)", line)
    if m and fn in args.kernels:
        counts[fn][m.group(2).split(".")[0]] += 1
for k in args.kernels:
    c = counts[k]
    print(k, "SASS", sum(c.values()), " ".join(f"{op}:{n}" for op, n in c.most_common(16)))

if args.cache:
    # the binary's key: FNV-1a 64 of source, options, arch and NVRTC version joined by NUL
    h = 0xcbf29ce484222325
    for b in b"\0".join([source, " ".join(OPTIONS).encode(), args.arch.encode(), args.version.encode()]):
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    os.makedirs(args.cache, exist_ok=True)
    path = os.path.join(args.cache, "%016x.cubin" % h)
    open(path, "wb").write(cubin.raw)
    print("cache:", path)
