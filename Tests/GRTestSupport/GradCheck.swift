import XCTest

/// Finite-difference gradient checks in Float64, for kernels that are generic over the float type
/// (the CPU kernels are instantiated with Double in tests, Float in the backend, so the derivative
/// checked here comes from the same code path the models run).
///
/// Usage: pick a scalar objective of the op's inputs, e.g. L(x) = Σ op(x) ⊙ R for a fixed random
/// cotangent R; compute the analytic gradient with the op's backward (dOut = R, gradients zeroed);
/// compare with `GradCheck.numeric` of L.
public enum GradCheck {
    /// Central differences ∂f/∂x_i ≈ (f(x + h e_i) − f(x − h e_i)) / 2h for every i.
    public static func numeric(_ x: [Double], h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
        var xs = x
        var g = [Double](repeating: 0, count: x.count)
        for i in 0..<x.count {
            let xi = xs[i]
            xs[i] = xi + h
            let fp = f(xs)
            xs[i] = xi - h
            let fm = f(xs)
            xs[i] = xi
            g[i] = (fp - fm) / (2 * h)
        }
        return g
    }

    /// Asserts |analytic − numeric| ≤ atol + rtol·max(|numeric|ₘₐₓ, 1e-12) elementwise: the
    /// tolerance is relative to the largest entry (small entries of a large gradient carry the
    /// finite-difference noise of the large ones). Also fails when a gradient is all zeros while
    /// the other is not.
    public static func assertMatches(analytic: [Double], numeric: [Double], rtol: Double = 1e-6, atol: Double = 1e-9,
                                     _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(analytic.count, numeric.count, "\(what): gradient sizes", file: file, line: line)
        guard analytic.count == numeric.count else { return }
        let scale = max(numeric.map(abs).max() ?? 0, analytic.map(abs).max() ?? 0, 1e-12)
        var worst = 0.0, worstIndex = -1
        for i in 0..<numeric.count {
            let err = abs(analytic[i] - numeric[i])
            if !(err <= atol + rtol * scale) && (err > worst || worstIndex < 0 || err.isNaN) {
                worst = err
                worstIndex = i
            }
        }
        if worstIndex >= 0 {
            XCTFail("\(what)[\(worstIndex)]: analytic \(analytic[worstIndex]) vs numeric \(numeric[worstIndex]) "
                    + "(max |g| \(scale), tolerance \(atol + rtol * scale))", file: file, line: line)
        }
    }

    /// `numeric` then `assertMatches`.
    public static func check(_ x: [Double], analytic: [Double], h: Double = 1e-5, rtol: Double = 1e-6,
                             atol: Double = 1e-9, _ what: String, file: StaticString = #filePath, line: UInt = #line,
                             _ f: ([Double]) -> Double) {
        assertMatches(analytic: analytic, numeric: numeric(x, h: h, f), rtol: rtol, atol: atol, what,
                      file: file, line: line)
    }
}

/// A heap buffer for calling pointer-based kernels from tests: copies values in, exposes a pointer,
/// copies them out again.
public final class HostBuffer<T> {
    public let pointer: UnsafeMutablePointer<T>
    public let count: Int

    public init(_ values: [T]) {
        count = values.count
        pointer = .allocate(capacity: max(values.count, 1))
        pointer.initialize(from: values, count: values.count)
    }

    public convenience init(repeating value: T, count: Int) { self.init([T](repeating: value, count: count)) }

    public var array: [T] { Array(UnsafeBufferPointer(start: pointer, count: count)) }

    deinit {
        pointer.deinitialize(count: count)
        pointer.deallocate()
    }
}

/// Deterministic test inputs (SplitMix64), independent of the project's Philox streams.
public struct TestRandom {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Standard normal (Box–Muller).
    public mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }

    public mutating func normals(_ n: Int, std: Double = 1) -> [Double] { (0..<n).map { _ in normal() * std } }

    /// Uniform integer in lo...hi.
    public mutating func int(_ lo: Int, _ hi: Int) -> Int { lo + Int(next() % UInt64(hi - lo + 1)) }
}
