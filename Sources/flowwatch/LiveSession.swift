import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What happens to each sample on the reader thread: recorded (if asked), then put in time
/// order and into the flow ring, and written to capture files (if asked). Text is printed by a
/// `LivePrinter` on a thread of its own, reading the ring: a slow terminal makes the printer
/// lose events (counted and shown), never the reader. Everything here is touched by the reader
/// thread only, except `finish`, `failure` and `shouldStop`, which the main thread calls.
final class LiveConsumer: @unchecked Sendable {
    // The variables below are the reader thread's (others read them after it is joined), so
    // they are not checked for exclusive access at run time: per record, the checks cost more
    // than the rest of `consume` around the pipeline.
    @exclusivity(unchecked) private var pipeline: EventPipeline?
    /// `pipeline != nil`, kept apart: testing the optional per record copied the whole pipeline.
    private let hasPipeline: Bool
    private let ring: EventRing?
    private let printer: LivePrinter?
    @exclusivity(unchecked) private var recorder: RecordingWriter?
    private let recordPath: String?
    @exclusivity(unchecked) private var recorded: UInt64 = 0
    private(set) var recordError: String?
    @exclusivity(unchecked) private var samples: UInt64 = 0
    @exclusivity(unchecked) private var lost: UInt64 = 0
    private let failed = Mutex<DatapathError?>(nil)
    private let started = KernelClock.boottimeNow()
    /// Device names reported by the watcher thread, written to the recording by the reader
    /// thread ahead of the next sample (the writer has one owner).
    private let pendingNames = Mutex<[(UInt32, String)]>([])
    private let namesPending = Atomic<Bool>(false)

    private let captures: CaptureSink?
    /// The pipeline's text goes to the printer through the ring; this stays empty.
    @exclusivity(unchecked) private var discard: [UInt8] = []

    init(pipeline: EventPipeline?, ring: EventRing?, printer: LivePrinter?, recorder: RecordingWriter?,
         recordPath: String?, captures: CaptureSink?) {
        self.pipeline = pipeline
        hasPipeline = pipeline != nil
        self.ring = ring
        self.printer = printer
        self.recorder = recorder
        self.recordPath = recordPath
        self.captures = captures
    }

    /// A device was attached: the recording learns its name. Any thread.
    func interfaceAttached(ifindex: Int32, name: String) {
        guard recordPath != nil else { return }
        pendingNames.withLock { $0.append((UInt32(bitPattern: ifindex), name)) }
        namesPending.store(true, ordering: .releasing)
    }

    func consume(_ sample: RawSample) {
        samples += 1
        if namesPending.load(ordering: .acquiring) { recordNames(at: sample.timestamp) }
        if case .lost(let n) = sample.kind { lost += n }
        if let r = recorder {
            do {
                try r.append(sample)
                recorded += 1
            } catch {
                // Recording stops; observing goes on, and the exit status will say it failed.
                recordError = "\(error)"
                diagnostic("recording stopped: \(error)")
                recorder = nil
            }
        }
        guard hasPipeline else { return }
        let captures = captures
        pipeline!.consume(sample, into: &discard) { captures?.write($0) }
    }

    private func recordNames(at timestamp: UInt64) {
        namesPending.store(false, ordering: .relaxed)
        let names = pendingNames.withLock { p -> [(UInt32, String)] in
            defer { p.removeAll() }
            return p
        }
        guard let r = recorder else { return }
        for (ifindex, name) in names {
            do {
                try r.appendInterface(ifindex: ifindex, name: name, timestamp: timestamp)
            } catch {
                recordError = "\(error)"
                diagnostic("recording stopped: \(error)")
                recorder = nil
                return
            }
        }
    }

    /// After each perf poll: releases what the reorder window holds by now, so a quiet node's
    /// last events are not kept waiting.
    func batchEnd() {
        let now = KernelClock.boottimeNow()
        guard hasPipeline else { return }
        let captures = captures
        pipeline!.advance(to: now, into: &discard) { captures?.write($0) }
        captures?.flushIfDue(now: now)
    }

