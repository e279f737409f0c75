import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Prometheus' scrape endpoint: `GET /metrics` answers `text/plain; version=0.0.4` with what
/// `render` returns at that moment; every other path is 404. HTTP/1.1 on swift-nio, which gRPC
/// already brings.
public final class MetricsServer: Sendable {
    public let address: String
    private let render: @Sendable () -> String
    private let channel = Mutex<(any Channel)?>(nil)
    /// The bound address (`host:port`), once started.
    public let boundAddress = Mutex<String?>(nil)

    public init(address: String, render: @escaping @Sendable () -> String) {
        self.address = address
        self.render = render
    }

    public func start() throws(ServerError) {
        let (host, port, _) = try parseHostPort(address)
        let render = render
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(MetricsHandler(render: render))
                }
            }
        do {
            let bound = try bootstrap.bind(host: host, port: port).wait()
            channel.withLock { $0 = bound }
            if let local = bound.localAddress {
                boundAddress.withLock { $0 = "\(local.ipAddress ?? host):\(local.port ?? port)" }
            }
        } catch {
            throw ServerError("metrics on \(address): \(error)")
        }
    }

    public func stop() {
        if let c = channel.withLock({ c -> (any Channel)? in defer { c = nil }; return c }) {
            try? c.close().wait()
        }
    }
}

private final class MetricsHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let render: @Sendable () -> String
    private var head: HTTPRequestHead?

    init(render: @escaping @Sendable () -> String) {
        self.render = render
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break
        case .end:
            guard let request = head else { return }
            let path = request.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? request.uri
            let (status, body): (HTTPResponseStatus, String) =
                request.method == .GET && (path == "/metrics" || path == "/")
                ? (.ok, render())
                : (.notFound, "flowwatch serves Prometheus metrics at /metrics\n")
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: status == .ok ? "text/plain; version=0.0.4; charset=utf-8" : "text/plain")
            headers.add(name: "Content-Length", value: String(body.utf8.count))
            if !request.isKeepAlive { headers.add(name: "Connection", value: "close") }
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            let keepAlive = request.isKeepAlive
            let channel = context.channel
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { channel.close(promise: nil) }
            }
        }
    }
}
