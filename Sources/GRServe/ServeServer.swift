import Foundation
import GRInference
import Hummingbird

/// The API's routes (openapi.yaml documents each).
public enum ServeRoute {
    public static let recommend = "/v1/recommend"
    public static let score = "/v1/score"
    public static let healthz = "/healthz"
    public static let metrics = "/metrics"
    public static let reload = "/admin/reload"
    public static let all: Set<String> = [recommend, score, healthz, metrics, reload]
}

/// The HTTP service of `gr serve`: the engine slot, the batcher, the metrics and the router that
/// ties them together. Lifecycle: `start()` (the batcher's worker), then serve the application
/// (`makeApplication().runService()`, which drains open requests on SIGTERM/SIGINT), then
/// `shutdown()` (answers anything still queued and stops the worker); `run(...)` does all three.
public final class ServeServer: Sendable {
    public let slot: EngineSlot
    public let batcher: DynamicBatcher
    public let metrics: ServeMetrics
    public let limits: ServeLimits
    let validation: QueryValidation

    public init(engine: any RecommendationEngine, checkpoint: String, limits: ServeLimits = ServeLimits(),
                loader: @escaping @Sendable (String) throws -> any RecommendationEngine) {
        self.limits = limits
        slot = EngineSlot(engine: engine, source: checkpoint, loader: loader)
        metrics = ServeMetrics(routes: ServeRoute.all)
        batcher = DynamicBatcher(slot: slot, limits: limits, metrics: metrics)
        validation = QueryValidation(limits: limits)
    }

    public func start() { batcher.start() }
    public func shutdown() { batcher.shutdown() }

    /// The router with every route, behind the middleware that records metrics and renders every
    /// error as JSON.
    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        router.add(middleware: ServeMiddleware(metrics: metrics))
        router.post(RouterPath(ServeRoute.recommend)) { request, _ in try await self.recommend(request) }
        router.post(RouterPath(ServeRoute.score)) { request, _ in try await self.score(request) }
        router.get(RouterPath(ServeRoute.healthz)) { _, _ in
            let e = self.slot.current
            return jsonResponse(HealthAnswer(status: "ok", model: e.modelID, maxItemId: e.maxItemId, maxHistory: e.maxHistory,
                                             corpusSize: e.corpusSize, queueDepth: self.batcher.depth))
        }
        router.get(RouterPath(ServeRoute.metrics)) { _, _ in
            let text = self.metrics.render(queueDepth: self.batcher.depth, model: self.slot.current.modelID)
            return Response(status: .ok,
                            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8",
                                      .contentLength: String(text.utf8.count)],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
        router.post(RouterPath(ServeRoute.reload)) { request, _ in try await self.reload(request) }
        return router
    }

    /// The Hummingbird application on `host:port`; `onReady` gets the bound port once listening.
    public func makeApplication(host: String, port: Int,
                                onReady: @escaping @Sendable (Int?) -> Void = { _ in }) -> some ApplicationProtocol {
        Application(router: makeRouter(),
                    configuration: .init(address: .hostname(host, port: port), serverName: "gr-serve"),
                    onServerRunning: { channel in onReady(channel.localAddress?.port) })
    }

    /// Serves until SIGTERM/SIGINT, then drains: the listener closes, open requests (and so every
    /// queued batch) are answered, the worker stops. `onReady` runs once the port is bound.
    public func run(host: String, port: Int, onReady: @escaping @Sendable (Int?) -> Void = { _ in }) async throws {
        start()
        defer { shutdown() }
        try await makeApplication(host: host, port: port, onReady: onReady).runService()
    }

    // MARK: handlers

    /// The body, at most `limits.maxBodyBytes` (413 naming "body" beyond).
    func body(_ request: Request) async throws -> ByteBuffer {
        let max = limits.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > max {
            throw APIError.tooLarge("body", "\(declared) bytes, the limit is \(max)")
        }
        do {
            return try await request.body.collect(upTo: max)
        } catch where (error as? any HTTPResponseError)?.status == .contentTooLarge {
            throw APIError.tooLarge("body", "more than \(max) bytes")
        }
    }

