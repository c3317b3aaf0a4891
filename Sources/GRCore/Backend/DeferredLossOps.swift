/// An optional capability of a device backend (not part of `Backend`): while `deferringLosses`
/// is true, `sampledSoftmaxLoss` and `bceLoss` leave their scalar on the device (appended to a
/// device list) and return 0 instead of waiting for the device; `takeDeferredLosses()` copies the
/// list back in one host wait and empties it. The training loop uses it so that the host queues
/// step after step without waiting for each one's loss (see `Trainer`, "Deferred losses").
/// Gradients are unaffected (they never depend on the returned scalar).
public protocol DeferredLossOps: AnyObject {
    var deferringLosses: Bool { get set }
    /// The losses computed while deferring since the last call, in call order.
    func takeDeferredLosses() -> [Float]
}
