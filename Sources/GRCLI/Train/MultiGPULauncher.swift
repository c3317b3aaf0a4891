import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRCore
import GRCUDA
import GRTrain

/// `--gpus N [--nodes M --node-rank R --master-addr HOST --master-port P]` of `gr train` and
/// `gr bench multi-gpu`: one process per GPU, data parallel over NCCL.
///
/// The command started by the user is the launcher: it starts N copies of itself with the same
/// arguments plus `--local-rank i`, each seeing one GPU (`CUDA_VISIBLE_DEVICES` = the i-th of
/// `--gpu-ids`, default 0..<N, indexing the launcher's own `CUDA_VISIBLE_DEVICES` when set), with
/// `NCCL_NVLS_ENABLE=0` (and the PyTorch / NVSHMEM multicast switches) in their environment. Their
/// output lines are printed prefixed by `[rank r]`; when one exits with an error the launcher
/// terminates the others and exits non-zero. Rank = node-rank · N + local rank; world = M · N.
/// On several hosts, run the same command on each host with its `--node-rank` and the first
/// host's address as `--master-addr`.
public struct DistributedOptions: ParsableArguments {
    @Option(help: "Data-parallel training on this many GPUs of this host (one process each, NCCL).")
    var gpus: Int?

    @Option(help: "Hosts taking part (each runs the same command with its --node-rank).")
    var nodes = 1

    @Option(help: "This host's index, 0..<nodes (rank = node-rank · gpus + local rank).")
    var nodeRank = 0

    @Option(help: "Address of the host of rank 0, where the NCCL id is published (TCP).")
    var masterAddr = "127.0.0.1"

    @Option(help: "TCP port of the rendezvous on --master-addr.")
    var masterPort = Rendezvous.defaultPort

    @Option(help: "Comma-separated GPU ordinals for the local ranks (default 0..<gpus). Repeating one is refused by NCCL.")
    var gpuIds: String?

    @Option(help: "Seconds to wait for all ranks at the rendezvous.")
    var rendezvousTimeout: Double = Rendezvous.defaultTimeout

    @Option(help: "All-reduce bucket size in MiB.")
    var bucketMib: Int = DataParallel.defaultBucketBytes >> 20

    @Flag(inversion: .prefixedNo,
          help: "Start each gradient bucket's all-reduce during the backward, on a communication stream (default: off, measured slower on H200s; GR_NCCL_OVERLAP=1 turns it on).")
    var overlap: Bool = DataParallel.overlapByDefault

    @Option(help: ArgumentHelp("Set by the launcher in its child processes.", visibility: .hidden))
    var localRank: Int?

    public init() {}

    /// The launcher role: --gpus given and this is not one of its children.
    var isLauncher: Bool { gpus != nil && localRank == nil }
    var worldSize: Int { nodes * (gpus ?? 1) }
    var rank: Int { nodeRank * (gpus ?? 1) + (localRank ?? 0) }

    func validate(requireGPUs: Bool = false) throws {
        if requireGPUs && gpus == nil { throw ValidationError("--gpus N is required") }
        if let g = gpus, g < 1 { throw ValidationError("--gpus must be at least 1") }
        guard nodes >= 1, (0..<nodes).contains(nodeRank) else {
            throw ValidationError("--node-rank \(nodeRank) must be in 0..<--nodes (\(nodes))")
        }
        if gpus == nil && (nodes > 1 || gpuIds != nil) { throw ValidationError("--nodes / --gpu-ids need --gpus") }
        if let ids = try deviceIds(), ids.count != gpus { throw ValidationError("--gpu-ids lists \(ids.count) GPUs, --gpus is \(gpus!)") }
        guard bucketMib > 0 else { throw ValidationError("--bucket-mib must be positive") }
    }

    func deviceIds() throws -> [Int]? {
        guard let s = gpuIds else { return nil }
        return try s.split(separator: ",").map {
            guard let v = Int($0.trimmingCharacters(in: .whitespaces)), v >= 0 else {
                throw ValidationError("--gpu-ids: '\($0)' is not a GPU ordinal")
            }
            return v
        }
    }

    /// In a child: the NCCL communicator of this rank (rank 0 makes the id and publishes it over
    /// TCP while joining), wrapped for the trainer.
    func joinProcessGroup(backend: any Backend, log: (String) -> Void) throws -> DataParallel {
        guard let cuda = backend as? CUDABackend else {
            throw CLIFailure("--gpus needs the CUDA backend (got \(backend.name)); use --device cuda")
        }
        let world = worldSize, rank = rank
        let id: [UInt8]
        let server = RendezvousServer()
        if rank == 0 {
            id = try NCCLCommunicator.makeUniqueId()
            server.start(payload: id, worldSize: world, host: masterAddr, port: masterPort, timeout: rendezvousTimeout)
        } else {
            id = try Rendezvous.fetch(payloadBytes: NCCLCommunicator.uniqueIdBytes, worldSize: world, host: masterAddr, port: masterPort,
                                      timeout: rendezvousTimeout)
        }
        let comm = try NCCLCommunicator(backend: cuda, rank: rank, worldSize: world, uniqueId: id, overlap: overlap)
        try server.wait()
        if rank == 0 {
            log("NCCL \(comm.version) from \(comm.libraryPath): \(world) ranks, NCCL_NVLS_ENABLE=0, \(bucketMib) MiB buckets, "
                + (overlap ? "overlapped with the backward (\(comm.streamDescription))" : "after the backward (no overlap)"))
        }
        return DataParallel(reducer: comm, bucketBytes: bucketMib << 20, overlap: overlap)
    }
}

