import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath
#if canImport(Glibc)
import Glibc
#endif

/// `flowwatch [observe] --follow`: attach, read, print until Ctrl-C, SIGTERM or --duration.
struct Observe: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "observe",
        abstract: "Observe this node's datapath live (the default command).")

    @Flag(name: .shortAndLong, help: "Print events as they happen (live capture needs it).")
    var follow = false

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var ringOptions: RingOptions
    @OptionGroup(title: "Selectors (Hubble's)") var selectors: SelectorOptions
    @OptionGroup var out: OutputOptions
    @OptionGroup var files: PcapOptions
    @OptionGroup(title: "Filters (Hubble's: one kind OR-ed, kinds AND-ed, --not negates the next)") var filters: FilterOptions

    @Option(help: "Also write every raw event to this recording (replay it with `flowwatch replay`).")
    var record: String?

    @Flag(help: "Overwrite existing recordings and capture files.")
    var force = false

    @Flag(name: .customLong("no-kernel-filter"),
          help: "Apply the filters in user space only: the kernel then emits every event, as with --record.")
    var noKernelFilter = false

    @OptionGroup(title: "From a server (flowwatch serve)") var remote: ServerClientOptions

    func validate() throws {
        if remote.server != nil {
            _ = try selectors.selection(follow: follow, defaultLast: EventSelection.defaultLast)
            return
        }
        guard follow else {
            throw ValidationError("""
                an observer in this process has no history yet: add --follow (-f) to print events as they \
                happen (--last N then starts with what the first moments brought); replay a recording with \
                `flowwatch replay FILE --last N`
                """)
        }
        _ = try selectors.selection(follow: true, defaultLast: nil)
    }

    func run() throws {
        if remote.server != nil { return try runRemote() }
        var capture = self.capture
        capture.defaultAggregation(everyPacketWritten: files.wanted || record != nil)
        let (config, configText) = try capture.loadConfig()
        let choice = try out.choice()
        let debug = out.verbose > 0
        let selection = try selectors.selection(follow: true, defaultLast: nil)
        let filter = try filters.filter(arguments: Array(CommandLine.arguments.dropFirst()),
                                        valueOptions: CaptureOptions.valueOptions + OutputOptions.valueOptions
                                            + PcapOptions.valueOptions + RingOptions.valueOptions
                                            + SelectorOptions.valueOptions + ["--record"])
        let ring = try ringOptions.makeRing(captureLength: capture.captureLength, defaultCapacity: RingOptions.observerCapacity)
        // A recording is raw and must hold everything; capture files get the filtered events,
        // so the kernel may leave out what the filters would.
        let prefilter = record == nil && !noKernelFilter ? KernelPrefilter(filter: filter, config: config) : .none
        try runLive(capture, config: config, debug: debug, prefilter: prefilter) { datapath in
            let recorder = try record.map {
                try openRecording($0, force: force, datapath: datapath, config: config, configText: configText,
                                  configPath: capture.config, capture: capture, debug: debug)
            }
            let captures = try files.open(snapshotLength: capture.captureLength, force: force)
            let interfaceName: @Sendable (UInt32) -> String? = { [datapath] in datapath.interfaceName($0) }
            // The reader thread orders events and stores them in the ring; capture files are
            // written there too, so that a slow terminal never costs them a packet.
            let pipeline = EventPipeline(output: .none, config: config, wallClockOffset: datapath.wallClockOffset,
                                         capturePackets: captures != nil, captureMeaning: files.pcapng != nil,
                                         filter: filter, ring: ring, interfaceName: interfaceName)
            var printer: LivePrinter?
            if !files.pcapOnly {
                let builder = FlowBuilder(config: config, wallClockOffset: datapath.wallClockOffset, interfaceName: interfaceName)
                let matcher = EventMatcher(builder: builder, filter: filter,
                                           includeDebug: EventPrinter.showsDebug(choice, showDebugEvents: debug))
                printer = LivePrinter(
                    ring: ring, query: RingQuery(ring: ring, selection: selection, matcher: matcher),
                    printer: EventPrinter(output: choice, numericIdentities: out.numeric, hubbleOptions: out.hubbleOptions,
                                          showDebugEvents: debug, interfaceName: interfaceName),
                    output: OutputWriter(fd: STDOUT_FILENO))
                printer!.start()
            }
            return LiveConsumer(pipeline: pipeline, ring: ring, printer: printer, recorder: recorder, recordPath: record,
                                captures: captures)
        }
    }
}

extension Observe {
    /// `--server`: the same selectors, filters and output, read from a server.
    func runRemote() throws {
        if files.wanted || record != nil {
            throw ValidationError("--server reads flows, not packets: --pcap, --pcapng and --record need the datapath here")
        }
        let selection = try selectors.selection(follow: follow, defaultLast: EventSelection.defaultLast)
        let filter = try filters.filter(arguments: Array(CommandLine.arguments.dropFirst()),
                                        valueOptions: CaptureOptions.valueOptions + OutputOptions.valueOptions
                                            + PcapOptions.valueOptions + RingOptions.valueOptions
                                            + SelectorOptions.valueOptions + ServerClientOptions.valueOptions + ["--record"])
        try observeRemote(remote, selection: selection, filter: filter, choice: try out.choice(), options: out.hubbleOptions,
                          debug: out.verbose > 0)
    }
}

