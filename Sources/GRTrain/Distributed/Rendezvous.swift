#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Hands rank 0's NCCL unique id (128 opaque bytes) to every other rank over TCP, so the same code
/// spans hosts: rank 0 listens on `host:port` (the master address, loopback by default) and
/// answers each of the W − 1 other ranks with one message; the others connect (retrying until the
/// deadline, since rank 0 may start later) and read it.
///
/// Message: magic "GRNCCLID" (8 bytes), W as a little-endian UInt32, the payload (128 bytes).
/// A peer that announces a different W (another run on the same port) is an error.
public enum Rendezvous {
    public static let magic = Array("GRNCCLID".utf8)
    public static let defaultPort = 29_517
    public static let defaultTimeout: Double = 120

    /// Rank 0: serves `payload` to `peers` connections, then returns.
    public static func serve(payload: [UInt8], worldSize: Int, host: String, port: Int,
                             timeout: Double = defaultTimeout) throws {
        let peers = worldSize - 1
        guard peers > 0 else { return }
        let addr = try resolve(host: host, port: port)
        let fd = socket(Int32(addr.family), socketStream, 0)
        guard fd >= 0 else { throw RendezvousError.system(call: "socket", host: host, port: port, errno: errno) }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        let bound = addr.storage.withUnsafeBytes { bind(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), addr.length) }
        guard bound == 0 else { throw RendezvousError.system(call: "bind", host: host, port: port, errno: errno) }
        guard listen(fd, Int32(min(peers, 1024))) == 0 else {
            throw RendezvousError.system(call: "listen", host: host, port: port, errno: errno)
        }
        var message = magic
        withUnsafeBytes(of: UInt32(worldSize).littleEndian) { message += $0 }
        message += payload
        let deadline = Date().addingTimeInterval(timeout)
        var served = 0
        while served < peers {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { throw RendezvousError.timeout(role: "rank 0 (listening)", host: host, port: port,
                                                                seconds: timeout, detail: "\(served) of \(peers) ranks connected") }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, Int32(min(left, 1) * 1000))
            if ready <= 0 { continue }
            let c = accept(fd, nil, nil)
            if c < 0 { continue }
            defer { close(c) }
            try sendAll(c, message, host: host, port: port)
            served += 1
        }
    }

    /// Ranks > 0: connects to rank 0 (retrying until `timeout`) and returns the payload.
    public static func fetch(payloadBytes: Int, worldSize: Int, host: String, port: Int,
                             timeout: Double = defaultTimeout) throws -> [UInt8] {
        let addr = try resolve(host: host, port: port)
        let deadline = Date().addingTimeInterval(timeout)
        var lastErrno: Int32 = 0
        while deadline.timeIntervalSinceNow > 0 {
            let fd = socket(Int32(addr.family), socketStream, 0)
            guard fd >= 0 else { throw RendezvousError.system(call: "socket", host: host, port: port, errno: errno) }
            let ok = addr.storage.withUnsafeBytes { connect(fd, $0.baseAddress!.assumingMemoryBound(to: sockaddr.self), addr.length) }
            if ok != 0 {
                lastErrno = errno
                close(fd)
                usleep(100_000)
                continue
            }
            defer { close(fd) }
            let bytes = try receive(fd, count: magic.count + 4 + payloadBytes, deadline: deadline, host: host, port: port)
            guard Array(bytes[0..<magic.count]) == magic else { throw RendezvousError.protocolMismatch(host: host, port: port,
                                                                                                detail: "bad magic") }
            let w = bytes[magic.count..<(magic.count + 4)].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
            guard w == worldSize else {
                throw RendezvousError.protocolMismatch(host: host, port: port,
                                                       detail: "rank 0 announces world size \(w), this rank expects \(worldSize)")
            }
            return Array(bytes[(magic.count + 4)...])
        }
        throw RendezvousError.timeout(role: "rank > 0 (connecting)", host: host, port: port, seconds: timeout,
                                      detail: "last connect error: \(String(cString: strerror(lastErrno)))")
    }

    // MARK: sockets

    #if canImport(Glibc)
    static let socketStream = Int32(SOCK_STREAM.rawValue)
    #else
    static let socketStream = SOCK_STREAM
    #endif

    struct Address {
        var storage: [UInt8]
        var length: socklen_t
        var family: Int32
    }

    /// The first IPv4/IPv6 address of `host` (a name or a literal).
    static func resolve(host: String, port: Int) throws -> Address {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = socketStream
        var result: UnsafeMutablePointer<addrinfo>? = nil
        let rc = getaddrinfo(host, String(port), &hints, &result)
        guard rc == 0, let info = result else {
            throw RendezvousError.resolve(host: host, port: port, message: String(cString: gai_strerror(rc)))
        }
        defer { freeaddrinfo(result) }
        let len = Int(info.pointee.ai_addrlen)
        let bytes = Array(UnsafeRawBufferPointer(start: info.pointee.ai_addr, count: len))
        return Address(storage: bytes, length: socklen_t(len), family: info.pointee.ai_family)
    }

    static func sendAll(_ fd: Int32, _ bytes: [UInt8], host: String, port: Int) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + sent, bytes.count - sent, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw RendezvousError.system(call: "send", host: host, port: port, errno: errno) }
            sent += n
        }
    }

    static func receive(_ fd: Int32, count: Int, deadline: Date, host: String, port: Int) throws -> [UInt8] {
        var out = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else {
                throw RendezvousError.timeout(role: "rank > 0 (reading)", host: host, port: port, seconds: left,
                                              detail: "\(got) of \(count) bytes")
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&p, 1, Int32(min(left, 1) * 1000)) <= 0 { continue }
            let n = out.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            guard n > 0 else {
                throw RendezvousError.protocolMismatch(host: host, port: port,
                                                       detail: "connection closed after \(got) of \(count) bytes")
            }
            got += n
        }
        return out
    }
}

public enum RendezvousError: Error, CustomStringConvertible {
    case resolve(host: String, port: Int, message: String)
    case system(call: String, host: String, port: Int, errno: Int32)
    case timeout(role: String, host: String, port: Int, seconds: Double, detail: String)
    case protocolMismatch(host: String, port: Int, detail: String)

    public var description: String {
        switch self {
        case let .resolve(host, port, message):
            return "rendezvous: cannot resolve --master-addr \(host) (port \(port)): \(message)"
        case let .system(call, host, port, e):
            return "rendezvous: \(call) on \(host):\(port) failed: \(String(cString: strerror(e)))"
                + (call == "bind" ? " (is --master-port \(port) in use? pick another)" : "")
        case let .timeout(role, host, port, seconds, detail):
            return String(format: "rendezvous: %@ on %@:%d timed out after %.0f s (%@)", role, host, port, seconds, detail)
        case let .protocolMismatch(host, port, detail):
            return "rendezvous with \(host):\(port): \(detail)"
        }
    }
}
