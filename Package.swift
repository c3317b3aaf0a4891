// swift-tools-version:6.0
import PackageDescription

// SIMD code needs FMA: without a target CPU that has it, `addingProduct` becomes a libm call per
// lane. Haswell (AVX2 + FMA) is the floor the release binary requires on x86-64; arm64 always has FMA.
#if arch(x86_64)
let simdFlags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"])]
#else
let simdFlags: [SwiftSetting] = []
#endif
let common: [SwiftSetting] = simdFlags + [.swiftLanguageMode(.v5)]
// The AVX-512 copies of the GEMM, attention and retrieval tiles (GRCPUAVX512): compiled for
// Skylake-AVX512 in release builds and only called after a run-time CPU check (`_GRCPUShims`), so
// the binary still runs on an AVX2-only CPU. Always optimised (-O): at -Onone the module would emit
// its own copies of the standard library's SIMD helpers (`.|`, `.>`, ... are emitted into every
// client as shared symbols) and the linker may keep those for every module. Debug builds compile it
// for Haswell like the rest, so that no copy the linker keeps can hold an AVX-512 instruction (an
// illegal instruction in the portable paths of an AVX2-only CPU; seen in the debug tests on an AMD
// EPYC): the tests there check the same code paths, only without AVX-512 instructions.
#if arch(x86_64)
let avx512Flags: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "skylake-avx512", "-O"], .when(configuration: .release)),
                                   .unsafeFlags(["-target-cpu", "haswell", "-O"], .when(configuration: .debug)),
                                   .swiftLanguageMode(.v5)]
#else
let avx512Flags: [SwiftSetting] = [.swiftLanguageMode(.v5)]
#endif

let package = Package(
    name: "GenerativeRecommenders",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "gr", targets: ["gr"]),
        .library(name: "GRCore", targets: ["GRCore"]),
        .library(name: "GRCPU", targets: ["GRCPU"]),
        .library(name: "GRData", targets: ["GRData"]),
        .library(name: "GREval", targets: ["GREval"]),
        .library(name: "GRModels", targets: ["GRModels"]),
        .library(name: "GRTrain", targets: ["GRTrain"]),
        .library(name: "GRCUDA", targets: ["GRCUDA"]),
        .library(name: "GRInference", targets: ["GRInference"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        // Tensors, jagged layout, RNG, the Backend protocol, safetensors, threading.
        .target(name: "GRCore", swiftSettings: common),
        // The pure-Swift CPU backend: SIMD GEMM and every op with its backward.
        .target(name: "GRCPU", dependencies: ["GRCore", "GRCPUAVX512", "_GRCPUShims"], swiftSettings: common),
        // The GEMM micro-kernel compiled for AVX-512 (selected at run time by GRCPU).
        .target(name: "GRCPUAVX512", dependencies: ["_GRCPUShims"], swiftSettings: avx512Flags),
        // C shim: run-time CPU feature detection (`__builtin_cpu_supports`).
        .target(name: "_GRCPUShims"),
        // The CUDA backend: driver API, NVRTC and cuBLASLt loaded at run time with dlopen (no CUDA
        // headers or libraries at build time); kernel sources embedded in the binary.
        .target(name: "GRCUDA", dependencies: ["GRCore", "GRCPU", "_GRNCCLShim"],
                resources: [
                    .embedInCode("Kernels/Common.cu"), .embedInCode("Kernels/Elementwise.cu"),
                    .embedInCode("Kernels/Norm.cu"), .embedInCode("Kernels/Embedding.cu"),
                    .embedInCode("Kernels/Loss.cu"), .embedInCode("Kernels/Optimizer.cu"),
                    .embedInCode("Kernels/Retrieval.cu"), .embedInCode("Kernels/Attention.cu"),
                    .embedInCode("Kernels/AttentionMMA.cu"), .embedInCode("Kernels/AttentionTiled.cu"),
                    .embedInCode("Kernels/SoftmaxAttentionMMA.cu"), .embedInCode("Kernels/AttentionWGMMA.cu"),
                ],
                swiftSettings: common),
        // C shim: calls ncclCommInitRank, whose ncclUniqueId argument is a 128-byte struct by value.
        .target(name: "_GRNCCLShim"),
        // Dataset recipes, the binary sequence store, synthetic data, batches.
        .target(name: "GRData", dependencies: ["GRCore"], swiftSettings: common),
        // Full-corpus top-K and HR/NDCG/MRR.
        .target(name: "GREval", dependencies: ["GRCore", "GRCPU", "GRData"], swiftSettings: common),
        // HSTU and SASRec encoders, losses, the parameter arena.
        .target(name: "GRModels", dependencies: ["GRCore", "GRCPU", "GRData"], swiftSettings: common),
        // Configs, the training loop, checkpoints, logs.
        .target(name: "GRTrain", dependencies: ["GRCore", "GRCPU", "GRData", "GREval", "GRModels"],
                swiftSettings: common),
        // Serving-side inference: checkpoint loading, batched recommend, M-FALCON scoring, the
        // retrieval index and the per-user K/V cache (no networking).
        .target(name: "GRInference", dependencies: ["GRCore", "GRCPU", "GRData", "GREval", "GRModels", "GRTrain",
                                              "GRCPUAVX512", "_GRCPUShims"],
                swiftSettings: common),
        // The `gr` subcommands (kept in a library so tests can drive them).
        .target(name: "GRCLI", dependencies: [
            "GRCore", "GRCPU", "GRData", "GREval", "GRModels", "GRTrain", "GRCUDA", "GRInference", "GRServe",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: common),
        .executableTarget(name: "gr", dependencies: ["GRCLI"], swiftSettings: common),
        // The HTTP service (`gr serve`): routes, validation, the dynamic batcher, metrics, reload.
        .target(name: "GRServe", dependencies: [
            "GRCore", "GRInference", .product(name: "Hummingbird", package: "hummingbird"),
        ], swiftSettings: common),
        // Shared test helpers: fixture loading, approximate equality, gradient checks.
        .target(name: "GRTestSupport", dependencies: ["GRCore"], path: "Tests/GRTestSupport",
                swiftSettings: common),
        .testTarget(name: "GRCoreTests", dependencies: ["GRCore", "GRTestSupport"], swiftSettings: common),
        .testTarget(name: "GRCPUTests", dependencies: ["GRCore", "GRCPU", "GRTestSupport"], swiftSettings: common),
        .testTarget(name: "GRDataTests", dependencies: ["GRData", "GRCLI", "GRTestSupport"], swiftSettings: common),
        .testTarget(name: "GREvalTests", dependencies: ["GREval", "GRTestSupport"], swiftSettings: common),
        .testTarget(name: "GRModelsTests", dependencies: ["GRModels", "GRCPU", "GRTestSupport"], swiftSettings: common),
        .testTarget(name: "GRCUDATests", dependencies: ["GRCUDA", "GRCPU", "GRTestSupport"], swiftSettings: common),
        .testTarget(name: "GRInferenceTests", dependencies: ["GRInference", "GRCLI", "GRTestSupport"],
                    swiftSettings: common),
        .testTarget(name: "GRTrainTests", dependencies: ["GRTrain", "GRCLI", "GRTestSupport"], swiftSettings: common),
        .testTarget(name: "GRServeTests", dependencies: [
            "GRServe", "GRInference", "GRCLI", "GRTestSupport",
            .product(name: "HummingbirdTesting", package: "hummingbird"),
        ], swiftSettings: common),
    ]
)
