import FlowwatchAPI
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import Dispatch
import NIOCore
import NIOPosix
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where and how `flowwatch serve` listens.
public struct ServerConfiguration: Sendable {
    /// The unix socket (Hubble's default is /var/run/cilium/hubble.sock; flowwatch's is
    /// /var/run/flowwatch/flowwatch.sock), created mode 0660; nil: none.
    public var unixSocket: String?
    /// `host:port`, `:port` (every address) or `[v6]:port` for Hubble Relay; nil: none.
    public var tcpAddress: String?
    /// TLS on the TCP listener.
    public var tls: TLSFiles?
    /// `host:port` for Prometheus (`/metrics`); nil: none.
    public var metricsAddress: String?

    public static let defaultUnixSocket = "/var/run/flowwatch/flowwatch.sock"

    public init(unixSocket: String? = ServerConfiguration.defaultUnixSocket, tcpAddress: String? = nil,
                tls: TLSFiles? = nil, metricsAddress: String? = nil) {
        self.unixSocket = unixSocket
        self.tcpAddress = tcpAddress
        self.tls = tls
        self.metricsAddress = metricsAddress
    }
}

/// PEM files for the TCP listener: the server's certificate chain and key, and, for mutual
/// TLS, the CA whose certificates clients must present (clients without one are refused
/// during the handshake).
public struct TLSFiles: Sendable, Equatable {
    public var certificateChain: String
    public var privateKey: String
    public var clientCA: String?

    public init(certificateChain: String, privateKey: String, clientCA: String? = nil) {
        self.certificateChain = certificateChain
        self.privateKey = privateKey
        self.clientCA = clientCA
    }
}

/// A listener that could not be set up; the text names it.
public struct ServerError: Error, CustomStringConvertible, Sendable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// `host:port` split, `[v6]:port` and `:port` (every IPv4 address) included.
public func parseHostPort(_ text: String) throws(ServerError) -> (host: String, port: Int, ipv6: Bool) {
    var host: Substring
    let portText: Substring
    if text.hasPrefix("[") {
        guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
            throw ServerError("'\(text)' is not [address]:port")
        }
        host = text[text.index(after: text.startIndex)..<close]
        portText = text[text.index(close, offsetBy: 2)...]
    } else {
        guard let colon = text.lastIndex(of: ":") else { throw ServerError("'\(text)' is not host:port") }
        host = text[..<colon]
        portText = text[text.index(after: colon)...]
        if host.contains(":") { throw ServerError("'\(text)': write IPv6 addresses as [address]:port") }
    }
    guard let port = Int(portText), (0...65535).contains(port) else { throw ServerError("'\(text)': '\(portText)' is not a port") }
    let ipv6 = host.contains(":")
    if host.isEmpty { host = "0.0.0.0" }
    return (String(host), port, ipv6)
}

/// The running servers (unix socket, TCP, metrics) around one `ObserverService`.
///
/// Started from synchronous code (the CLI's main thread, which waits for signals) and stopped
/// from it: `start()` returns once every listener is bound, `stop()` ends following streams,
/// closes the listeners and returns once they are closed.
public final class ObserverServer: Sendable {
    public let configuration: ServerConfiguration
    private let service: ObserverService
    private let metrics: MetricsServer?
    private let servers = Mutex<[GRPCServer<HTTP2ServerTransport.Posix>]>([])
    private let runner = Mutex<Task<Void, Never>?>(nil)
    private let failure = Mutex<String?>(nil)
    /// Bound addresses, for messages and tests (`unix:/…`, `127.0.0.1:4244`).
    public let boundAddresses = Mutex<[String]>([])

    public init(configuration: ServerConfiguration, service: ObserverService, metrics: MetricsServer? = nil) {
        self.configuration = configuration
        self.service = service
        self.metrics = metrics
    }

    /// A listener's error after start (nil while all serve).
    public var error: String? { failure.withLock { $0 } }