    var captureFailed: Bool { captures?.failed ?? false }
    var outputFailed: Bool { printer?.failed ?? false }

    func fail(_ error: DatapathError) { failed.withLock { $0 = error } }
    var failure: DatapathError? { failed.withLock { $0 } }
    /// The reader failed or nobody reads the output any more.
    var shouldStop: Bool { (printer?.closed ?? false) || failure != nil }

    /// After the reader stopped: release what the reorder window holds, let the printer drain
    /// the ring, close the recording, print the summary.
    func finish(_ datapath: Datapath) {
        if pipeline != nil {
            let captures = captures
            pipeline!.finish(into: &discard) { captures?.write($0) }
        }
        printer?.stop()
        captures?.close()
        if let r = recorder {
            do { try r.close(sync: true) } catch { recordError = "\(error)"; diagnostic("recording: \(error)") }
        }
        let counters = datapath.program.counters()
        var perCPU: [String] = []
        for (cpu, n) in datapath.lostPerCPU.enumerated() where n > 0 { perCPU.append("CPU(\(cpu)) \(n)") }
        var line = "\(samples) records read; \(counters.packets) packets observed"
        if let ns = datapath.runStatistics().nanosecondsPerPacket {
            line += " (\(Int(ns.rounded())) ns per packet in the kernel)"
        } else if let why = datapath.runTimeUnavailable {
            line += " (no kernel run time: \(why))"
        }
        if datapath.options.settings.addressFilter { line += ", \(counters.filtered) traces left out by the kernel filter" }
        line += "; lost: perf ring \(lost)" + (perCPU.isEmpty ? "" : " [\(perCPU.joined(separator: ", "))]")
        line += ", kernel output errors \(counters.outputErrors)"
        if datapath.unknownRecords > 0 { line += ", unknown perf records \(datapath.unknownRecords)" }
        if let printer { line += ", ring \(printer.missed) (output too slow)" }
        let decode = printer?.decodeErrors ?? pipeline.map { ($0.decodeErrors.total, $0.lastDecodeError) }
        if let (total, last) = decode {
            line += ", decode errors \(total)"
            if let last { line += " (last: \(last))" }
        }
        if let p = pipeline, p.late > 0 {
            line += "; \(p.late) events came later than the reorder window and were printed out of order"
        }
        if let ring { line += "; " + Self.ringStatus(ring, since: started) }
        if let recordPath { line += "; \(recorded) records written to \(recordPath)" }
        diagnostic(line)
    }

    /// Hubble's status figures for a ring: `Current/Max Flows: 4,095/4,095 (100.00%), Flows/s: 12.34`.
    static func ringStatus(_ ring: EventRing, since start: UInt64) -> String {
        let seconds = max(Double(KernelClock.boottimeNow() &- start) / 1e9, 1e-9)
        let percent = Double(ring.count) * 100 / Double(ring.capacity)
        return "Current/Max Flows: \(ring.count)/\(ring.capacity) (\(fixed(percent, 2))%), Flows/s: \(fixed(Double(ring.writtenTotal) / seconds, 2))"
    }
}

/// `value` with `digits` decimals, without Foundation's formatter.
func fixed(_ value: Double, _ digits: Int) -> String {
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    let scaled = (value * scale).rounded()
    let whole = Int64(scaled / scale)
    let frac = Int64(abs(scaled - Double(whole) * scale))
    let text = String(frac)
    return "\(whole).\(String(repeating: "0", count: max(0, digits - text.count)))\(text)"
}

/// The printer thread of a live observer: its own query over the flow ring (selectors and
/// filters), text to standard output. It flushes whenever it has caught up with the ring, so a
/// quiet node's flows show at once, and in 64 KiB writes under load.
final class LivePrinter: @unchecked Sendable {
    private var query: RingQuery
    /// The query's flow builder, held once: taking it from the query per event copied it.
    private let builder: FlowBuilder
    private var printer: EventPrinter
    private let output: OutputWriter
    private let stopping = Atomic<Bool>(false)
    private let outputClosed = Atomic<Bool>(false)
    /// The ring, to wake the printer asleep on it when it is told to stop.
    private let ring: EventRing
    private var worker: Worker?
    /// Read after `stop()` returns (the join orders it).
    private(set) var missed: UInt64 = 0
    private(set) var decodeErrors: (UInt64, DecodeError?) = (0, nil)

