/// Top-K selection for full-corpus ranking.
public protocol RetrievalOps {
}