    /// Binds every listener and starts serving; throws with the first listener that cannot be
    /// bound, leaving nothing open. From synchronous code that is not on one of Swift
    /// concurrency's threads (the CLI's main thread), use `startBlocking()`.
    public func start() async throws(ServerError) {
        var made: [GRPCServer<HTTP2ServerTransport.Posix>] = []
        var unixSocket: Int32?
        do throws(ServerError) {
            if let path = configuration.unixSocket {
                let fd = try bindUnixSocket(path)
                unixSocket = fd
                made.append(GRPCServer(transport: .http2NIOPosix(listeningSocketDescriptor: Int(fd), transportSecurity: .plaintext,
                                                                  config: Self.transportConfig),
                                       services: [service]))
            }
            if let address = configuration.tcpAddress {
                let (host, port, ipv6) = try parseHostPort(address)
                let socket: GRPCNIOTransportCore.SocketAddress = ipv6 ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port)
                made.append(GRPCServer(transport: .http2NIOPosix(address: socket, transportSecurity: try transportSecurity(),
                                                                  config: Self.transportConfig),
                                       services: [service]))
            }
        } catch {
            if let fd = unixSocket {
                close(fd)
                if let path = configuration.unixSocket { unlink(path) }
            }
            throw error
        }
        servers.withLock { $0 = made }
        let servers = made
        runner.withLock {
            $0 = Task.detached { [self] in
                await withTaskGroup(of: Void.self) { group in
                    for server in servers {
                        group.addTask {
                            do { try await server.serve() } catch {
                                self.failure.withLock { $0 = $0 ?? "\(error)" }
                            }
                        }
                    }
                }
            }
        }
        // Each transport is bound (or failed) before this returns, so errors surface here.
        var bound: [String] = []
        for server in servers {
            guard let address = try? await server.listeningAddress else {
                await stop()
                throw ServerError(error ?? "a listener could not be bound")
            }
            // The unix socket was bound under a temporary name and renamed: name it by its path.
            if address.unixDomainSocket != nil, let path = configuration.unixSocket {
                bound.append("unix://\(path)")
            } else {
                bound.append(Self.describe(address))
            }
        }
        boundAddresses.withLock { $0 = bound }
        if let metrics {
            do throws(ServerError) { try metrics.start() } catch {
                await stop()
                throw error
            }
        }
    }

    /// Ends following streams (they finish normally), closes the listeners and waits for them.
    public func stop() async {
        beginStop()
        if let task = runner.withLock({ $0 }) { await task.value }
        metrics?.stop()
    }

    /// Starts stopping without waiting: following streams end, listeners close, the socket
    /// file goes.
    public func beginStop() {
        service.shutdown.set()
        for server in servers.withLock({ $0 }) { server.beginGracefulShutdown() }
        if let path = configuration.unixSocket { unlink(path) }
    }

    /// `start()` from a thread that may block (not one of Swift concurrency's).
    public func startBlocking() throws(ServerError) {
        let result: Result<Void, ServerError> = waitSync { [self] in
            do throws(ServerError) { try await start(); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    /// `stop()` from a thread that may block (not one of Swift concurrency's).
    public func stopBlocking() {
        waitSync { [self] in await stop() }
    }

    private func transportSecurity() throws(ServerError) -> HTTP2ServerTransport.Posix.TransportSecurity {
        guard let tls = configuration.tls else { return .plaintext }
        for file in [tls.certificateChain, tls.privateKey] + (tls.clientCA.map { [$0] } ?? []) where access(file, R_OK) != 0 {
            throw ServerError("TLS: cannot read \(file): \(String(cString: strerror(errno)))")
        }
        let chain: [TLSConfig.CertificateSource] = [.file(path: tls.certificateChain, format: .pem)]
        let key: TLSConfig.PrivateKeySource = .file(path: tls.privateKey, format: .pem)
        guard let ca = tls.clientCA else { return .tls(certificateChain: chain, privateKey: key) }
        return .mTLS(certificateChain: chain, privateKey: key) { config in
            config.trustRoots = .certificates([.file(path: ca, format: .pem)])
            config.clientCertificateVerification = .noHostnameVerification
        }
    }

    private static var transportConfig: HTTP2ServerTransport.Posix.Config {
        var config = HTTP2ServerTransport.Posix.Config.defaults
        // Idle follow streams are fine; pings keep dead peers from holding a reader forever.
        config.connection.keepalive.time = .seconds(30)
        config.connection.keepalive.timeout = .seconds(20)
        return config
    }

    private static func describe(_ address: GRPCNIOTransportCore.SocketAddress) -> String {
        if let ipv4 = address.ipv4 { return "\(ipv4.host):\(ipv4.port)" }
        if let ipv6 = address.ipv6 { return "[\(ipv6.host)]:\(ipv6.port)" }
        if let unix = address.unixDomainSocket { return "unix://\(unix.path)" }
        return "\(address)"
    }

    /// A unix socket at `path`, mode 0660, listening. The socket is bound under a temporary
    /// name, given its mode, then renamed into place, so it never exists with a wider mode.
    /// A socket left by a killed server is replaced; one that a live server answers on is not.
    private func bindUnixSocket(_ path: String) throws(ServerError) -> Int32 {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        if !directory.isEmpty { try makeDirectories(directory) }
        var st = stat()
        if lstat(path, &st) == 0 {
            guard st.st_mode & S_IFMT == S_IFSOCK else { throw ServerError("\(path) exists and is not a socket") }
            if Self.answers(path) { throw ServerError("\(path): another server is listening there") }
            unlink(path)
        }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ServerError("socket: \(String(cString: strerror(errno)))") }
        let temporary = "\(path).\(getpid()).tmp"
        unlink(temporary)
        guard var address = Self.unixAddress(temporary) else {
            close(fd)
            throw ServerError("\(path): the path is too long for a unix socket")
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else {
            let e = errno
            close(fd)
            throw ServerError("\(path): bind: \(String(cString: strerror(e)))")
        }
        guard chmod(temporary, 0o660) == 0, rename(temporary, path) == 0, listen(fd, 128) == 0 else {
            let e = errno
            close(fd)
            unlink(temporary)
            throw ServerError("\(path): \(String(cString: strerror(e)))")
        }
        return fd
    }

    private func makeDirectories(_ directory: String) throws(ServerError) {
        var prefix = ""
        for part in directory.split(separator: "/", omittingEmptySubsequences: false) {
            prefix += prefix.isEmpty && part.isEmpty ? "/" : (prefix.isEmpty || prefix == "/" ? "" : "/") + part
            if part.isEmpty { continue }
            if mkdir(prefix, 0o750) != 0 && errno != EEXIST {
                throw ServerError("cannot create \(prefix): \(String(cString: strerror(errno)))")
            }
        }
    }

    static func unixAddress(_ path: String) -> sockaddr_un? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return address
    }

    /// Whether something accepts connections on the unix socket at `path`.
    private static func answers(_ path: String) -> Bool {
        guard var address = unixAddress(path) else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }
}

/// Runs `body` to completion from synchronous code (a thread that is not one of Swift
/// concurrency's).
func waitSync<T: Sendable>(_ body: @escaping @Sendable () async -> T) -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        box.value = await body()
        done.signal()
    }
    done.wait()
    return box.value!
}

private final class ResultBox<T>: @unchecked Sendable {
    var value: T?
}
