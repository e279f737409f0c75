import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath
#if canImport(Glibc)
import Glibc
#endif

extension RunTiming: ExpressibleByArgument {}

/// How events are printed: shared by live observation and replay.
struct OutputOptions: ParsableArguments {
    @Option(name: [.customShort("o"), .customLong("output")],
            help: "monitor (cilium monitor's lines), compact (Hubble's, the default), json, jsonpb, dict or table.")
    var output: String?

    @Flag(name: .short, help: "More detail: -v adds debug messages (conntrack, identity, local delivery), -vv dissects packets. Without -o, -v and -vv print cilium monitor's lines.")
    var verbose: Int

    @Flag(name: [.customShort("n"), .long], help: "Print identities as numbers, not names like world or host.")
    var numeric = false

    @Flag(name: .customLong("print-node-name"), help: "Print the node name in each flow (Hubble formats).")
    var printNodeName = false

    @Option(name: .customLong("time-format"), help: "Hubble formats' time: \(HubbleTimeFormat.allCases.map(\.rawValue).joined(separator: ", ")).")
    var timeFormat: String = HubbleTimeFormat.stampMilli.rawValue

    func validate() throws {
        _ = try choice()
        guard HubbleTimeFormat(name: timeFormat) != nil else {
            throw ValidationError("--time-format: '\(timeFormat)' is not one of \(HubbleTimeFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
    }

    /// -o wins; without it, -v/-vv keep cilium monitor's habit and compact is the default.
    func choice() throws -> OutputChoice {
        let verbosity: MonitorFormatter.Verbosity = verbose >= 2 ? .verbose : verbose == 1 ? .debug : .info
        guard let output else { return verbose > 0 ? .monitor(verbosity) : .hubble(.compact) }
        if output.lowercased() == "monitor" { return .monitor(verbosity) }
        guard let format = HubbleOutputFormat(name: output) else {
            throw ValidationError("-o: '\(output)' is not one of monitor, \(HubbleOutputFormat.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return .hubble(format)
    }

    /// Options of this group that take a value: the filter scan skips their values.
    static let valueOptions = ["-o", "--output", "--time-format"]

    var hubbleOptions: HubbleOptions {
        HubbleOptions(timeFormat: HubbleTimeFormat(name: timeFormat) ?? .stampMilli, numericIdentities: numeric,
                      printNodeName: printNodeName)
    }
}

/// What to observe and how: shared by `observe` and `record`.
struct CaptureOptions: ParsableArguments {
    @Option(name: .long, help: "Device name pattern to observe (repeatable; shell wildcards). Default: lxc* and cilium_host.")
    var device: [String] = []

    @Option(help: "Endpoints and identities of this node (YAML or JSON; see samples/config.yaml).")
    var config: String?

    @Option(help: "Stop after this long (e.g. 30s, 5m).")
    var duration: TimeSpan?

    @Option(name: .customLong("capture-len"), help: "Packet bytes captured per trace; 0 captures whole packets.")
    var captureLength: UInt32 = 128

    @Option(name: .customLong("perf-pages"), help: "Pages of each CPU's perf ring (a power of two; 256 = 1 MiB with 4 KiB pages; default 1024 up to 4 CPUs, 512 for 8, 256 from 16).")
    var perfPages = DatapathOptions.defaultPerfPages

    @Option(name: .customLong("attach"), help: "How to attach: auto (tcx where the kernel has it), tcx, or tc.")
    var attachMode: AttachMode = .auto

    @Option(name: .customLong("program-timing"), help: "When the kernel times the observer program, for its cost per packet: sampled (1s in every 10), always, or off. Timing slows every BPF program on the machine while it is on.")
    var programTiming = RunTiming.sampled

    @Option(help: ArgumentHelp("Monitor aggregation, Cilium's levels: none (every packet at every point), lowest or low (no from-* observation points), medium or maximum (per connection: new, new TCP flags, FIN/RST, else once per --aggregation-interval). Default: medium, but none when writing --pcap, --pcapng or a recording. Debug messages are never aggregated.", valueName: "level"))
    var aggregation: String?

    @Option(name: .customLong("aggregation-interval"), help: ArgumentHelp("At medium and maximum, report an active connection at most this often (whole seconds).", valueName: "duration"))
    var aggregationInterval: TimeSpan = TimeSpan(seconds: UInt64(ProgramSettings.defaultAggregationInterval))

    @Option(name: .customLong("ready-file"), help: ArgumentHelp("Create this file once attached and reading (for scripts).", visibility: .hidden))
    var readyFile: String?

    func validate() throws {
        guard perfPages > 0, perfPages & (perfPages - 1) == 0 else {
            throw ValidationError("--perf-pages must be a power of two, not \(perfPages)")
        }
        guard captureLength <= 65000 else { throw ValidationError("--capture-len is at most 65000 bytes (0 = whole packet)") }
        if let aggregation, MonitorAggregation(name: aggregation) == nil {
            throw ValidationError("--aggregation: '\(aggregation)' is not one of \(MonitorAggregation.allCases.map(\.description).joined(separator: ", "))")
        }
        let ns = aggregationInterval.nanoseconds
        guard ns >= 1_000_000_000, ns % 1_000_000_000 == 0, ns / 1_000_000_000 <= UInt64(UInt32.max) else {
            throw ValidationError("--aggregation-interval counts whole seconds, at least 1s (conntrack's clock has seconds), like 5s or 1m")
        }
    }

    static let valueOptions = ["--device", "--config", "--duration", "--capture-len", "--perf-pages", "--attach", "--program-timing",
                               "--aggregation", "--aggregation-interval", "--ready-file"]

    /// Chooses the aggregation level if none was asked for: none when every packet is written
    /// to a file (pcap, pcapng, a recording; tcpdump -w keeps them all), else medium, the level
    /// Hubble users see on a node Cilium's Helm chart installed.
    mutating func defaultAggregation(everyPacketWritten: Bool) {
        if aggregation == nil { aggregation = everyPacketWritten ? "none" : "medium" }
    }

    func datapathOptions(debug: Bool) -> DatapathOptions {
        var options = DatapathOptions()
        if !device.isEmpty { options.devicePatterns = device }
        options.attachMode = attachMode
        options.perfPages = perfPages
        options.runTiming = programTiming
        options.settings = ProgramSettings(captureLength: captureLength, debug: debug,
                                           aggregation: aggregation.flatMap(MonitorAggregation.init(name:)) ?? .medium,
                                           aggregationInterval: UInt32(aggregationInterval.nanoseconds / 1_000_000_000))
        return options
    }

    /// The config and its text (kept verbatim for recordings).
    func loadConfig() throws -> (NodeConfig, String) {
        guard let path = config else { return (NodeConfig(), "") }
        let text = try readTextFile(path, what: "config")
        do {
            return (try NodeConfig.parse(text, file: path), text)
        } catch {
            diagnostic("\(error)")
            throw ExitCode(2)
        }
    }
}

/// A whole text file, or a diagnostic naming it and exit status 2.
func readTextFile(_ path: String, what: String) throws -> String {
    guard let f = fopen(path, "r") else {
        diagnostic("cannot read \(what) \(path): \(errnoText(errno))")
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
    if ferror(f) != 0 {
        diagnostic("cannot read \(what) \(path): \(errnoText(errno))")
        throw ExitCode(2)
    }
    return String(decoding: bytes, as: UTF8.self)
}