extension NCCLCommunicator: GradientReducer {
    public func finish() throws { try synchronize() }
}

/// Rank 0's rendezvous served on a background thread while it joins the communicator.
final class RendezvousServer: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: Error?
    private var started = false

    func start(payload: [UInt8], worldSize: Int, host: String, port: Int, timeout: Double) {
        started = true
        Thread.detachNewThread { [self] in
            do { try Rendezvous.serve(payload: payload, worldSize: worldSize, host: host, port: port, timeout: timeout) }
            catch { self.error = error }
            done.signal()
        }
    }

    func wait() throws {
        guard started else { return }
        done.wait()
        if let error { throw error }
    }
}

/// Starts and supervises the per-GPU child processes.
enum MultiGPULauncher {
    /// Runs `arguments` (this program's, without argv[0]) + `--local-rank i` for each local GPU;
    /// returns the exit status (0 when every child succeeded). `extraEnvironment` is added to each.
    static func run(_ opts: DistributedOptions, arguments: [String], extraEnvironment: [String: String] = [:],
                    label: String = "rank") throws -> Int32 {
        let n = opts.gpus ?? 1
        let ids = try opts.deviceIds() ?? Array(0..<n)
        var env = ProcessInfo.processInfo.environment
        // NVLink multicast stays off (KINDS.md: it can put a shared host's GPUs out of service).
        env["NCCL_NVLS_ENABLE"] = "0"
        env["TORCH_SYMM_MEM_DISABLE_MULTICAST"] = "1"
        env["NVSHMEM_DISABLE_NVLS"] = "1"
        for (k, v) in extraEnvironment { env[k] = v }
        let visible = env["CUDA_VISIBLE_DEVICES"].map { $0.split(separator: ",").map(String.init) }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let out = LinePrinter()
        var children: [Process] = []
        let finished = DispatchSemaphore(value: 0)
        for i in 0..<n {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: FileManager.default.fileExists(atPath: exe) ? exe : CommandLine.arguments[0])
            p.arguments = arguments + ["--local-rank", "\(i)"]
            var e = env
            if let visible {
                guard ids[i] < visible.count else {
                    throw CLIFailure("--gpu-ids: GPU \(ids[i]) is not among CUDA_VISIBLE_DEVICES=\(visible.joined(separator: ","))")
                }
                e["CUDA_VISIBLE_DEVICES"] = visible[ids[i]]
            } else {
                e["CUDA_VISIBLE_DEVICES"] = "\(ids[i])"
            }
            p.environment = e
            let rank = opts.nodeRank * n + i
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = pipe
            out.follow(pipe.fileHandleForReading, prefix: "[\(label) \(rank)] ")
            p.terminationHandler = { _ in finished.signal() }
            try p.run()
            children.append(p)
        }
        print("launched \(n) processes (ranks \(opts.nodeRank * n)..<\(opts.nodeRank * n + n) of \(opts.worldSize)), "
              + "GPUs \(ids.map(String.init).joined(separator: ",")), rendezvous \(opts.masterAddr):\(opts.masterPort)")
        var status: Int32 = 0
        for _ in 0..<n {
            finished.wait()
            if status == 0, let failed = children.first(where: { !$0.isRunning && $0.terminationStatus != 0 }) {
                status = failed.terminationStatus
                let r = opts.nodeRank * n + children.firstIndex(of: failed)!
                out.line("launcher: \(label) \(r) exited with status \(status); stopping the others")
                for c in children where c.isRunning { kill(c.processIdentifier, SIGTERM) }
                let all = children
                DispatchQueue.global().asyncAfter(deadline: .now() + 10) {
                    for c in all where c.isRunning { kill(c.processIdentifier, SIGKILL) }
                }
            }
        }
        out.drain()
        if status == 0, let bad = children.first(where: { $0.terminationStatus != 0 }) { status = bad.terminationStatus }
        return status
    }
}

/// Copies child output to stdout line by line, each line prefixed, lines never interleaved.
final class LinePrinter: @unchecked Sendable {
    private let lock = NSLock()
    private let group = DispatchGroup()

    func line(_ s: String) {
        lock.lock()
        FileHandle.standardOutput.write(Data((s + "\n").utf8))
        lock.unlock()
    }

    func follow(_ handle: FileHandle, prefix: String) {
        group.enter()
        Thread.detachNewThread { [self] in
            var pending = Data()
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending.append(chunk)
                while let nl = pending.firstIndex(where: { $0 == 0x0A || $0 == 0x0D }) {
                    let text = String(decoding: pending[pending.startIndex..<nl], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...nl)
                    if !text.isEmpty { line(prefix + text) }
                }
            }
            if !pending.isEmpty { line(prefix + String(decoding: pending, as: UTF8.self)) }
            group.leave()
        }
    }

    /// Waits until every followed pipe reached its end.
    func drain() { group.wait() }
}
