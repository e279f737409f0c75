import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath
import FlowwatchPcap

/// --pcap / --pcapng and their rotation: shared by live observation and replay.
struct PcapOptions: ParsableArguments {
    @Option(help: "Write every packet to this classic pcap file (.gz compresses).")
    var pcap: String?

    @Option(help: "Write every packet to this pcapng file with interfaces, direction, packet ids, verdicts and the flow's meaning as comments (.gz compresses).")
    var pcapng: String?

    @Option(name: .customLong("pcap-max-size"), help: "Start a new file before one grows past this many megabytes (10^6 bytes, like tcpdump -C).")
    var maxSize: Int?

    @Option(name: .customLong("pcap-max-files"), help: "Keep at most this many files, removing the oldest (with rotation).")
    var maxFiles: Int?

    @Option(name: .customLong("pcap-rotate-every"), help: "Start a new file every DURATION, on the clock's boundaries (e.g. 1m starts one each minute).")
    var rotateEvery: TimeSpan?

    @Flag(name: .customLong("pcap-only"), help: "Write the capture files without printing events.")
    var pcapOnly = false

    var wanted: Bool { pcap != nil || pcapng != nil }

    static let valueOptions = ["--pcap", "--pcapng", "--pcap-max-size", "--pcap-max-files", "--pcap-rotate-every"]

    var rotation: CaptureRotation? {
        guard maxSize != nil || maxFiles != nil || rotateEvery != nil else { return nil }
        return CaptureRotation(maxFileBytes: maxSize.map { $0 * 1_000_000 }, maxFiles: maxFiles,
                               interval: rotateEvery.map { .nanoseconds(Int64(clamping: $0.nanoseconds)) })
    }

    func validate() throws {
        if pcapOnly && !wanted { throw ValidationError("--pcap-only needs --pcap or --pcapng") }
        if rotation != nil && !wanted { throw ValidationError("--pcap-max-size, --pcap-max-files and --pcap-rotate-every need --pcap or --pcapng") }
        do { try rotation?.validate() } catch { throw ValidationError("\(error)") }
    }

    /// Opens the files; an existing one is an error unless `force`.
    func open(snapshotLength: UInt32, force: Bool) throws -> CaptureSink? {
        guard wanted else { return nil }
        let options = CaptureFileOptions(overwrite: force, rotation: rotation)
        var pcapWriter: PcapWriter?
        do throws(CaptureError) {
            if let pcap { pcapWriter = try PcapWriter(path: pcap, snapshotLength: snapshotLength, options: options) }
            var pcapngWriter: PcapngWriter?
            if let pcapng { pcapngWriter = try PcapngWriter(path: pcapng, snapshotLength: snapshotLength, options: options) }
            return CaptureSink(pcap: pcapWriter, pcapng: pcapngWriter)
        } catch {
            try? pcapWriter?.close()
            diagnostic("\(error)\(force ? "" : error.isExists ? " (--force overwrites it)" : "")")
            throw ExitCode(2)
        }
    }
}

extension CaptureError {
    var isExists: Bool { if case .exists = self { true } else { false } }
}

/// The open capture files. A file whose write fails stops (its message is printed once) while
/// the others, and printing, go on; the exit status reports it. Owned by one thread.
final class CaptureSink: @unchecked Sendable {
    // Concrete writers, not `any CaptureWriter`: a packet goes to each without generic copies.
    // Constants, with a flag for whether each is still written; the classic one is borrowed per
    // packet, not retained and released around each (see `Unmanaged.borrowing`).
    private let pcap: PcapWriter?
    private let pcapForPackets: Unmanaged<PcapWriter>?
    private let pcapng: PcapngWriter?
    private let pcapngForPackets: Unmanaged<PcapngWriter>?
    // One thread calls one method at a time: no run-time exclusivity checks.
    @exclusivity(unchecked) private var pcapOpen: Bool
    @exclusivity(unchecked) private var pcapngOpen: Bool
    private(set) var failed = false
    private var lastFlush: UInt64 = 0

    init(pcap: PcapWriter?, pcapng: PcapngWriter?) {
        self.pcap = pcap
        pcapForPackets = pcap.map { Unmanaged.passUnretained($0) }
        self.pcapng = pcapng
        pcapngForPackets = pcapng.map { Unmanaged.passUnretained($0) }
        pcapOpen = pcap != nil
        pcapngOpen = pcapng != nil
    }

    func write(_ r: PacketRecord) {
        if pcapOpen, let pcap = pcapForPackets {
            // What classic pcap keeps of a packet: the device and the meaning have no place there.
            do throws(CaptureError) {
                try pcap.borrowing { (pcap) throws(CaptureError) in
                    try pcap.write(timestampNanos: r.timeNanos, bytes: r.bytes, originalLength: r.originalLength)
                }
            } catch {
                pcapOpen = false
                stop(pcap.takeUnretainedValue(), error)
            }
        }
        if pcapngOpen, let pcapng = pcapngForPackets {
            // The record's bytes and strings are read where they lie: no packet value is built.
            do throws(CaptureError) {
                try pcapng.borrowing { (pcapng) throws(CaptureError) in
                    // Records for pcapng carry the meaning (`PacketRecordBuilder.withMeaning`); one
                    // without it is written with what it has.
                    switch r.meaning {
                    case .some(let m):
                        try pcapng.write(
                            timestampNanos: r.timeNanos, bytes: r.bytes, originalLength: r.originalLength,
                            interface: r.ifindex, name: m.interfaceName,
                            description: m.interfaceDescription, direction: Self.direction(r),
                            packetID: m.packetID, tcVerdict: -1, comment: m.comment)
                    case .none:
                        try pcapng.write(
                            timestampNanos: r.timeNanos, bytes: r.bytes, originalLength: r.originalLength,
                            interface: r.ifindex, name: "", description: "", direction: Self.direction(r),
                            packetID: 0, tcVerdict: -1, comment: nil)
                    }
                }
            } catch {
                pcapngOpen = false
                stop(pcapng.takeUnretainedValue(), error)
            }
        }
    }

    private static func direction(_ r: PacketRecord) -> PacketDirection {
        r.direction == .inbound ? .inbound : r.direction == .outbound ? .outbound : .unknown
    }

    /// Hands what is buffered over to be written, at most once a second (by `now`, any
    /// monotonic nanoseconds); the perf ring's reader calls it, so it does not wait for the write.
    func flushIfDue(now: UInt64) {
        guard now &- lastFlush >= 1_000_000_000 else { return }
        lastFlush = now
        each { (w) throws(CaptureError) in try w.handOver() }
    }

    /// Closes every file (complete records, gzip streams ended).
    func close() {
        each { (w) throws(CaptureError) in try w.close() }
        pcapOpen = false
        pcapngOpen = false
    }

    /// Runs `body` on each open writer; one that fails stops.
    private func each(_ body: (any CaptureWriter) throws(CaptureError) -> Void) {
        if pcapOpen, let w = pcap {
            do throws(CaptureError) { try body(w) } catch {
                pcapOpen = false
                stop(w, error)
            }
        }
        if pcapngOpen, let w = pcapng {
            do throws(CaptureError) { try body(w) } catch {
                pcapngOpen = false
                stop(w, error)
            }
        }
    }

    /// A failed writer: its message is printed once and its file closed.
    private func stop(_ writer: any CaptureWriter, _ error: CaptureError) {
        failed = true
        diagnostic("capture file stopped: \(error)")
        try? writer.close()
    }
}