/// `flowwatch record -w FILE`: like `tcpdump -w`, raw events to a file and nothing printed.
struct Record: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Record raw datapath events to a file for `flowwatch replay`.")

    @Option(name: .customShort("w"), help: "The recording to write.")
    var file: String

    @Flag(name: .short, help: "Record debug messages too (-v), as `observe -v` shows them.")
    var verbose: Int

    @Flag(help: "Overwrite an existing recording.")
    var force = false

    @OptionGroup var capture: CaptureOptions

    func run() throws {
        var capture = self.capture
        capture.defaultAggregation(everyPacketWritten: true)
        let (config, configText) = try capture.loadConfig()
        let debug = verbose > 0
        try runLive(capture, config: config, debug: debug) { datapath in
            let recorder = try openRecording(file, force: force, datapath: datapath, config: config, configText: configText,
                                             configPath: capture.config, capture: capture, debug: debug)
            return LiveConsumer(pipeline: nil, ring: nil, printer: nil, recorder: recorder, recordPath: file, captures: nil)
        }
    }
}

/// `flowwatch replay FILE`: a recording through the same decoder and outputs as live capture.
struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Print a recording made with --record or `flowwatch record`, in any output format.")

    @Argument(help: "The recording.")
    var file: String

    @OptionGroup(title: "Selectors (Hubble's; a recording is shown whole unless one is given)") var selectors: SelectorOptions
    @OptionGroup var out: OutputOptions
    @OptionGroup var files: PcapOptions
    @OptionGroup(title: "Filters (Hubble's: one kind OR-ed, kinds AND-ed, --not negates the next)") var filters: FilterOptions

    @Flag(help: "Overwrite existing capture files.")
    var force = false

    func run() throws {
        signal(SIGPIPE, SIG_IGN)
        let reader: RecordingReader
        do {
            reader = try RecordingReader(path: file)
        } catch {
            diagnostic("\(error)")
            throw ExitCode(2)
        }
        let filter = try filters.filter(arguments: Array(CommandLine.arguments.dropFirst()),
                                        valueOptions: OutputOptions.valueOptions + PcapOptions.valueOptions
                                            + SelectorOptions.valueOptions)
        let selection = try selectors.selection(follow: false, defaultLast: nil)
        var pipeline: EventPipeline
        do {
            pipeline = try EventPipeline(replaying: reader, output: files.pcapOnly ? .none : try out.choice(), numericIdentities: out.numeric,
                                         hubbleOptions: out.hubbleOptions, showDebugEvents: out.verbose > 0,
                                         capturePackets: files.wanted, captureMeaning: files.pcapng != nil, filter: filter,
                                         selection: selection)
        } catch {
            diagnostic("\(file): the config recorded in it: \(error)")
            throw ExitCode(2)
        }
        let captures = try files.open(snapshotLength: reader.header.captureLength, force: force)
        let output = OutputWriter(fd: files.pcapOnly ? -1 : STDOUT_FILENO)
        // Read once: an ArgumentParser property costs a generic metadata lookup per access.
        let pcapOnly = files.pcapOnly
        var failure: String?
        // The text of what is due, written out each time it reaches the writer's 64 KiB (and
        // dropped as it comes with --pcap-only, which prints nothing).
        var text: [UInt8] = []
        text.reserveCapacity(pcapOnly ? 0 : OutputWriter.defaultBufferSize + 4096)
        let drain: (inout [UInt8]) -> Bool = pcapOnly
            ? { $0.removeAll(keepingCapacity: true); return true }
            : { output.write(draining: &$0) }
        // Each record is read where it lies in the reader's buffer (the pipeline copies only
        // those it keeps), until the output is gone or the selection is complete.
        if !output.closed {
            do {
                try pipeline.replay(reader, into: &text, drainAt: pcapOnly ? 1 : OutputWriter.defaultBufferSize,
                                    capture: { captures?.write($0) }, drain: drain)
            } catch {
                failure = "\(error)"
            }
        }
        pipeline.finish(into: &text) { captures?.write($0) }
        _ = drain(&text)
        captures?.close()
        var summary = "\(pipeline.samples) records replayed, \(pipeline.decoded) decoded; lost: perf ring \(pipeline.lost), decode errors \(pipeline.decodeErrors.total)"
        if let last = pipeline.lastDecodeError { summary += " (last: \(last))" }
        if pipeline.filteredOut > 0 { summary += "; \(pipeline.filteredOut) events left out by the filters" }
        if pipeline.unselected > 0 { summary += "; \(pipeline.unselected) outside the selection" }
        if pipeline.late > 0 { summary += "; \(pipeline.late) events came later than the reorder window and were printed out of order" }
        diagnostic(summary)
        if let truncation = reader.truncation { diagnostic("\(file): \(truncation)") }
        if let failure {
            diagnostic(failure)
            throw ExitCode(1)
        }
        if let err = output.error {
            diagnostic("writing output failed: \(errnoText(err))")
            throw ExitCode(1)
        }
        if captures?.failed == true { throw ExitCode(1) }
        // Everything is written and closed. Ending here, as returning would, skips releasing
        // what the replay held one by one: the tens of thousands of sample arrays that the
        // reorder window kept in use, each freed from memory long out of the cache.
        Glibc.exit(EXIT_SUCCESS)
    }
}
