import Foundation

/// A bounded least-recently-used map from a user key to that user's `KVState`, limited both by
/// entry count and by total bytes (`KVState.bytes`). Thread-safe (one lock).
///
/// `take` removes the entry (so the caller mutates the only copy, without copy-on-write of its
/// arrays) and `put` stores it back as the most recent; inserting evicts the least recently used
/// entries until both bounds hold. An entry larger than `maxBytes` alone is not stored.
public final class UserStateCache: @unchecked Sendable {
    /// Default byte bound: 1 GiB (HSTU-large with 200-event histories: ≈ 0.65 MB a user).
    public static let defaultMaxBytes = 1 << 30

    public let capacity: Int
    public let maxBytes: Int

    private final class Node {
        let key: String
        var state: KVState
        var bytes: Int
        var newer: Node?, older: Node?   // doubly linked, newest at `head`
        init(key: String, state: KVState) { self.key = key; self.state = state; bytes = state.bytes }
    }

    private let lock = NSLock()
    private var nodes: [String: Node] = [:]
    private var head: Node?, tail: Node?
    private(set) public var totalBytes = 0
    /// Counters since creation: lookups that found / missed an entry, entries evicted.
    private(set) public var hits = 0, misses = 0, evictions = 0

    public init(capacity: Int, maxBytes: Int = UserStateCache.defaultMaxBytes) {
        precondition(capacity >= 0 && maxBytes >= 0, "UserStateCache: negative bound")
        self.capacity = capacity
        self.maxBytes = maxBytes
    }

    public var count: Int { lock.lock(); defer { lock.unlock() }; return nodes.count }

    /// Removes and returns the state of `key` (nil when absent).
    public func take(_ key: String) -> KVState? {
        lock.lock(); defer { lock.unlock() }
        guard let node = nodes[key] else { misses += 1; return nil }
        hits += 1
        unlink(node)
        nodes[key] = nil
        totalBytes -= node.bytes
        return node.state
    }

    /// A copy of the state of `key` without changing the order (tests, diagnostics).
    public func peek(_ key: String) -> KVState? {
        lock.lock(); defer { lock.unlock() }
        return nodes[key]?.state
    }

    /// Stores `state` as the most recently used entry of `key` (replacing any), then evicts.
    public func put(_ key: String, _ state: KVState) {
        lock.lock(); defer { lock.unlock() }
        if let old = nodes[key] { unlink(old); nodes[key] = nil; totalBytes -= old.bytes }
        let node = Node(key: key, state: state)
        guard capacity > 0, node.bytes <= maxBytes else { return }
        nodes[key] = node
        totalBytes += node.bytes
        node.older = head
        head?.newer = node
        head = node
        if tail == nil { tail = node }
        while nodes.count > capacity || totalBytes > maxBytes, let victim = tail {
            unlink(victim)
            nodes[victim.key] = nil
            totalBytes -= victim.bytes
            evictions += 1
        }
    }

    public func removeAll() {
        lock.lock(); defer { lock.unlock() }
        nodes = [:]; head = nil; tail = nil; totalBytes = 0
    }

    private func unlink(_ node: Node) {
        if let newer = node.newer { newer.older = node.older } else { head = node.older }
        if let older = node.older { older.newer = node.newer } else { tail = node.newer }
        node.newer = nil; node.older = nil
    }
}
