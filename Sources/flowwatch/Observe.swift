import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `flowwatch [observe] --follow`: attach, read, print until Ctrl-C, SIGTERM or --duration.
struct Observe: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Observe this node's datapath live (the default command).")

    @Flag(name: .shortAndLong, help: "Print events as they happen (live capture needs it).")
    var follow = false

    @Flag(name: .short, help: "More detail: -v adds debug messages (conntrack, identity, local delivery), -vv dissects packets.")
    var verbose: Int

    @Option(name: .long, help: "Device name pattern to observe (repeatable; shell wildcards). Default: lxc* and cilium_host.")
    var device: [String] = []

    @Option(help: "Endpoints and identities of this node (YAML or JSON; see samples/config.yaml).")
    var config: String?

    @Option(help: "Stop after this long (e.g. 30s, 5m).")
    var duration: TimeSpan?

    @Option(name: .customLong("capture-len"), help: "Packet bytes captured per trace; 0 captures whole packets.")
    var captureLength: UInt32 = 128

    @Option(name: .customLong("perf-pages"), help: "Pages of each CPU's perf ring (a power of two).")
    var perfPages = 64

    @Option(name: .customLong("attach"), help: "How to attach: auto (tcx where the kernel has it), tcx, or tc.")
    var attachMode: AttachMode = .auto

    @Flag(name: [.customShort("n"), .long], help: "Print identities as numbers, not names like world or host.")
    var numeric = false

    @Option(name: .customLong("ready-file"), help: ArgumentHelp("Create this file once attached and reading (for scripts).", visibility: .hidden))
    var readyFile: String?

    func validate() throws {
        guard perfPages > 0, perfPages & (perfPages - 1) == 0 else {
            throw ValidationError("--perf-pages must be a power of two, not \(perfPages)")
        }
        guard captureLength <= 65000 else { throw ValidationError("--capture-len is at most 65000 bytes (0 = whole packet)") }
        guard follow else {
            throw ValidationError("live observation prints events as they happen: add --follow (-f)")
        }
    }

    func run() throws {
        let nodeConfig = try loadConfig()
        var options = DatapathOptions()
        if !device.isEmpty { options.devicePatterns = device }
        options.attachMode = attachMode
        options.perfPages = perfPages
        options.settings = ProgramSettings(captureLength: captureLength, debug: verbose > 0)

        let datapath: Datapath
        do {
            datapath = try Datapath(config: nodeConfig, options: options)
        } catch {
            diagnostic("\(error)")
            throw ExitCode(error == .tcxUnsupported ? 2 : 1)
        }
        // SIGINT and SIGTERM are blocked in every thread (set before any exists) and taken by
        // the main thread with sigtimedwait: deterministic, whatever mask a parent handed down.
        signal(SIGPIPE, SIG_IGN)
        var stopSignals = sigset_t()
        sigemptyset(&stopSignals)
        sigaddset(&stopSignals, SIGINT)
        sigaddset(&stopSignals, SIGTERM)
        pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

        let out = OutputWriter(fd: STDOUT_FILENO)
        let consumer = LiveConsumer(datapath: datapath, output: out, verbosity: verbose, numeric: numeric)
        var handlers = DatapathHandlers { consumer.consume($0) }
        handlers.batchEnd = { consumer.batchEnd() }
        handlers.device = { report($0) }
        handlers.failed = { consumer.fail($0) }

        do {
            try datapath.start(handlers)
        } catch {
            datapath.stop()
            diagnostic("\(error)")
            throw ExitCode(1)
        }
        diagnostic("observing devices matching \(options.devicePatterns.joined(separator: ", ")) on \(datapath.cpus) CPUs with \(perfPages)x\(sysconf(Int32(_SC_PAGESIZE))) of shared memory per CPU (\(datapath.mode)); Ctrl-C to quit")
        if let readyFile {
            let fd = creat(readyFile, 0o644)
            if fd >= 0 { close(fd) } else { diagnostic("cannot create \(readyFile): \(errnoText(errno))") }
        }

        let deadline = duration.map { KernelClock.boottimeNow() + $0.nanoseconds }
        while !consumer.shouldStop {
            if let deadline, KernelClock.boottimeNow() >= deadline { break }
            var tick = timespec(tv_sec: 0, tv_nsec: 50_000_000)
            let sig = sigtimedwait(&stopSignals, nil, &tick)
            if sig == SIGINT || sig == SIGTERM { break }
        }
        datapath.stop()
        consumer.finish()
        if let error = consumer.failure {
            diagnostic("\(error)")
            throw ExitCode(1)
        }
        if let err = out.error {
            diagnostic("writing output failed: \(errnoText(err))")
            throw ExitCode(1)
        }
    }

    func loadConfig() throws -> NodeConfig {
        guard let path = config else { return NodeConfig() }
        guard let f = fopen(path, "r") else {
            diagnostic("cannot read config \(path): \(errnoText(errno))")
            throw ExitCode(2)
        }
        defer { fclose(f) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = fread(&chunk, 1, chunk.count, f)
            if n <= 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        do {
            return try NodeConfig.parse(String(decoding: bytes, as: UTF8.self), file: path)
        } catch {
            diagnostic("\(error)")
            throw ExitCode(2)
        }
    }
}

