import Foundation
@testable import GRServe
import XCTest

/// The hand-written request decoder and response writer against Foundation's: the fast path may
/// only ever accept what Foundation accepts, with the same value (else the 400 answers of
/// `MalformedRequestTests` could change), and it must accept the plain shape clients send.
final class FastBodyDecodingTests: XCTestCase {
    func fast<T>(_ body: String, _ f: (UnsafeRawBufferPointer) -> T?) -> T? {
        Array(body.utf8).withUnsafeBytes { f($0) }
    }

    /// Fast either declines (nil) or agrees with Foundation, which then must succeed.
    func assertAgrees(_ uri: String, _ body: String, file: StaticString = #filePath, line: UInt = #line) {
        if uri == "/v1/score" {
            let slow = try? RequestDecoding.decode(ScoreBody.self, from: Data(body.utf8))
            if let f = fast(body, FastBodyDecoding.score) { XCTAssertEqual(f, slow, body, file: file, line: line) }
        } else {
            let slow = try? RequestDecoding.decode(RecommendBody.self, from: Data(body.utf8))
            if let f = fast(body, FastBodyDecoding.recommend) { XCTAssertEqual(f, slow, body, file: file, line: line) }
        }
    }

    static let valid: [String] = [
        #"{"history":[1,2,3],"k":10}"#,
        " {\n\t\"history\" : [ 1 , 2 ,3 ] ,\r\n \"k\":10 } \n",
        #"{"k": 5, "history": [7], "timestamps": [978300000], "exclude_seen": false, "user": "u-42 x"}"#,
        #"{"history": [2147483647, -2147483648, 0, -0], "k": -7, "exclude_seen": true}"#,
        #"{"history": [], "timestamps": [], "k": 9223372036854775807}"#,
        #"{"history": [1], "timestamps": [9223372036854775807, -9223372036854775808], "k": 1, "user": ""}"#,
    ]

    func testAcceptsThePlainShapeWithFoundationsValues() throws {
        for body in Self.valid {
            let f = try XCTUnwrap(fast(body, FastBodyDecoding.recommend), body)
            XCTAssertEqual(f, try RequestDecoding.decode(RecommendBody.self, from: Data(body.utf8)), body)
        }
        let score = #"{"history": [1, 2], "candidates": [5, 6, 7], "user": "a"}"#
        XCTAssertEqual(fast(score, FastBodyDecoding.score),
                       ScoreBody(history: [1, 2], candidates: [5, 6, 7], user: "a"))
    }

    func testDeclinesEveryMalformedCaseOrAgrees() {
        for c in MalformedRequestTests.recommendCases + MalformedRequestTests.scoreCases where c.uri != "/admin/reload" {
            assertAgrees(c.uri, c.body)
        }
        // Shapes the fast path leaves to Foundation: null, escapes, non-ASCII, fractions, exponents,
        // leading zeros, repeated keys, out-of-range integers.
        let declined = [
            #"{"history": [1], "k": 3, "user": null}"#, #"{"history": [1], "k": 3, "user": "a\"b"}"#,
            #"{"history": [1], "k": 3, "user": "é"}"#, #"{"history": [1], "k": 3.0}"#, #"{"history": [1], "k": 1e1}"#,
            #"{"history": [01], "k": 3}"#, #"{"history": [1], "history": [2], "k": 3}"#,
            #"{"history": [2147483648], "k": 3}"#, #"{"hist\u006fry": [1], "k": 3}"#, #"{"history": [1], "k": 3}x"#,
            #"{"history": [1], "k": -}"#, #"{"history": [1,], "k": 3}"#, #"{"history": [1], "k": 3,}"#,
        ]
        for body in declined {
            XCTAssertNil(fast(body, FastBodyDecoding.recommend), body)
            assertAgrees("/v1/recommend", body)
        }
    }

    /// Every truncation and many one-byte edits of valid bodies: never a value Foundation would not give.
    func testMutatedBodiesNeverDisagree() {
        let bytes: [UInt8] = Array("{}[]\":,-0123456789.eE \\nultrfas".utf8)
        for body in Self.valid.prefix(3) {
            let b = Array(body.utf8)
            for n in 0..<b.count { assertAgrees("/v1/recommend", String(decoding: b[..<n], as: UTF8.self)) }
            for i in stride(from: 0, to: b.count, by: 3) {
                for r in bytes {
                    var m = b
                    m[i] = r
                    assertAgrees("/v1/recommend", String(decoding: m, as: UTF8.self))
                }
            }
        }
    }

    func testResponseWriterRoundTrips() throws {
        let a = RecommendAnswer(items: [3, 2_147_483_647, 1], scores: [0.1, -3.4028235e38, 1e-45],
                                titles: ["Toy Story (1995)", "a \"quoted\" \\ title\n\t\u{1}", "Amélie 東京"],
                                model: "m@abc")
        let text = String(buffer: ResponseEncoding.recommend(a))
        XCTAssertEqual(try JSONDecoder().decode(RecommendAnswer.self, from: Data(text.utf8)), a, text)
        let plain = RecommendAnswer(items: [], scores: [], titles: nil, model: "x")
        let t2 = String(buffer: ResponseEncoding.recommend(plain))
        XCTAssertEqual(try JSONDecoder().decode(RecommendAnswer.self, from: Data(t2.utf8)), plain, t2)
        let s = ScoreAnswer(scores: [1, 0.5, -0.25, 123456.79], model: "m")
        let t3 = String(buffer: ResponseEncoding.score(s))
        XCTAssertEqual(try JSONDecoder().decode(ScoreAnswer.self, from: Data(t3.utf8)), s, t3)
    }
}
