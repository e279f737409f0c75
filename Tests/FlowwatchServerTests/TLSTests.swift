import Foundation
import FlowwatchAPI
import FlowwatchCore
import FlowwatchServer
import GRPCCore
import Testing

/// A CA, a server certificate for 127.0.0.1 and localhost, one for *.default.hubble-grpc.cilium.io
/// only (as Hubble names its servers), and a client certificate, made with
/// openssl in a temporary directory for one test (no key is ever committed).
struct TestCertificates {
    let directory: URL
    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("fw-tls-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let script = """
            set -e
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=flowwatch-test-ca \
                -keyout ca.key -out ca.pem 2>/dev/null
            for who in server hubble client other; do
                openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=$who -keyout $who.key -out $who.csr 2>/dev/null
            done
            printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n' > server.ext
            # Named as Hubble names its servers, and only so: no address to fall back on.
            printf 'subjectAltName=DNS:*.default.hubble-grpc.cilium.io\\nextendedKeyUsage=serverAuth\\n' > hubble.ext
            printf 'extendedKeyUsage=clientAuth\\n' > client.ext
            openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile server.ext -out server.pem 2>/dev/null
            openssl x509 -req -in hubble.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile hubble.ext -out hubble.pem 2>/dev/null
            openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -extfile client.ext -out client.pem 2>/dev/null
            # A client certificate from a CA the server does not trust.
            openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=rogue-ca -keyout rogue.key -out rogue.pem 2>/dev/null
            openssl x509 -req -in other.csr -CA rogue.pem -CAkey rogue.key -CAcreateserial -days 1 -extfile client.ext -out other.pem 2>/dev/null
            """
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/sh")
        p.arguments = ["-c", script]
        p.currentDirectoryURL = directory
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else {
            try? FileManager.default.removeItem(at: directory)
            throw CertificateError()
        }
    }

    struct CertificateError: Error {}

    func remove() { try? FileManager.default.removeItem(at: directory) }
}

@Suite(.serialized) struct TLSTests {
    static let events: [FlowEvent] = (try? Samples.events("ping")) ?? []
    static var count: Int { events.filter { if case .debug = $0 { false } else { true } }.count }

    @Test("TLS on TCP: a client that trusts the CA reads flows; one that does not is refused")
    func serverTLS() async throws {
        let certs = try TestCertificates()
        defer { certs.remove() }
        let s = try await TestServer(events: Self.events, tcp: true,
                               tls: TLSFiles(certificateChain: certs.path("server.pem"), privateKey: certs.path("server.key")))
        defer { s.close() }
        let flows = try await getFlows(s.tcpTarget, tls: ClientTLS(ca: certs.path("ca.pem")), Observer_GetFlowsRequest())
        #expect(flows.count == Self.count)
        await #expect(throws: (any Error).self) {
            _ = try await getFlows(s.tcpTarget, tls: ClientTLS(ca: certs.path("rogue.pem")), Observer_GetFlowsRequest())
        }
        await #expect(throws: (any Error).self) { _ = try await getFlows(s.tcpTarget, Observer_GetFlowsRequest()) }
    }

    @Test("mutual TLS: clients without a certificate, or with one from another CA, are refused; the server keeps serving")
    func mutualTLS() async throws {
        let certs = try TestCertificates()
        defer { certs.remove() }
        let s = try await TestServer(events: Self.events, tcp: true,
                               tls: TLSFiles(certificateChain: certs.path("server.pem"), privateKey: certs.path("server.key"),
                                             clientCA: certs.path("ca.pem")))
        defer { s.close() }
        let target = s.tcpTarget
        await #expect(throws: (any Error).self) {
            _ = try await getFlows(target, tls: ClientTLS(ca: certs.path("ca.pem")), Observer_GetFlowsRequest())
        }
        await #expect(throws: (any Error).self) {
            _ = try await getFlows(target, tls: ClientTLS(ca: certs.path("ca.pem"), certificate: certs.path("other.pem"), key: certs.path("other.key")),
                                   Observer_GetFlowsRequest())
        }
        let flows = try await getFlows(target, tls: ClientTLS(ca: certs.path("ca.pem"), certificate: certs.path("client.pem"), key: certs.path("client.key")),
                                       Observer_GetFlowsRequest())
        #expect(flows.count == Self.count)
    }

    @Test("--tls-server-name: the name the certificate is checked against, whatever address is dialled")
    func serverName() async throws {
        let certs = try TestCertificates()
        defer { certs.remove() }
        let s = try await TestServer(events: Self.events, tcp: true,
                                     tls: TLSFiles(certificateChain: certs.path("hubble.pem"), privateKey: certs.path("hubble.key")))
        defer { s.close() }
        // Dialled by address, the certificate names no such thing.
        await #expect(throws: (any Error).self) {
            _ = try await getFlows(s.tcpTarget, tls: ClientTLS(ca: certs.path("ca.pem")), Observer_GetFlowsRequest())
        }
        let hubbleName = "node-1.default.hubble-grpc.cilium.io"
        let flows = try await getFlows(s.tcpTarget, tls: ClientTLS(ca: certs.path("ca.pem"), serverName: hubbleName), Observer_GetFlowsRequest())
        #expect(flows.count == Self.count)
        // A name the certificate does not carry is refused.
        await #expect(throws: (any Error).self) {
            _ = try await getFlows(s.tcpTarget, tls: ClientTLS(ca: certs.path("ca.pem"), serverName: "node-1.other.example"), Observer_GetFlowsRequest())
        }
        // The CLI's flag, as `hubble --tls-server-name`.
        func status(_ name: String) async throws -> (Int32, String) {
            try await runFlowwatch(["status", "--server", s.tcpTarget.description, "--tls-ca-cert-files", certs.path("ca.pem"), "--tls-server-name", name])
        }
        let good = try await status(hubbleName)
        #expect(good.0 == 0 && good.1.contains("Healthcheck (via \(s.tcpTarget)): Ok"), "\(good.1)")
        let bad = try await status("node-1.other.example")
        #expect(bad.0 != 0, "\(bad.1)")
    }
}

/// Runs the debug build's `flowwatch` with `arguments`: its exit status and output (stdout and
/// stderr). The wait is on a thread of its own: blocking a test's thread for it can leave the
/// in-process server it talks to without a thread to answer on (the concurrency pool has one
/// thread per CPU, and other tests block theirs), and then neither side ever finishes.
func runFlowwatch(_ arguments: [String]) async throws -> (Int32, String) {
    try await withCheckedThrowingContinuation { continuation in
        Thread.detachNewThread {
            continuation.resume(with: Result { () throws -> (Int32, String) in
                let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                    .deletingLastPathComponent()
                let p = Process()
                p.executableURL = root.appendingPathComponent(".build/debug/flowwatch")
                p.arguments = arguments
                let out = Pipe()
                p.standardOutput = out
                p.standardError = out
                try p.run()
                let data = out.fileHandleForReading.readDataToEndOfFile()
                p.waitUntilExit()
                return (p.terminationStatus, String(decoding: data, as: UTF8.self))
            })
        }
    }
}
