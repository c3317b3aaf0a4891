/// Sampled softmax loss with uniform negatives (spec §4.2) and the BCE variant (§4.3).
public protocol LossOps {
}
