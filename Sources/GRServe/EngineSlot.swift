import Foundation
import GRInference

/// The engine currently serving, swappable while requests run. A batch reads `current` once when it
/// starts and keeps that reference to its end, so a swap never disturbs a running batch: the old
/// engine finishes the batches it has and is released after the last of them.
public final class EngineSlot: @unchecked Sendable {
    private let lock = NSLock()
    private var engine: any RecommendationEngine
    /// The checkpoint path `engine` was loaded from (what SIGHUP reloads).
    private var source: String
    /// Serialises reloads: two concurrent reloads would otherwise both load and race to swap.
    private let reloadLock = NSLock()
    /// Builds an engine from a checkpoint path (`Recommender.load` in `gr serve`, a double in tests).
    public let loader: @Sendable (String) throws -> any RecommendationEngine

    public init(engine: any RecommendationEngine, source: String,
                loader: @escaping @Sendable (String) throws -> any RecommendationEngine) {
        self.engine = engine
        self.source = source
        self.loader = loader
    }

    public var current: any RecommendationEngine { lock.withLock { engine } }
    public var checkpoint: String { lock.withLock { source } }

    /// Loads `checkpoint` (nil: the current one again, e.g. after the file was replaced) and swaps
    /// it in; returns the previous and the new model id. On a load error nothing changes. Blocking:
    /// call it off the cooperative pool (`reloadInBackground`).
    public func reload(checkpoint: String?) throws -> (previous: String, model: String) {
        reloadLock.lock()
        defer { reloadLock.unlock() }
        let path = checkpoint ?? self.checkpoint
        let fresh = try loader(path)
        return lock.withLock {
            let previous = engine.modelID
            engine = fresh
            source = path
            return (previous, fresh.modelID)
        }
    }

    /// `reload` on its own thread, awaited: loading reads and checks a whole checkpoint.
    public func reloadInBackground(checkpoint: String?) async throws -> (previous: String, model: String) {
        try await withCheckedThrowingContinuation { c in
            let t = Thread { [self] in
                c.resume(with: Result { try reload(checkpoint: checkpoint) })
            }
            t.name = "gr-serve-reload"
            t.stackSize = 8 << 20
            t.start()
        }
    }
}