private func report(_ event: DeviceEvent) {
    switch event {
    case .attached(let name, let ifindex, let role, let endpointID, let mode):
        diagnostic("attached to \(name) (ifindex \(ifindex), \(role)\(endpointID != 0 ? " \(endpointID)" : ""), \(mode))")
    case .detached(let name, _, let reason):
        diagnostic("detached from \(name) (\(reason))")
    case .staleRemoved(let name, let hooks):
        diagnostic("removed stale flowwatch filters from \(name) \(hooks.joined(separator: " and ")) (left by an earlier run that was killed)")
    case .failed(let name, let error):
        diagnostic("not observing \(name): \(error)")
    case .unknownEndpoint(let name):
        diagnostic("\(name) is not an endpoint in the config: its events carry endpoint 0 and identity 0")
    }
}

/// Decodes and prints on the reader thread; everything here is touched by that thread only,
/// except `finish` and `failure`, which run after the reader stopped.
final class LiveConsumer: @unchecked Sendable {
    private let datapath: Datapath
    private let output: OutputWriter
    private let formatter: MonitorFormatter
    private var stream = MonitorEventStream()
    private var received: UInt64 = 0
    private var lostRecords: UInt64 = 0
    private let failed = Mutex<DatapathError?>(nil)
    private let outputClosed = Atomic<Bool>(false)

    init(datapath: Datapath, output: OutputWriter, verbosity: Int, numeric: Bool) {
        self.datapath = datapath
        self.output = output
        self.formatter = MonitorFormatter(
            verbosity: verbosity >= 2 ? .verbose : verbosity == 1 ? .debug : .info,
            numericIdentities: numeric,
            interfaceName: { [datapath] in datapath.interfaceName($0) })
    }

    func consume(_ sample: RawSample) {
        received += 1
        if case .lost(let n) = sample.kind { lostRecords += n }
        guard let event = stream.decode(sample) else { return }
        output.write { formatter.write(event, into: &$0) }
    }

    func batchEnd() {
        output.flush()
        if output.closed { outputClosed.store(true, ordering: .relaxed) }
    }

    /// The reader failed or nobody reads the output any more.
    var shouldStop: Bool { outputClosed.load(ordering: .relaxed) || failure != nil }

    func fail(_ error: DatapathError) { failed.withLock { $0 = error } }
    var failure: DatapathError? { failed.withLock { $0 } }

    /// Flushes and prints the tcpdump-like summary.
    func finish() {
        output.flush()
        let counters = datapath.program.counters()
        var lost: [String] = []
        for (cpu, n) in datapath.lostPerCPU.enumerated() where n > 0 { lost.append("CPU(\(cpu)) \(n)") }
        var line = "\(received) records read, \(stream.decoded) decoded; \(counters.packets) packets observed"
        line += "; lost: perf ring \(lostRecords)" + (lost.isEmpty ? "" : " [\(lost.joined(separator: ", "))]")
        line += ", kernel output errors \(counters.outputErrors), decode errors \(stream.errors.total)"
        if let last = stream.lastError { line += " (last: \(last))" }
        diagnostic(line)
    }
}
