import Foundation
import Testing
import FlowwatchCore

/// Every recording in samples/ replays, in every format, to exactly the expected output beside
/// it (scripts/make-samples.sh made both; `--render` remakes the outputs after a deliberate
/// change of format).
@Suite struct SampleTests {
    static let samples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples")

    static let names = ["ping", "tcp", "udp-dns", "pod-to-world", "ipv6", "lost-events"]

    /// Expected file -> what `flowwatch replay` is asked for to print it.
    static let outputs: [(file: String, output: OutputChoice, debug: Bool)] = [
        ("monitor.txt", .monitor(.info), false), ("monitor-v.txt", .monitor(.debug), true),
        ("monitor-vv.txt", .monitor(.verbose), true), ("compact.txt", .hubble(.compact), false),
        ("compact-v.txt", .hubble(.compact), true), ("json.txt", .hubble(.json), false),
        ("dict.txt", .hubble(.dict), false), ("table.txt", .hubble(.table), false),
    ]

    static let cases: [(String, Int)] = names.flatMap { n in outputs.indices.map { (n, $0) } }

    func replay(_ name: String, _ output: OutputChoice, debug: Bool) throws -> (text: String, reader: RecordingReader) {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("\(name).fwrec").path)
        var pipeline = try EventPipeline(replaying: reader, output: output, showDebugEvents: debug)
        var buffer: [UInt8] = []
        while let sample = try reader.next() { pipeline.consume(sample, into: &buffer) }
        pipeline.finish(into: &buffer)
        #expect(pipeline.decodeErrors.total == 0)
        return (String(decoding: buffer, as: UTF8.self), reader)
    }

    @Test("replay matches the expected output", arguments: cases)
    func golden(name: String, index: Int) throws {
        let (file, output, debug) = Self.outputs[index]
        let expected = try String(contentsOf: Self.samples.appendingPathComponent(name).appendingPathComponent(file), encoding: .utf8)
        let (text, reader) = try replay(name, output, debug: debug)
        #expect(reader.truncation == nil)
        #expect(text == expected, "samples/\(name)/\(file) differs; if the change is meant, run scripts/make-samples.sh --render")
    }

    /// Replays a sample into capture records only (`--pcap-only`), or with `cilium monitor -v`
    /// text beside them, which puts debug messages through the reorder buffer too.
    func capture(_ name: String, showingDebug: Bool) throws -> (records: [PacketRecord], pipeline: EventPipeline) {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("\(name).fwrec").path)
        var pipeline = try EventPipeline(replaying: reader, output: showingDebug ? .monitor(.debug) : .none,
                                         capturePackets: true, captureMeaning: true)
        var records: [PacketRecord] = []
        var text: [UInt8] = []
        while let sample = try reader.next() { pipeline.consume(sample, into: &text) { records.append($0) } }
        pipeline.finish(into: &text) { records.append($0) }
        return (records, pipeline)
    }

    @Test("debug messages that nothing shows skip the reorder buffer: the same packets, counted alike",
          arguments: names)
    func passedOverDebug(name: String) throws {
        let silent = try capture(name, showingDebug: false)
        let shown = try capture(name, showingDebug: true)
        #expect(!silent.records.isEmpty)
        #expect(silent.records == shown.records)
        #expect(silent.pipeline.samples == shown.pipeline.samples)
        #expect(silent.pipeline.decoded == shown.pipeline.decoded)
        #expect(silent.pipeline.decodeErrors == shown.pipeline.decodeErrors)
        #expect(silent.pipeline.late == 0 && shown.pipeline.late == 0)
    }

    @Test("a bad debug message passed over is still a counted decode error")
    func passedOverDebugErrors() {
        var pipeline = EventPipeline(output: .none, config: NodeConfig(nodeName: "n"), wallClockOffset: 0,
                                     capturePackets: true)
        var text: [UInt8] = []
        // Type 2 (debug) with 3 of its 20 bytes, between two well-formed lost records.
        pipeline.consume(RawSample(cpu: 0, timestamp: 1, kind: .lost(1)), into: &text)
        pipeline.consume(RawSample(cpu: 0, timestamp: 2, kind: .event([2, 0, 0])), into: &text)
        pipeline.consume(RawSample(cpu: 1, timestamp: 3, kind: .lost(2)), into: &text)
        pipeline.finish(into: &text)
        #expect(pipeline.samples == 3)
        #expect(pipeline.decoded == 2)
        #expect(pipeline.decodeErrors.truncated == 1)
        #expect(pipeline.lost == 3)
    }

    @Test("the lost-events sample holds lost records, and every output shows them")
    func lostEvents() throws {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("lost-events.fwrec").path)
        var lost: UInt64 = 0
        while let s = try reader.next() { if case .lost(let n) = s.kind { lost += n } }
        #expect(lost > 0)
        let compact = try replay("lost-events", .hubble(.compact), debug: false).text
        #expect(compact.contains("EVENTS LOST: PERF_EVENT_RING_BUFFER CPU("))
        let monitor = try replay("lost-events", .monitor(.info), debug: false).text
        #expect(monitor.contains(": Lost "))
        let json = try replay("lost-events", .hubble(.json), debug: false).text
        #expect(json.contains("\"lost_events\":{\"source\":\"PERF_EVENT_RING_BUFFER\""))
    }
}
