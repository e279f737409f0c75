import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What happens to each sample on the reader thread: recorded (if asked), then decoded and
/// printed (if asked). Everything here is touched by the reader thread only, except `finish`,
/// `failure` and `shouldStop`, which the main thread calls.
final class LiveConsumer: @unchecked Sendable {
    private var pipeline: EventPipeline?
    private let output: OutputWriter?
    private var recorder: RecordingWriter?
    private let recordPath: String?
    private var recorded: UInt64 = 0
    private(set) var recordError: String?
    private var samples: UInt64 = 0
    private var lost: UInt64 = 0
    private let failed = Mutex<DatapathError?>(nil)
    private let outputClosed = Atomic<Bool>(false)
    /// Device names reported by the watcher thread, written to the recording by the reader
    /// thread ahead of the next sample (the writer has one owner).
    private let pendingNames = Mutex<[(UInt32, String)]>([])
    private let namesPending = Atomic<Bool>(false)

    private let captures: CaptureSink?
    private var discard: [UInt8] = []

    init(pipeline: EventPipeline?, output: OutputWriter?, recorder: RecordingWriter?, recordPath: String?, captures: CaptureSink?) {
        self.pipeline = pipeline
        self.output = output
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
        guard pipeline != nil else { return }
        let captures = captures
        if let output {
            output.write { pipeline!.consume(sample, into: &$0) { captures?.write($0) } }
        } else {
            // --pcap-only: the text is formatted for nothing; only the packet records matter.
            pipeline!.consume(sample, into: &discard) { captures?.write($0) }
            discard.removeAll(keepingCapacity: true)
        }
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
    /// last events are not kept waiting, and writes out.
    func batchEnd() {
        let now = KernelClock.boottimeNow()
        release { pipeline, buffer, capture in pipeline.advance(to: now, into: &buffer, capture: capture) }
        captures?.flushIfDue(now: now)
        if let output {
            output.flush()
            if output.closed { outputClosed.store(true, ordering: .relaxed) }
        }
    }

    private func release(_ body: (inout EventPipeline, inout [UInt8], (PacketRecord) -> Void) -> Void) {
        guard pipeline != nil else { return }
        let captures = captures
        if let output {
            output.write { body(&pipeline!, &$0) { captures?.write($0) } }
        } else {
            body(&pipeline!, &discard) { captures?.write($0) }
            discard.removeAll(keepingCapacity: true)
        }
    }

    var captureFailed: Bool { captures?.failed ?? false }

    func fail(_ error: DatapathError) { failed.withLock { $0 = error } }
    var failure: DatapathError? { failed.withLock { $0 } }
    /// The reader failed or nobody reads the output any more.
    var shouldStop: Bool { outputClosed.load(ordering: .relaxed) || failure != nil }

    /// After the reader stopped: flush, close the recording, print the summary.
    func finish(_ datapath: Datapath) {
        release { pipeline, buffer, capture in pipeline.finish(into: &buffer, capture: capture) }
        output?.flush()
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
        line += "; lost: perf ring \(lost)" + (perCPU.isEmpty ? "" : " [\(perCPU.joined(separator: ", "))]")
        line += ", kernel output errors \(counters.outputErrors)"
        if datapath.unknownRecords > 0 { line += ", unknown perf records \(datapath.unknownRecords)" }
        if let p = pipeline {
            line += ", decode errors \(p.decodeErrors.total)"
            if let last = p.lastDecodeError { line += " (last: \(last))" }
            if p.late > 0 { line += "; \(p.late) events came later than the reorder window and were printed out of order" }
        }
        if let recordPath { line += "; \(recorded) records written to \(recordPath)" }
        diagnostic(line)
    }
}

/// Loads the program, attaches, runs `consumer` on every sample until Ctrl-C, SIGTERM,
/// `--duration`, a closed output or a datapath failure, then detaches and summarises.
func runLive(_ capture: CaptureOptions, config: NodeConfig, debug: Bool,
             makeConsumer: (Datapath) throws -> LiveConsumer) throws {
    // SIGINT and SIGTERM are blocked in every thread (set before any exists) and taken by the
    // main thread with sigtimedwait: deterministic, whatever mask a parent handed down.
    signal(SIGPIPE, SIG_IGN)
    var stopSignals = sigset_t()
    sigemptyset(&stopSignals)
    sigaddset(&stopSignals, SIGINT)
    sigaddset(&stopSignals, SIGTERM)
    pthread_sigmask(SIG_BLOCK, &stopSignals, nil)

    let options = capture.datapathOptions(debug: debug)
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
    diagnostic("observing devices matching \(options.devicePatterns.joined(separator: ", ")) on \(datapath.cpus) CPUs with \(options.perfPages)x\(sysconf(Int32(_SC_PAGESIZE))) of shared memory per CPU (\(datapath.mode)); Ctrl-C to quit")
    if let readyFile = capture.readyFile {
        let fd = creat(readyFile, 0o644)
        if fd >= 0 { close(fd) } else { diagnostic("cannot create \(readyFile): \(errnoText(errno))") }
    }

    let deadline = capture.duration.map { KernelClock.boottimeNow() + $0.nanoseconds }
    while !consumer.shouldStop {
        if let deadline, KernelClock.boottimeNow() >= deadline { break }
        var tick = timespec(tv_sec: 0, tv_nsec: 50_000_000)
        let sig = sigtimedwait(&stopSignals, nil, &tick)
        if sig == SIGINT || sig == SIGTERM { break }
    }
    datapath.stop()
    consumer.finish(datapath)
    if let error = consumer.failure {
        diagnostic("\(error)")
        throw ExitCode(1)
    }
    if consumer.recordError != nil || consumer.captureFailed { throw ExitCode(1) }
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
