# Generates kernels.cpp: the kernel sources (as the Swift side concatenates them) made host C++,
# plus one wrapper per kernel taking the cuLaunchKernel parameter array, and a name table.
import re, sys
src_dir, out = sys.argv[1], sys.argv[2]
order = ["Common", "Elementwise", "Norm", "Embedding", "Loss", "Optimizer", "Retrieval", "Attention", "AttentionMMA", "AttentionTiled", "SoftmaxAttentionMMA", "AttentionWGMMA"]
src = "\n".join(open(f"{src_dir}/{n}.cu").read() for n in order)
src = src.replace("extern __shared__ float smem[];", "float* smem = (float*)emu_dynamic_shared;")
kernels = []
for m in re.finditer(r'extern "C" __global__ (?:__launch_bounds__\([^)]*\) )?void (\w+)\(([^)]*)\)', src):
    params = [p.strip() for p in m.group(2).replace("\n", " ").split(",")]
    types = [re.sub(r'\s*\b\w+$', '', p).strip() for p in params]
    kernels.append((m.group(1), types))
with open(out, "w") as f:
    f.write('#include "emu_cuda.h"\n' + src + "\n")
    for name, types in kernels:
        args = ", ".join(f"*({t}*)p[{i}]" for i, t in enumerate(types))
        f.write(f'static void emu_{name}(void** p) {{ {name}({args}); }}\n')
    f.write("struct EmuKernel { const char* name; void (*fn)(void**); int params; };\n")
    f.write("extern const EmuKernel emu_kernels[] = {\n")
    for name, types in kernels: f.write(f'  {{"{name}", emu_{name}, {len(types)}}},\n')
    f.write("  {nullptr, nullptr, 0}};\n")
