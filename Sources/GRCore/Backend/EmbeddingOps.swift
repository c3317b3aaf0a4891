/// Embedding gather and scatter-add (the padding row 0 gets no gradient).
public protocol EmbeddingOps {
}
