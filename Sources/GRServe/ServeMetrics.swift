import Foundation

/// The service's metrics, rendered by `GET /metrics` in the Prometheus text exposition format
/// (version 0.0.4). All names start with `gr_serve_`:
///
/// | metric | type | labels |
/// |---|---|---|
/// | `gr_serve_requests_total` | counter | route, status |
/// | `gr_serve_errors_total` | counter | route, status (every answer ≥ 400) |
/// | `gr_serve_request_duration_seconds` | histogram | route |
/// | `gr_serve_batch_size` | histogram | (requests per engine call) |
/// | `gr_serve_engine_calls_total` | counter | |
/// | `gr_serve_queue_wait_seconds` | histogram | (a request's time in the queue, until its batch starts) |
/// | `gr_serve_engine_call_seconds` | histogram | (one batch's engine time: forward, top-K, answers) |
/// | `gr_serve_queue_depth` | gauge | (requests waiting for the worker) |
/// | `gr_serve_queue_rejections_total` | counter | (503s of a full queue) |
/// | `gr_serve_reloads_total` | counter | result = ok / error |
/// | `gr_serve_model_info` | gauge (1) | model |
///
/// `route` is one of the API's routes or "other" (so that scanning unknown paths cannot grow the
/// label set without bound).
public final class ServeMetrics: @unchecked Sendable {
    /// Request latency buckets, seconds: the targets (5 ms p50, 50 ms p99) fall on bounds.
    public static let latencyBuckets: [Double] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10]
    /// Queue wait and engine call buckets, seconds: finer than `latencyBuckets` around a batch's
    /// duration under load (≈ 10–40 ms), where a closed loop's tail forms.
    public static let stageBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 1]
    /// Batch size buckets: powers of two.
    public static let batchBuckets: [Double] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]

    public let engineCalls = Counter()
    public let queueRejections = Counter()
    private let lock = NSLock()
    private var requests: [RouteStatus: Int] = [:]
    private var latency: [String: Histogram] = [:]
    private var batchSizes = Histogram(bounds: ServeMetrics.batchBuckets)
    private var queueWaits = Histogram(bounds: ServeMetrics.stageBuckets)
    private var engineSeconds = Histogram(bounds: ServeMetrics.stageBuckets)
    private var reloads: [String: Int] = [:]
    let routes: Set<String>

    public init(routes: Set<String>) {
        self.routes = routes
    }

    struct RouteStatus: Hashable, Comparable {
        var route: String
        var status: Int
        static func < (a: Self, b: Self) -> Bool { (a.route, a.status) < (b.route, b.status) }
    }

    /// A monotonically increasing count.
    public final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var count = 0
        public func increment() { lock.withLock { count += 1 } }
        public var value: Int { lock.withLock { count } }
    }

    /// Cumulative-bucket histogram (upper bounds; +Inf implied).
    struct Histogram {
        let bounds: [Double]
        var counts: [Int]
        var sum = 0.0
        var count = 0
        init(bounds: [Double]) {
            self.bounds = bounds
            counts = Array(repeating: 0, count: bounds.count)
        }
        mutating func observe(_ v: Double) {
            if let i = bounds.firstIndex(where: { v <= $0 }) { counts[i] += 1 }
            sum += v
            count += 1
        }
    }

    func routeLabel(_ path: String) -> String { routes.contains(path) ? path : "other" }

    public func observeRequest(path: String, status: Int, seconds: Double) {
        let route = routeLabel(path)
        lock.withLock {
            requests[RouteStatus(route: route, status: status), default: 0] += 1
            latency[route, default: Histogram(bounds: Self.latencyBuckets)].observe(seconds)
        }
    }

    public func observeBatch(size: Int) { lock.withLock { batchSizes.observe(Double(size)) } }

    /// The queue waits of one batch's requests, seconds.
    public func observeQueueWaits(_ seconds: [Double]) { lock.withLock { for s in seconds { queueWaits.observe(s) } } }

    /// One batch's engine time, seconds.
    public func observeEngineCall(seconds: Double) { lock.withLock { engineSeconds.observe(seconds) } }

    public func observeReload(ok: Bool) { lock.withLock { reloads[ok ? "ok" : "error", default: 0] += 1 } }

    /// The number of requests answered so far with `status` on `route` (tests, /healthz).
    public func requestCount(route: String, status: Int) -> Int {
        lock.withLock { requests[RouteStatus(route: route, status: status)] ?? 0 }
    }

    /// The exposition text.
    public func render(queueDepth: Int, model: String) -> String {
        lock.lock()
        let requests = self.requests, latency = self.latency, batchSizes = self.batchSizes, reloads = self.reloads
        let queueWaits = self.queueWaits, engineSeconds = self.engineSeconds
        lock.unlock()
        var out = ""
        func header(_ name: String, _ type: String, _ help: String) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
        }
        header("gr_serve_requests_total", "counter", "HTTP requests answered, by route and status.")
        for (k, n) in requests.sorted(by: { $0.key < $1.key }) {
            out += "gr_serve_requests_total{route=\"\(k.route)\",status=\"\(k.status)\"} \(n)\n"
        }
        header("gr_serve_errors_total", "counter", "Requests answered with a status of 400 or more, by route and status.")
        for (k, n) in requests.sorted(by: { $0.key < $1.key }) where k.status >= 400 {
            out += "gr_serve_errors_total{route=\"\(k.route)\",status=\"\(k.status)\"} \(n)\n"
        }
        header("gr_serve_request_duration_seconds", "histogram", "Time from routing a request to its response, by route.")
        for (route, h) in latency.sorted(by: { $0.key < $1.key }) {
            out += Self.renderHistogram("gr_serve_request_duration_seconds", h, labels: "route=\"\(route)\",")
        }
        header("gr_serve_batch_size", "histogram", "Requests per engine call.")
        out += Self.renderHistogram("gr_serve_batch_size", batchSizes, labels: "")
        header("gr_serve_engine_calls_total", "counter", "Engine calls (batched forwards).")
        out += "gr_serve_engine_calls_total \(engineCalls.value)\n"
        header("gr_serve_queue_wait_seconds", "histogram", "Time a request waited in the queue until its batch started.")
        out += Self.renderHistogram("gr_serve_queue_wait_seconds", queueWaits, labels: "")
        header("gr_serve_engine_call_seconds", "histogram", "Engine time of one batch (forward, top-K, answers).")
        out += Self.renderHistogram("gr_serve_engine_call_seconds", engineSeconds, labels: "")
        header("gr_serve_queue_depth", "gauge", "Requests waiting for the batcher.")
        out += "gr_serve_queue_depth \(queueDepth)\n"
        header("gr_serve_queue_rejections_total", "counter", "Requests refused with 503 because the queue was full.")
        out += "gr_serve_queue_rejections_total \(queueRejections.value)\n"
        header("gr_serve_reloads_total", "counter", "Model reloads, by result.")
        for result in ["ok", "error"] {
            out += "gr_serve_reloads_total{result=\"\(result)\"} \(reloads[result] ?? 0)\n"
        }
        header("gr_serve_model_info", "gauge", "The model serving new requests.")
        out += "gr_serve_model_info{model=\"\(Self.escape(model))\"} 1\n"
        return out
    }

    private static func renderHistogram(_ name: String, _ h: Histogram, labels: String) -> String {
        var out = ""
        var cumulative = 0
        for (i, b) in h.bounds.enumerated() {
            cumulative += h.counts[i]
            out += "\(name)_bucket{\(labels)le=\"\(format(b))\"} \(cumulative)\n"
        }
        out += "\(name)_bucket{\(labels)le=\"+Inf\"} \(h.count)\n"
        let plain = labels.isEmpty ? "" : "{\(labels.dropLast())}"
        out += "\(name)_sum\(plain) \(format(h.sum))\n\(name)_count\(plain) \(h.count)\n"
        return out
    }

    static func format(_ v: Double) -> String {
        v == v.rounded() && abs(v) < 1e15 ? String(Int64(v)) : "\(v)"
    }

    /// Label values escape backslash, double quote and newline.
    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\n", with: "\\n")
    }
}
