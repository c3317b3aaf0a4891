import Foundation

/// The kernel sources, embedded in the binary by SwiftPM (`resources: [.embedInCode(...)]`) and
/// concatenated in a fixed order (Common first) into one NVRTC module.
///
/// `GR_CUDA_KERNEL_DIR` (for kernel work on a GPU machine without rebuilding the binary): a folder
/// whose files of the same names replace the embedded ones (missing files keep the embedded text).
/// The module is cached by the hash of the concatenated text, so edited sources recompile.
enum CUDAKernelSources {
    static let files: [(name: String, bytes: [UInt8])] = [
        ("Common.cu", PackageResources.Common_cu), ("Elementwise.cu", PackageResources.Elementwise_cu),
        ("Norm.cu", PackageResources.Norm_cu), ("Embedding.cu", PackageResources.Embedding_cu),
        ("Loss.cu", PackageResources.Loss_cu), ("Optimizer.cu", PackageResources.Optimizer_cu),
        ("Retrieval.cu", PackageResources.Retrieval_cu), ("Attention.cu", PackageResources.Attention_cu),
        ("AttentionMMA.cu", PackageResources.AttentionMMA_cu),
        ("AttentionTiled.cu", PackageResources.AttentionTiled_cu),
        ("SoftmaxAttentionMMA.cu", PackageResources.SoftmaxAttentionMMA_cu),
        ("AttentionWGMMA.cu", PackageResources.AttentionWGMMA_cu),
    ]

    static var all: String {
        let dir = ProcessInfo.processInfo.environment["GR_CUDA_KERNEL_DIR"]
        return files.map { file in
            let override = dir.flatMap { try? String(contentsOfFile: $0 + "/" + file.name, encoding: .utf8) }
            return "// ---- \(file.name)\n" + (override ?? String(decoding: file.bytes, as: UTF8.self))
        }.joined(separator: "\n")
    }
}
