/// The kernel sources, embedded in the binary by SwiftPM (`resources: [.embedInCode(...)]`) and
/// concatenated in a fixed order (Common first) into one NVRTC module.
enum CUDAKernelSources {
    static let files: [(name: String, bytes: [UInt8])] = [
        ("Common.cu", PackageResources.Common_cu), ("Elementwise.cu", PackageResources.Elementwise_cu),
        ("Norm.cu", PackageResources.Norm_cu), ("Embedding.cu", PackageResources.Embedding_cu),
        ("Loss.cu", PackageResources.Loss_cu), ("Optimizer.cu", PackageResources.Optimizer_cu),
        ("Retrieval.cu", PackageResources.Retrieval_cu), ("Attention.cu", PackageResources.Attention_cu),
        ("AttentionMMA.cu", PackageResources.AttentionMMA_cu),
        ("AttentionTiled.cu", PackageResources.AttentionTiled_cu),
    ]

    static var all: String {
        files.map { "// ---- \($0.name)\n" + String(decoding: $0.bytes, as: UTF8.self) }.joined(separator: "\n")
    }
}