    init(ring: EventRing, query: RingQuery, printer: EventPrinter, output: OutputWriter) {
        self.ring = ring
        self.query = query
        builder = query.matcher.builder
        self.printer = printer
        self.output = output
    }

    /// Nobody reads the output any more (`| head` went away).
    var closed: Bool { outputClosed.load(ordering: .relaxed) }

    func start() {
        // Behind the perf reader and the node's own work: a busy CPU delays the text, which
        // the flow ring absorbs (or counts as lost there), not the reader, whose delays lose
        // events in the kernel, nor the pods being observed.
        worker = Worker(name: "fw-printer", nice: 5) { [self] in run() }
    }

    /// Prints what the ring still holds for this reader, then returns.
    func stop() {
        stopping.store(true, ordering: .releasing)
        // Its follow ends, or the next one does: it then sees the flag.
        ring.wakeFollowers()
        worker?.join()
        worker = nil
        missed = query.missed
        decodeErrors = (query.decodeErrors.total, query.lastDecodeError)
        if let err = output.error { diagnostic("writing output failed: \(errnoText(err))") }
    }

    var failed: Bool { output.error != nil }

    private func run() {
        // The loop's own copies, put back when it ends (`stop()` reads them after the join):
        // a class's properties are checked for exclusive access on every use.
        var query = self.query
        var printer = self.printer
        defer {
            self.query = query
            self.printer = printer
        }
        let builder = self.builder
        let output = self.output
        var pending = false
        loop: while !output.closed {
            // Caught up, it sleeps until the ring is written or `stop()` wakes it: looking for
            // the flag every 50 ms woke it 60 times a second (three times a look, lingering
            // first: see RingDoorbell).
            let timeout: Duration = pending ? .zero : .seconds(1)
            switch query.next(timeout: timeout) {
            case .event(let match):
                output.write { printer.write(match, builder: builder, into: &$0) }
                pending = true
            case .lost(let lost):
                output.write { printer.write(lost, into: &$0) }
                pending = true
            case .idle:
                if pending {
                    output.write { printer.flush(into: &$0) }
                    output.flush()
                    pending = false
                } else if stopping.load(ordering: .acquiring) {
                    break loop
                }
            case .end:
                break loop
            }
        }
        output.write { printer.flush(into: &$0) }
        output.flush()
        if output.closed { outputClosed.store(true, ordering: .relaxed) }
    }
}