    /// `T` from `buffer`: the hand-written fast path for the plain well-formed shape
    /// (`FastBodyDecoding`), else Foundation's decoder, which also words every 400.
    static func decode<T: Decodable>(_ type: T.Type, _ buffer: ByteBuffer,
                                     fast: (UnsafeRawBufferPointer) -> T?) throws -> T {
        if let value = buffer.withUnsafeReadableBytes(fast) { return value }
        return try RequestDecoding.decode(T.self, from: Data(buffer.readableBytesView))
    }

    func recommend(_ request: Request) async throws -> Response {
        let body = try Self.decode(RecommendBody.self, try await self.body(request), fast: FastBodyDecoding.recommend)
        let engine = slot.current
        let query = try validation.query(body, engine: engine)
        let (r, model) = try await batcher.recommend(query)
        try Self.checkFinite(r.scores)
        // The engine that answered may be a newer one than `engine` (a reload in between): titles
        // come from the current one, which at worst lacks a title and then omits the list.
        let titles = r.items.map { slot.current.title(of: $0) }
        let complete = !titles.isEmpty && titles.allSatisfy { $0 != nil }
        return ResponseEncoding.response(ResponseEncoding.recommend(
            RecommendAnswer(items: r.items, scores: r.scores, titles: complete ? titles.map { $0! } : nil, model: model)))
    }

    func score(_ request: Request) async throws -> Response {
        let body = try Self.decode(ScoreBody.self, try await self.body(request), fast: FastBodyDecoding.score)
        let query = try validation.query(body, engine: slot.current)
        let (scores, model) = try await batcher.score(query)
        guard scores.count == query.candidates.count else {
            throw APIError(.internalServerError, field: nil,
                           "the engine returned \(scores.count) scores for \(query.candidates.count) candidates")
        }
        try Self.checkFinite(scores)
        return ResponseEncoding.response(ResponseEncoding.score(ScoreAnswer(scores: scores, model: model)))
    }

    func reload(_ request: Request) async throws -> Response {
        let body = try RequestDecoding.decode(ReloadBody.self, from: Data(try await self.body(request).readableBytesView))
        do {
            let (previous, model) = try await slot.reloadInBackground(checkpoint: body.checkpoint)
            metrics.observeReload(ok: true)
            return jsonResponse(ReloadAnswer(previous: previous, model: model))
        } catch {
            metrics.observeReload(ok: false)
            throw APIError.badRequest("checkpoint", "could not load: \(error)")
        }
    }

    /// Reloads the current checkpoint path (SIGHUP), logging the outcome to standard error.
    public func reloadCurrent() async {
        do {
            let (previous, model) = try await slot.reloadInBackground(checkpoint: nil)
            metrics.observeReload(ok: true)
            FileHandle.standardError.write(Data("gr serve: reloaded \(previous) → \(model)\n".utf8))
        } catch {
            metrics.observeReload(ok: false)
            FileHandle.standardError.write(Data("gr serve: reload failed, still serving the old model: \(error)\n".utf8))
        }
    }

    static func checkFinite(_ scores: [Float]) throws {
        if let i = scores.firstIndex(where: { !$0.isFinite }) {
            throw APIError(.internalServerError, field: nil, "the engine produced a non-finite score (\(scores[i]))")
        }
    }
}

/// Records every answer in the metrics and renders errors as `{error, field}` JSON, including the
/// router's own (404 for an unknown path, 405 for a wrong method).
struct ServeMiddleware<Context: RequestContext>: RouterMiddleware {
    let metrics: ServeMetrics

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        let t0 = DispatchTime.now().uptimeNanoseconds
        let response: Response
        do {
            response = try await next(request, context)
        } catch let e as APIError {
            response = e.jsonResponse()
        } catch let e as any HTTPResponseError {
            response = APIError(e.status, field: nil, "\(e.status.reasonPhrase) (\(request.method) \(request.uri.path))")
                .jsonResponse()
        } catch {
            response = APIError(.internalServerError, field: nil, "\(error)").jsonResponse()
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9
        metrics.observeRequest(path: request.uri.path, status: response.status.code, seconds: seconds)
        return response
    }
}
