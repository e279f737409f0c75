import ArgumentParser
import Dispatch
import FlowwatchAPI
import FlowwatchCore
import FlowwatchServer
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Which server a client talks to, and how.
struct ServerClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Read from a running `flowwatch serve` (or Hubble server) instead of observing in-process: unix:///path or host:port.", valueName: "address"))
    var server: String?

    @Flag(help: "Use TLS to the server (implied by the --tls-* files).")
    var tls = false

    @Option(name: .customLong("tls-ca-cert-files"), help: ArgumentHelp("The CA that signed the server's certificate (PEM; default: the system's).", valueName: "file"))
    var tlsCA: String?

    @Option(name: .customLong("tls-client-cert-file"), help: ArgumentHelp("Mutual TLS: this client's certificate (PEM).", valueName: "file"))
    var tlsClientCert: String?

    @Option(name: .customLong("tls-client-key-file"), help: ArgumentHelp("Mutual TLS: this client's key (PEM).", valueName: "file"))
    var tlsClientKey: String?

    @Option(name: .customLong("tls-server-name"),
            help: ArgumentHelp("The name to expect in the server's certificate, and to send as SNI (default: the --server host).", valueName: "name"))
    var tlsServerName: String?

    static let valueOptions = ["--server", "--tls-ca-cert-files", "--tls-client-cert-file", "--tls-client-key-file", "--tls-server-name"]

    func validate() throws {
        if (tlsClientCert == nil) != (tlsClientKey == nil) { throw ValidationError("--tls-client-cert-file and --tls-client-key-file go together") }
        if let server { do { _ = try ServerTarget(server) } catch { throw ValidationError("--server: \(error)") } }
    }

    func target(default fallback: String = "unix://\(ServerConfiguration.defaultUnixSocket)") throws -> ServerTarget {
        do { return try ServerTarget(server ?? fallback) } catch { throw ValidationError("--server: \(error)") }
    }

    var clientTLS: ClientTLS? {
        guard tls || tlsCA != nil || tlsClientCert != nil || tlsServerName != nil else { return nil }
        return ClientTLS(ca: tlsCA, certificate: tlsClientCert, key: tlsClientKey, serverName: tlsServerName)
    }
}

/// `flowwatch status`: the server's ring and rate, as `hubble status` prints them.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Print a running server's status, like `hubble status`.")

    @OptionGroup var client: ServerClientOptions

    func run() throws {
        let target = try client.target()
        let tls = client.clientTLS
        let result: Result<Observer_ServerStatusResponse, any Error> = blockingResult {
            try await withObserverClient(target, tls: tls) { try await $0.serverStatus(Observer_ServerStatusRequest()) }
        }
        switch result {
        case .success(let s):
            let percent = s.maxFlows == 0 ? 0 : Double(s.numFlows) / Double(s.maxFlows) * 100
            var text = "Healthcheck (via \(target)): Ok\n"
            text += "Current/Max Flows: \(grouped(s.numFlows))/\(grouped(s.maxFlows)) (\(formatted(percent))%)\n"
            text += "Flows/s: \(formatted(s.flowsRate))\n"
            if s.hasNumConnectedNodes {
                text += "Connected Nodes: \(s.numConnectedNodes.value)/\(s.numConnectedNodes.value + s.numUnavailableNodes.value)\n"
            }
            // flowwatch's own line, after Hubble's: a Hubble server sends no timed runs.
            if s.programTimedRuns > 0 {
                let ns = Double(s.programRunTimeNs) / Double(s.programTimedRuns)
                text += "Program: \(Int(ns.rounded())) ns per packet in the kernel (over \(grouped(s.programTimedRuns)) timed runs)\n"
            }
            print(text, terminator: "")
        case .failure(let error):
            diagnostic("\(target): \(describe(error))")
            throw ExitCode(1)
        }
    }
}

/// 4,095.
func grouped(_ n: UInt64) -> String {
    let digits = Array(String(n))
    var out = ""
    for (i, d) in digits.enumerated() {
        if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
        out.append(d)
    }
    return out
}

/// Two decimals, as Hubble's `%.2f`.
func formatted(_ v: Double) -> String {
    let scaled = (v * 100).rounded()
    let whole = Int64(scaled) / 100, fraction = abs(Int64(scaled) % 100)
    return "\(whole).\(fraction < 10 ? "0" : "")\(fraction)"
}