/// Loads the program, attaches, runs `consumer` on every sample until Ctrl-C, SIGTERM,
/// `--duration`, a closed output or a datapath failure, then detaches and summarises.
func runLive(_ capture: CaptureOptions, config: NodeConfig, debug: Bool, prefilter: KernelPrefilter = .none,
             onDevice: @escaping @Sendable (DeviceEvent) -> Void = { _ in },
             makeConsumer: (Datapath) throws -> LiveConsumer) throws {
    // SIGINT and SIGTERM are blocked in every thread (set before any exists) and taken by the
    // main thread with sigtimedwait: deterministic, whatever mask a parent handed down.
    signal(SIGPIPE, SIG_IGN)
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    sigaddset(&stopSignals, SIGINT)
    sigaddset(&stopSignals, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

    var prefilter = prefilter
    if let a = prefilter.addresses, a.entries.count > ObserverProgram.addressFilterCapacity {
        // Too many to hand over (a huge --namespace): user space filters them all, as before.
        prefilter.addresses = nil
    }
    var options = capture.datapathOptions(debug: debug && prefilter.keepsDebug)
    if let addresses = prefilter.addresses {
        options.settings.addressFilter = true
        options.addressFilter = addresses.entries
    }
    options.interfaceNames = prefilter.interfaces.map(Set.init)
    let datapath: Datapath
    do {
        datapath = try Datapath(config: config, options: options)
    } catch {
        diagnostic("\(error)")
        throw ExitCode(error == .tcxUnsupported ? 2 : 1)
    }
    let consumer = try makeConsumer(datapath)
    var handlers = DatapathHandlers { consumer.consume($0) }
    handlers.batchEnd = { consumer.batchEnd() }
    handlers.device = { event in
        report(event)
        onDevice(event)
        if case .attached(let name, let ifindex, _, _, _) = event { consumer.interfaceAttached(ifindex: ifindex, name: name) }
    }
    handlers.failed = { consumer.fail($0) }
    do {
        try datapath.start(handlers)
    } catch {
        datapath.stop()
        diagnostic("\(error)")
        throw ExitCode(1)
    }
    if let text = describe(prefilter, debug: debug) { diagnostic("kernel filter: " + text) }
    diagnostic("observing devices matching \(options.devicePatterns.joined(separator: ", ")) on \(datapath.cpus) CPUs with \(options.perfPages)x\(sysconf(Int32(_SC_PAGESIZE))) of shared memory per CPU (\(datapath.mode)), aggregation \(options.settings.aggregation); Ctrl-C to quit")
    if let readyFile = capture.readyFile {
        let fd = creat(readyFile, 0o644)
        if fd >= 0 { close(fd) } else { diagnostic("cannot create \(readyFile): \(errnoText(errno))") }
    }

    // Signals end the wait at once; a closed output or a failure is seen within a tick (four a
    // second: an idle observer's threads wake as little as they can, see StopFlag), and the
    // end of --duration when it comes.
    let deadline = capture.duration.map { KernelClock.boottimeNow() + $0.nanoseconds }
    while !consumer.shouldStop {
        var wait: UInt64 = 250_000_000
        if let deadline {
            let now = KernelClock.boottimeNow()
            if now >= deadline { break }
            wait = min(wait, deadline - now)
        }
        var tick = timespec(tv_sec: 0, tv_nsec: Int(wait))
        let sig = sigtimedwait(&stopSignals, nil, &tick)
        if sig == SIGINT || sig == SIGTERM { break }
    }
    datapath.stop()
    consumer.finish(datapath)
    if let error = consumer.failure {
        diagnostic("\(error)")
        throw ExitCode(1)
    }
    if consumer.recordError != nil || consumer.captureFailed || consumer.outputFailed { throw ExitCode(1) }
}

/// A new recording for a live capture, with the header replay needs.
func openRecording(_ path: String, force: Bool, datapath: Datapath, config: NodeConfig, configText: String,
                   configPath: String?, capture: CaptureOptions, debug: Bool) throws -> RecordingWriter {
    let now = KernelClock.boottimeNow()
    let header = RecordingHeader(
        nodeName: config.nodeName, wallClockOffset: datapath.wallClockOffset, startBoottime: now,
        startWallClock: Int64(now) + datapath.wallClockOffset, cpuCount: UInt32(datapath.cpus),
        flowwatchVersion: Flowwatch.configuration.version, captureLength: capture.captureLength, debugMessages: debug,
        configText: configText, configPath: configPath ?? "")
    do {
        return try RecordingWriter(path: path, header: header, overwrite: force)
    } catch {
        diagnostic("\(error)")
        throw ExitCode(2)
    }
}

/// What the kernel leaves out for the filters, in one line; nil if nothing.
func describe(_ prefilter: KernelPrefilter, debug: Bool) -> String? {
    var parts: [String] = []
    if let a = prefilter.addresses {
        parts.append(a.entries.isEmpty ? "no packet's addresses match"
                     : "traces of packets from or to \(a.entries.count) prefix\(a.entries.count == 1 ? "" : "es")")
    }
    if let names = prefilter.interfaces { parts.append("devices named \(names.joined(separator: ", ")) only") }
    if !prefilter.keepsDebug && debug { parts.append("no debug messages") }
    guard !parts.isEmpty else { return nil }
    return parts.joined(separator: "; ") + " (the filters keep nothing else; --no-kernel-filter to emit everything)"
}

func report(_ event: DeviceEvent) {
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
