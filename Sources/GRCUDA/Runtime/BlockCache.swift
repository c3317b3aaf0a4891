/// The caching allocator's bookkeeping, without driver calls (`CUDAContext` makes those under its
/// lock): per-size free lists shared by all eager work, and the blocks owned by CUDA graphs.
///
/// A graph replays fixed addresses, so every block it may touch must stay out of the shared pool
/// while it lives: a block handed out or freed while graph `g` is being captured joins `g`
/// (`owner`); freed blocks of a graph go to that graph's own free lists, which only its own capture
/// draws from (reusing them within one capture is safe: the captured stream's nodes form one chain
/// in submission order). When the graph is dropped, its free blocks return to the shared pool and
/// its blocks still held by tensors leave its ownership (freed later, they go to the pool).
/// Blocks made before the capture and still held (parameters, gradients, AdamW moments) are the
/// caller's: they must outlive the graph.
struct BlockCache {
    typealias Address = UInt64
    private(set) var shared: [Int: [Address]] = [:]
    private var graphFree: [Int: [Int: [Address]]] = [:]   // graph → size → free blocks
    private var owner: [Address: (graph: Int, size: Int)] = [:]
    /// The graph whose capture is in progress.
    private(set) var capturing: Int? = nil

    /// A cached block of exactly `size` bytes: from the capturing graph's own free list first, then
    /// from the shared pool; nil when the driver must allocate one (report it with `handedOut`).
    mutating func take(_ size: Int) -> Address? {
        if let g = capturing, let p = graphFree[g]?[size]?.popLast() { return p }
        guard let p = shared[size]?.popLast() else { return nil }
        handedOut(p, size: size)
        return p
    }

    /// Records a block given to a tensor (fresh from the driver, or taken from the pool).
    mutating func handedOut(_ p: Address, size: Int) {
        if let g = capturing, owner[p] == nil { owner[p] = (g, size) }
    }

    /// A tensor let go of block `p`.
    mutating func release(_ p: Address, size: Int) {
        if owner[p] == nil, let g = capturing { owner[p] = (g, size) }
        if let o = owner[p] {
            graphFree[o.graph, default: [:]][size, default: []].append(p)
        } else {
            shared[size, default: []].append(p)
        }
    }

    mutating func beginCapture(_ graph: Int) {
        precondition(capturing == nil, "CUDA graphs: capture of graph \(graph) inside the capture of graph \(capturing!)")
        capturing = graph
    }

    mutating func endCapture() { capturing = nil }

    /// The graph is gone (or its capture failed): its free blocks return to the pool.
    mutating func drop(_ graph: Int) {
        if capturing == graph { capturing = nil }
        for (size, list) in graphFree.removeValue(forKey: graph) ?? [:] { shared[size, default: []].append(contentsOf: list) }
        owner = owner.filter { $0.value.graph != graph }
    }

    /// Empties the shared pool (its blocks are returned to the driver by the caller).
    mutating func takeShared() -> [Int: [Address]] {
        defer { shared = [:] }
        return shared
    }

    /// Blocks owned by graph `g` (free or held).
    func ownedCount(_ g: Int) -> Int { owner.values.filter { $0.graph == g }.count }
}
