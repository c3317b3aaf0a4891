import Foundation
@testable import GRServe
import HummingbirdTesting
import XCTest

/// `GET /metrics`: Prometheus text format with the documented series.
final class MetricsTests: XCTestCase {
    func testMetricsCountRequestsErrorsLatencyAndBatches() async throws {
        try await withServer { client, _ in
            _ = try await client.post("/v1/recommend", #"{"history": [1], "k": 2}"#)
            _ = try await client.post("/v1/recommend", #"{"history": [1], "k": 2}"#)
            _ = try await client.post("/v1/recommend", #"{"history": [1], "k": 0}"#)
            _ = try await client.post("/v1/score", #"{"history": [1], "candidates": [3]}"#)
            _ = try await client.get("/wp-admin/secret")
            let r = try await client.get("/metrics")
            XCTAssertEqual(r.status, .ok)
            XCTAssertEqual(r.headers[.contentType], "text/plain; version=0.0.4; charset=utf-8")
            let text = r.text
            for line in [
                #"gr_serve_requests_total{route="/v1/recommend",status="200"} 2"#,
                #"gr_serve_requests_total{route="/v1/recommend",status="400"} 1"#,
                #"gr_serve_requests_total{route="/v1/score",status="200"} 1"#,
                #"gr_serve_requests_total{route="other",status="404"} 1"#,
                #"gr_serve_errors_total{route="/v1/recommend",status="400"} 1"#,
                #"gr_serve_request_duration_seconds_bucket{route="/v1/recommend",le="+Inf"} 3"#,
                #"gr_serve_request_duration_seconds_count{route="/v1/recommend"} 3"#,
                "gr_serve_batch_size_count 3",
                #"gr_serve_batch_size_bucket{le="1"} 3"#,
                "gr_serve_engine_calls_total 3",
                "gr_serve_queue_wait_seconds_count 3",
                "gr_serve_engine_call_seconds_count 3",
                "gr_serve_queue_depth 0",
                #"gr_serve_model_info{model="stub-a@000000000000"} 1"#,
            ] {
                XCTAssertTrue(text.contains(line + "\n"), "missing \(line) in\n\(text)")
            }
            XCTAssertFalse(text.contains("wp-admin"))
            try Self.checkExpositionFormat(text)
        }
    }

    /// Every line is a comment (`# HELP name text`, `# TYPE name type`) or `name{labels} value`; each
    /// series' TYPE comes before its samples; histogram buckets are cumulative.
    static func checkExpositionFormat(_ text: String) throws {
        let sample = try Regex(#"^([a-z_]+)(\{([a-z_]+="[^"\\]*",?)*\})? (-?[0-9.e+-]+|\+Inf|NaN)$"#)
        var typed: Set<String> = []
        let leLabel = try Regex(#"le="[^"]*""#)
        var buckets: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                XCTAssertEqual(parts.count, 4, String(line))
                XCTAssertTrue(["counter", "gauge", "histogram"].contains(String(parts[3])), String(line))
                typed.insert(String(parts[2]))
                continue
            }
            if line.hasPrefix("# HELP ") { continue }
            guard let m = try sample.wholeMatch(in: String(line)) else {
                XCTFail("not a sample line: \(line)")
                continue
            }
            let name = String(m.output[1].substring!)
            let base = ["_bucket", "_sum", "_count"].reduce(name) { n, s in
                n.hasSuffix(s) && typed.contains(String(n.dropLast(s.count))) ? String(n.dropLast(s.count)) : n
            }
            XCTAssertTrue(typed.contains(base), "\(name) has no TYPE line before it")
            if name.hasSuffix("_bucket") {
                // Same series = same line without its `le` label and value.
                let parts = line.split(separator: " ")
                let series = String(parts[0]).replacing(leLabel, with: "")
                let value = Double(parts[1])!
                if let previous = buckets[series] {
                    XCTAssertGreaterThanOrEqual(value, previous, "buckets not cumulative at \(line)")
                }
                buckets[series] = value
            }
        }
    }
}
