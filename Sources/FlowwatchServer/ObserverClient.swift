import FlowwatchAPI
import FlowwatchCore
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import SwiftProtobuf

/// A server to connect to: `unix:///path`, `unix:/path` or `host:port` (`[v6]:port`), as
/// `hubble --server` takes them.
public enum ServerTarget: Sendable, Equatable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: Int, ipv6: Bool)

    public init(_ text: String) throws(ServerError) {
        if text.hasPrefix("unix://") {
            self = .unix(path: String(text.dropFirst("unix://".count)))
        } else if text.hasPrefix("unix:") {
            self = .unix(path: String(text.dropFirst("unix:".count)))
        } else if text.hasPrefix("/") {
            self = .unix(path: text)
        } else {
            var t = text
            for scheme in ["tcp://", "http://", "https://"] where t.hasPrefix(scheme) { t = String(t.dropFirst(scheme.count)) }
            let (host, port, ipv6) = try parseHostPort(t)
            self = .tcp(host: host, port: port, ipv6: ipv6)
        }
        if case .unix(let path) = self, path.isEmpty { throw ServerError("'\(text)': no socket path") }
    }

    public var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port, let ipv6): ipv6 ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }

    var resolvable: any ResolvableTarget {
        switch self {
        case .unix(let path): .unixDomainSocket(path: path)
        case .tcp(let host, let port, let ipv6):
            if ipv6 { .ipv6(address: host, port: port) } else if IPAddress(host)?.isIPv4 == true { .ipv4(address: host, port: port) } else { .dns(host: host, port: port) }
        }
    }
}

/// TLS for a client: the CA that signed the server's certificate (the system's roots if nil),
/// for mutual TLS the client's own certificate and key (PEM files), and the name the server's
/// certificate must carry when it is not the address dialled (Hubble Relay's
/// `<node>.<cluster>.hubble-grpc.cilium.io`).
public struct ClientTLS: Sendable, Equatable {
    public var ca: String?
    public var certificate: String?
    public var key: String?
    public var serverName: String?

    public init(ca: String? = nil, certificate: String? = nil, key: String? = nil, serverName: String? = nil) {
        self.ca = ca
        self.certificate = certificate
        self.key = key
        self.serverName = serverName
    }
}

/// A connection to a flowwatch (or Hubble) server for the duration of `body`. `windowSize` is
/// the HTTP/2 window the client grants per stream (grpc-swift's default is 8 MiB: that much of
/// a stream is taken off the server before a slow reader slows it).
public func withObserverClient<Result: Sendable>(
    _ target: ServerTarget, tls: ClientTLS? = nil, windowSize: Int? = nil,
    _ body: (Observer_Observer.Client<HTTP2ClientTransport.Posix>) async throws -> Result
) async throws -> Result {
    let security: HTTP2ClientTransport.Posix.TransportSecurity
    if let tls {
        security = .tls { config in
            if let ca = tls.ca { config.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
            if let certificate = tls.certificate, let key = tls.key {
                config.certificateChain = [.file(path: certificate, format: .pem)]
                config.privateKey = .file(path: key, format: .pem)
            }
        }
    } else {
        security = .plaintext
    }
    var config = HTTP2ClientTransport.Posix.Config.defaults
    if let windowSize { config.http2.targetWindowSize = windowSize }
    // The authority is both the TLS SNI name and the name the certificate is checked against.
    if let serverName = tls?.serverName { config.http2.authority = serverName }
    let transport = try HTTP2ClientTransport.Posix(target: target.resolvable, transportSecurity: security, config: config)
    return try await withGRPCClient(transport: transport) { client in
        try await body(Observer_Observer.Client(wrapping: client))
    }
}

extension Observer_GetFlowsRequest {
    /// A request for `selection` and `filter` (whitelist and blacklist as the CLI built them).
    public init(_ selection: EventSelection, filter: FlowFilterSet) {
        self.init()
        let fields = selection.requestFields
        (number, first, follow) = (fields.number, fields.first, fields.follow)
        if let since = fields.since { self.since = since }
        if let until = fields.until { self.until = until }
        whitelist = filter.whitelist.map { Flow_FlowFilter($0) }
        blacklist = filter.blacklist.map { Flow_FlowFilter($0) }
    }
}

extension Observer_GetDebugEventsRequest {
    public init(_ selection: EventSelection) {
        self.init()
        let fields = selection.requestFields
        (number, first, follow) = (fields.number, fields.first, fields.follow)
        if let since = fields.since { self.since = since }
        if let until = fields.until { self.until = until }
    }
}

extension EventSelection {
    /// The selection as the request fields GetFlows and GetDebugEvents share (number 0 is all).
    fileprivate var requestFields: (number: UInt64, first: Bool, follow: Bool,
                                    since: Google_Protobuf_Timestamp?, until: Google_Protobuf_Timestamp?) {
        let (n, first): (UInt64, Bool) = switch number {
        case .all: (0, false)
        case .last(let n): (n, false)
        case .first(let n): (n, true)
        }
        return (n, first, follow, since.map { .init(unixNanoseconds: $0) }, until.map { .init(unixNanoseconds: $0) })
    }
}
