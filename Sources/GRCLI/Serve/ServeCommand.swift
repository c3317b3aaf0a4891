import ArgumentParser
import Dispatch
import Foundation
import GRCore
import GRCPU
import GRInference
import GRModels
import GRServe
import GRTrain

/// `gr serve`: the HTTP service (docs/serving.md, openapi.yaml). Runs until SIGTERM or SIGINT, then
/// drains (stops accepting, answers what is queued) and exits 0; SIGHUP reloads the checkpoint.
public struct ServeCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve top-K recommendations and candidate scores over HTTP (dynamic batching, metrics, reload).")

    @Option(name: .long, help: "A checkpoint written by `gr train`.")
    var checkpoint: String?

    @Option(name: .customLong("synthetic-items"),
            help: "Instead of a checkpoint: a randomly initialised model with this many items (load tests at scale).")
    var syntheticItems: Int?

    @Option(name: .customLong("synthetic-config"), help: "The model preset of --synthetic-items (a configs/*.yaml file).")
    var syntheticConfig: String?

    @Option(name: .long, help: "The `gr data prepare` store the model was trained on (titles, the ranking corpus).")
    var data: String?

    @Option(name: .long, help: "Address to bind (127.0.0.1: this machine only; 0.0.0.0: every interface).")
    var host = "127.0.0.1"

    @Option(name: .long, help: "TCP port (0: any free port, printed at start).")
    var port = 8080

    @Option(name: .customLong("max-batch"), help: "Most requests per engine call.")
    var maxBatch = 64

    @Option(name: .customLong("max-wait-ms"),
            help: "Optional extra wait for more requests after the first of a batch, ms (0: a batch starts as soon as the worker is free).")
    var maxWaitMs = 0.0

    @Option(name: .long, help: "Requests that may wait for the worker; beyond: 503.")
    var queue = 1024

    @Option(name: .customLong("max-body"), help: "Largest request body (bytes, or with K/KB/M/MB/G/GB; powers of 1024).")
    var maxBody = "1MB"

    @Option(name: .customLong("max-k"), help: "Largest k of /v1/recommend.")
    var maxK = 1000

    @Option(name: .customLong("max-array"), help: "Hard cap on history/timestamps/candidates lengths (beyond: 413).")
    var maxArray = 10_000

    @Option(name: .customLong("cache-capacity"), help: "Users in the engine's K/V cache.")
    var cacheCapacity = 10_000

    @Option(name: .long, help: "CPU threads of the engine.")
    var threads: Int?

    @Option(name: .customLong("engine-workers"),
            help: "Batcher workers (default: one per engine thread, each running its own batch on one thread); 1: one worker whose batch uses every engine thread.")
    var engineWorkers: Int?

    @Option(name: .customLong("engine-nice"),
            help: "Nice value (0...19) of the engine threads, so that HTTP work preempts a running forward (default 0: the same priority as HTTP).")
    var engineNice: Int?

    @Option(name: .long, help: "Arithmetic of the model's layer products: f32, bf16 (AVX-512 BF16; f32 on other CPUs) or int16 (AVX2; f32 on other CPUs).")
    var precision: InferencePrecision = .f32

    @Option(name: .customLong("retrieval-device"),
            help: "Where the top-K search runs: auto (default: cuda when it loads and the corpus has ≥ 100,000 items, else cpu), cpu, or cuda.")
    var retrievalDevice: RetrievalDeviceChoice = .auto

    public init() {}

    func limits() throws -> ServeLimits {
        var l = ServeLimits()
        l.maxBatch = maxBatch
        l.maxWait = maxWaitMs / 1000
        l.queueCapacity = queue
        guard let body = ServeLimits.parseByteSize(maxBody) else {
            throw ValidationError("--max-body: expected a size like 1048576, 512KB or 1MB, got \(maxBody)")
        }
        l.maxBodyBytes = body
        l.maxK = maxK
        l.maxArrayLength = maxArray
        do { try l.validate() } catch { throw ValidationError("\(error)") }
        return l
    }

    public func validate() throws {
        guard (checkpoint == nil) != (syntheticItems == nil) else {
            throw ValidationError("give either --checkpoint or --synthetic-items (with --synthetic-config)")
        }
        if let n = syntheticItems {
            guard n >= 1 && n < Int(Int32.max) else { throw ValidationError("--synthetic-items must be in 1...\(Int32.max - 1)") }
            guard syntheticConfig != nil else { throw ValidationError("--synthetic-items needs --synthetic-config") }
        }
    }

    /// A randomly initialised model of the preset at `config` over items 1...items (corpus = all of
    /// them), with id "synthetic-<items>@<preset name>": for load tests of corpus sizes no data
    /// set here has (the 1M-item case of docs/serving.md). Its answers are meaningless.
    static func syntheticEngine(items: Int, config: String?, retrieval: DeviceRetrieval?) throws -> any RecommendationEngine {
        let c = try ConfigFile.load(path: config!)
        let model = makeModel(c.modelConfig, maxItemId: items, corpus: (1...Int32(items)).map { $0 },
                              backend: CPUBackend(), seed: c.seed)
        return Recommender(model: model, modelID: "synthetic-\(items)@\(c.name)", deviceRetrieval: retrieval)
    }

    public func run() throws {
        var limits = try limits()
        if let threads {
            guard threads > 0 else { throw ValidationError("--threads must be positive") }
            Parallel.threads = threads
        }
        // Default: one single-threaded worker per engine thread (session 11: a lower p99 at 500
        // requests/s offered than one worker over both threads, the same closed-loop throughput).
        limits.engineWorkers = engineWorkers ?? min(max(Parallel.threads, 1), 256)
        limits.engineNice = engineNice ?? 0
        do { try limits.validate() } catch { throw ValidationError("\(error)") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be in 0...65535") }
        let (retrieval, retrievalMessage) = try retrievalDevice.make()
        let (data, cacheCapacity, precision) = (self.data, self.cacheCapacity, self.precision)
        let load: @Sendable (String) throws -> any RecommendationEngine = { path in
            try Recommender.load(checkpoint: path, dataDirectory: data, cacheCapacity: cacheCapacity, precision: precision,
                                 deviceRetrieval: retrieval)
        }
        let engine: any RecommendationEngine
        do {
            engine = try syntheticItems.map { try Self.syntheticEngine(items: $0, config: syntheticConfig, retrieval: retrieval) }
                ?? load(checkpoint!)
        } catch {
            throw CLIFailure("\(error)")
        }
        let retrievalUsed = (engine as? Recommender)?.retrievalDescription ?? "cpu"
        print("gr serve: \(retrievalMessage); top-K on \(retrievalUsed)")
        let server = ServeServer(engine: engine, checkpoint: checkpoint ?? "", limits: limits, loader: load)

        // SIGHUP: reload the checkpoint path (e.g. after a new epoch replaced latest.safetensors).
        signal(SIGHUP, SIG_IGN)
        let hangup = DispatchSource.makeSignalSource(signal: SIGHUP, queue: .global())
        hangup.setEventHandler { Task { await server.reloadCurrent() } }
        hangup.resume()
        defer { hangup.cancel() }

        let (host, port) = (self.host, self.port)
        let summary = "model \(engine.modelID) (max history \(engine.maxHistory), corpus \(engine.corpusSize)); "
            + "max batch \(limits.maxBatch), max wait \(maxWaitMs) ms, queue \(limits.queueCapacity), "
            + (limits.engineWorkers > 1 && engine.allowsConcurrentCalls
                ? "\(limits.engineWorkers) single-threaded engine workers"
                : "\(limits.engineWorkers) engine worker(s) over \(Parallel.threads) engine threads")
            + " at nice \(limits.engineNice)"
        let outcome = BlockingResult()
        Task.detached {
            do {
                try await server.run(host: host, port: port) { bound in
                    print("gr serve: listening on http://\(host):\(bound ?? port); \(summary)")
                    fflush(stdout)
                }
                outcome.finish(nil)
            } catch {
                outcome.finish(error)
            }
        }
        if let error = outcome.wait() { throw CLIFailure("serve: \(error)") }
        print("gr serve: drained, exiting")
    }
}

/// Bridges the async server to the synchronous command: the main thread waits here.
final class BlockingResult: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var error: (any Error)?
    func finish(_ e: (any Error)?) {
        error = e
        done.signal()
    }
    func wait() -> (any Error)? {
        done.wait()
        return error
    }
}