func describe(_ error: any Error) -> String { "\(error)" }

/// `flowwatch --server ADDRESS …`: the same selectors, filters and output as in-process, from
/// a server's GetFlows (and, with -v, GetDebugEvents merged in time order).
func observeRemote(_ client: ServerClientOptions, selection: EventSelection, filter: FlowFilterSet, choice: OutputChoice,
                   options: HubbleOptions, debug: Bool) throws {
    signal(SIGPIPE, SIG_IGN)
    guard case .hubble(let format) = choice else {
        throw ValidationError("-o monitor prints the datapath's raw events, which a server does not send: use compact, json, dict or table with --server")
    }
    let target = try client.target()
    let tls = client.clientTLS
    let printer = RemotePrinter(format.makeOutput(options: options))
    let result: Result<Void, any Error> = blockingResult {
        try await withObserverClient(target, tls: tls) { observer in
            if debug && !selection.follow {
                // Both whole, merged by time, then the selection's count applied to the merge.
                async let flows = observer.getFlows(Observer_GetFlowsRequest(selection, filter: filter)) { r in
                    var out: [FlowEvent] = []
                    for try await m in r.messages { if let e = try FlowEvent(m) { out.append(e) } }
                    return out
                }
                async let debugEvents = observer.getDebugEvents(Observer_GetDebugEventsRequest(selection)) { r in
                    var out: [FlowEvent] = []
                    for try await m in r.messages {
                        let d = DebugEvent(m.debugEvent, nodeName: m.nodeName, time: FlowTime(m.time))
                        if filter.matches(.debug(d)) { out.append(.debug(d)) }
                    }
                    return out
                }
                var merged = try await flows + debugEvents
                merged.sort { $0.time < $1.time }
                switch selection.number {
                case .last(let n): merged = Array(merged.suffix(Int(n)))
                case .first(let n): merged = Array(merged.prefix(Int(n)))
                case .all: break
                }
                for e in merged { printer.write(e) }
                return
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    try await observer.getFlows(Observer_GetFlowsRequest(selection, filter: filter)) { r in
                        for try await m in r.messages {
                            if let e = try FlowEvent(m) { printer.write(e) }
                            if printer.closed { return }
                        }
                    }
                }
                if debug {
                    group.addTask {
                        try await observer.getDebugEvents(Observer_GetDebugEventsRequest(selection)) { r in
                            for try await m in r.messages {
                                let d = DebugEvent(m.debugEvent, nodeName: m.nodeName, time: FlowTime(m.time))
                                if filter.matches(.debug(d)) { printer.write(.debug(d)) }
                                if printer.closed { return }
                            }
                        }
                    }
                }
                // A closed output (`| head`) ends the whole query.
                try await group.next()
                group.cancelAll()
                try await group.waitForAll()
            }
        }
    }
    printer.finish()
    if case .failure(let error) = result, !printer.closed {
        diagnostic("\(target): \(describe(error))")
        throw ExitCode(1)
    }
}

/// Prints events from the stream tasks, one at a time, flushing after each (a follow is read
/// by a person or a pipe as it comes).
final class RemotePrinter: Sendable {
    private let state: Mutex<(output: any FlowOutput, writer: OutputWriter)>

    init(_ output: any FlowOutput) {
        state = Mutex((output, OutputWriter(fd: STDOUT_FILENO)))
    }

    var closed: Bool { state.withLock { $0.writer.closed } }

    func write(_ event: FlowEvent) {
        state.withLock { s in
            s.writer.write { s.output.write(event, into: &$0) }
            s.writer.flush()
        }
    }

    func finish() {
        state.withLock { s in
            s.writer.write { s.output.flush(into: &$0) }
            s.writer.flush()
        }
    }
}

/// Runs `body` from the main thread (not one of Swift concurrency's) and waits for its result.
func blockingResult<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) -> Result<T, any Error> {
    let box = ResultCell<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.value = .success(try await body()) } catch { box.value = .failure(error) }
        done.signal()
    }
    done.wait()
    return box.value!
}

private final class ResultCell<T>: @unchecked Sendable {
    var value: Result<T, any Error>?
}

