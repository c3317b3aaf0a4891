import Foundation
import Hummingbird

/// Every answer that is not a 2xx: an HTTP status and the JSON body `{"error": reason, "field": f}`
/// (`field` omitted when no single field is at fault, e.g. a full queue). Thrown by the handlers;
/// Hummingbird turns it into the response through `HTTPResponseError`.
public struct APIError: HTTPResponseError, CustomStringConvertible, Equatable {
    public let status: HTTPResponse.Status
    /// The offending JSON field as a path: "k", "history[3]", "timestamps", or "body" when the body
    /// itself is unreadable (not JSON, truncated, too large).
    public let field: String?
    public let reason: String

    public init(_ status: HTTPResponse.Status, field: String?, _ reason: String) {
        self.status = status
        self.field = field
        self.reason = reason
    }

    public var description: String { "\(status.code) \(field.map { "\($0): " } ?? "")\(reason)" }

    static func badRequest(_ field: String, _ reason: String) -> APIError { APIError(.badRequest, field: field, reason) }
    static func tooLarge(_ field: String, _ reason: String) -> APIError { APIError(.contentTooLarge, field: field, reason) }

    /// The wire form of an error.
    public struct Body: Codable, Equatable, Sendable {
        public var error: String
        public var field: String?
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        jsonResponse()
    }

    func jsonResponse() -> Response { GRServe.jsonResponse(Body(error: reason, field: field), status: status) }
}

/// A JSON response with an explicit length (encoding our own plain structs cannot fail except for
/// non-finite floats, which `ServeResponses` never holds: the engine's scores are checked first).
func jsonResponse(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? JSONEncoder().encode(value)) ?? Data(#"{"error":"response encoding failed"}"#.utf8)
    return Response(status: status,
                    headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(data.count)],
                    body: .init(byteBuffer: ByteBuffer(bytes: data)))
}
