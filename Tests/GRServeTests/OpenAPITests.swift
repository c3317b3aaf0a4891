import Foundation
@testable import GRServe
import HummingbirdTesting
import XCTest

/// openapi.yaml against the server: every documented route exists and no undocumented one; each
/// operation's example request gets the documented 200 with the documented required fields (and
/// nothing undocumented); an empty or incomplete body gets the documented 400 with an ErrorBody
/// naming the missing field; the request schemas list exactly the fields the server accepts.
final class OpenAPITests: XCTestCase {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    func loadDocument() throws -> MiniYAML {
        try MiniYAML.parse(String(contentsOf: Self.repoRoot.appendingPathComponent("openapi.yaml"), encoding: .utf8))
    }

    /// Follows `$ref: '#/components/…'`.
    func resolve(_ node: MiniYAML, in doc: MiniYAML) throws -> MiniYAML {
        guard let ref = node["$ref"]?.string else { return node }
        var n: MiniYAML? = doc
        for part in ref.dropFirst(2).split(separator: "/") { n = n?[String(part)] }
        return try XCTUnwrap(n, "dangling \(ref)")
    }

    /// The example as JSON: integers stay numbers, lists become arrays.
    func jsonValue(_ node: MiniYAML) -> Any {
        switch node {
        case .scalar(let s): return Int(s).map { $0 as Any } ?? s
        case .list(let l): return l.map(jsonValue)
        case .map(let m): return m.mapValues(jsonValue)
        }
    }

    func schemaFields(_ schema: MiniYAML) -> (required: Set<String>, all: Set<String>) {
        (Set((schema["required"]?.list ?? []).compactMap(\.string)), Set(schema["properties"]?.map?.keys ?? [:].keys))
    }

    func testDocumentParsesAndListsExactlyTheServersRoutes() throws {
        let doc = try loadDocument()
        XCTAssertEqual(doc["openapi"]?.string, "3.0.3")
        let paths = try XCTUnwrap(doc["paths"]?.map)
        XCTAssertEqual(Set(paths.keys), ServeRoute.all)
        // The request schemas accept exactly what the decoders accept.
        let schemas = try XCTUnwrap(doc["components"]?["schemas"])
        XCTAssertEqual(schemaFields(try XCTUnwrap(schemas["RecommendRequest"])).all, RecommendBody.keys)
        XCTAssertEqual(schemaFields(try XCTUnwrap(schemas["ScoreRequest"])).all, ScoreBody.keys)
        XCTAssertEqual(schemaFields(try XCTUnwrap(schemas["ReloadRequest"])).all, ["checkpoint"])
    }

    func testEveryOperationAnswersAsDocumented() async throws {
        let doc = try loadDocument()
        let paths = try XCTUnwrap(doc["paths"]?.map)
        try await withServer(loader: { _ in StubEngine(modelID: "reloaded@222222222222") }) { client, _ in
            for (path, item) in paths.sorted(by: { $0.key < $1.key }) {
                for (method, op) in try XCTUnwrap(item.map) {
                    let responses = try XCTUnwrap(op["responses"]?.map, "\(method) \(path)")
                    let ok = try self.resolve(try XCTUnwrap(responses["200"]), in: doc)
                    let content = try XCTUnwrap(ok["content"]?.map, "\(method) \(path)")
                    switch method {
                    case "get":
                        let r = try await client.get(path)
                        XCTAssertEqual(r.status, .ok, "\(path)")
                        try self.checkBody(r, content: content, doc: doc, what: "GET \(path)")
                    case "post":
                        let media = try XCTUnwrap(op["requestBody"]?["content"]?["application/json"])
                        let example = try XCTUnwrap(media["example"], "POST \(path) has no example")
                        let body = try XCTUnwrap(self.jsonValue(example) as? [String: Any])
                        let r = try await client.post(path, json(body))
                        XCTAssertEqual(r.status, .ok, "POST \(path): \(r.text)")
                        try self.checkBody(r, content: content, doc: doc, what: "POST \(path)")
                        // Invalid bodies: empty object, each required field left out, an unknown field.
                        let request = try self.resolve(try XCTUnwrap(media["schema"]), in: doc)
                        let badRequest = try self.resolve(try XCTUnwrap(responses["400"]), in: doc)
                        let errorContent = try XCTUnwrap(badRequest["content"]?.map)
                        var invalid: [(String, String?)] = [("{}", nil), (json(body.merging(["surprise": 1]) { a, _ in a }), "surprise")]
                        for field in self.schemaFields(request).required.sorted() {
                            invalid.append((json(body.filter { $0.key != field }), field))
                        }
                        for (text, field) in invalid {
                            let bad = try await client.post(path, text)
                            XCTAssertEqual(bad.status, .badRequest, "POST \(path) \(text): \(bad.text)")
                            try self.checkBody(bad, content: errorContent, doc: doc, what: "POST \(path) \(text)")
                            if let field { XCTAssertEqual(bad.apiError?.field, field, "POST \(path) \(text)") }
                        }
                    default:
                        XCTFail("undocumented method \(method) on \(path)")
                    }
                }
            }
        }
    }

    /// The response's media type is documented; for JSON, its keys include every required field of
    /// the schema and nothing outside its properties.
    func checkBody(_ r: TestResponse, content: [String: MiniYAML], doc: MiniYAML, what: String) throws {
        let contentType = r.headers[.contentType] ?? ""
        let media = try XCTUnwrap(content.first { contentType.hasPrefix($0.key) }, "\(what): \(contentType) not documented")
        guard media.key == "application/json" else { return }
        let schema = try resolve(try XCTUnwrap(media.value["schema"]), in: doc)
        let object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [String: Any],
                                   "\(what): \(r.text)")
        let (required, all) = schemaFields(schema)
        XCTAssertTrue(required.isSubset(of: object.keys), "\(what): \(r.text) lacks some of \(required)")
        XCTAssertTrue(Set(object.keys).isSubset(of: all), "\(what): \(r.text) has fields outside \(all)")
    }
}
