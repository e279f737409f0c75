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

    /// Replays a sample, each record copied into a sample first, or read in place as
    /// `flowwatch replay` does (`EventPipeline.replay`, its text drained every `drainAt` bytes).
    func replay(_ name: String, _ output: OutputChoice, debug: Bool, inPlace: Bool = false, drainAt: Int = 100,
                selection: EventSelection = EventSelection(number: .all))
        throws -> (text: String, reader: RecordingReader, pipeline: EventPipeline) {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("\(name).fwrec").path)
        var pipeline = try EventPipeline(replaying: reader, output: output, showDebugEvents: debug, selection: selection)
        var buffer: [UInt8] = []
        var text: [UInt8] = []
        if inPlace {
            try pipeline.replay(reader, into: &buffer, drainAt: drainAt, capture: { _ in }) { buffer in
                #expect(buffer.count >= drainAt)
                text += buffer
                buffer.removeAll()
                return true
            }
        } else {
            while let sample = try reader.next() { pipeline.consume(sample, into: &buffer) }
        }
        pipeline.finish(into: &buffer)
        text += buffer
        #expect(pipeline.decodeErrors.total == 0)
        return (String(decoding: text, as: UTF8.self), reader, pipeline)
    }

    @Test("records read in place print and count as samples do", arguments: cases)
    func inPlaceReplay(name: String, index: Int) throws {
        let (_, output, debug) = Self.outputs[index]
        let inPlace = try replay(name, output, debug: debug, inPlace: true)
        let copied = try replay(name, output, debug: debug)
        #expect(inPlace.text == copied.text)
        #expect(inPlace.pipeline.samples == copied.pipeline.samples)
        #expect(inPlace.pipeline.decoded == copied.pipeline.decoded)
        #expect(inPlace.pipeline.lost == copied.pipeline.lost)
        #expect(inPlace.pipeline.late == copied.pipeline.late)
    }

    @Test("a replay ends where its output is gone: nothing more is read or printed")
    func replayEndsWithItsOutput() throws {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("tcp.fwrec").path)
        var pipeline = try EventPipeline(replaying: reader, output: .monitor(.debug), showDebugEvents: true)
        var buffer: [UInt8] = []
        var drains = 0
        try pipeline.replay(reader, into: &buffer, drainAt: 1, capture: { _ in }) { _ in
            drains += 1
            return false
        }
        let whole = try replay("tcp", .monitor(.debug), debug: true, inPlace: true)
        #expect(drains == 1)
        #expect(!buffer.isEmpty)
        #expect(pipeline.samples > 0 && pipeline.samples < whole.pipeline.samples)
        #expect(whole.text.utf8.starts(with: buffer))
    }

    @Test("a replay whose selection is complete stops reading", arguments: [UInt64(1), 7])
    func replayStopsWhenComplete(first: UInt64) throws {
        let selection = EventSelection(number: .first(first))
        let stopped = try replay("tcp", .hubble(.compact), debug: false, inPlace: true, drainAt: 1, selection: selection)
        let whole = try replay("tcp", .hubble(.compact), debug: false, inPlace: true)
        #expect(stopped.pipeline.samples < whole.pipeline.samples)
        #expect(stopped.text.split(separator: "\n").count == Int(first))
        #expect(whole.text.hasPrefix(stopped.text))
    }

    @Test("replay matches the expected output", arguments: cases)
    func golden(name: String, index: Int) throws {
        let (file, output, debug) = Self.outputs[index]
        let expected = try String(contentsOf: Self.samples.appendingPathComponent(name).appendingPathComponent(file), encoding: .utf8)
        let (text, reader, _) = try replay(name, output, debug: debug)
        #expect(reader.truncation == nil)
        #expect(text == expected, "samples/\(name)/\(file) differs; if the change is meant, run scripts/make-samples.sh --render")
    }

    /// Replays a sample into capture records only (`--pcap-only`), or with `cilium monitor -v`
    /// text beside them, which puts debug messages through the reorder buffer too (or with the
    /// text of `printing`).
    func capture(_ name: String, showingDebug: Bool, printing: OutputChoice? = nil, meaning: Bool = true,
                 selection: EventSelection = EventSelection(number: .all)) throws -> (records: [PacketRecord], pipeline: EventPipeline) {
        let reader = try RecordingReader(path: Self.samples.appendingPathComponent("\(name).fwrec").path)
        var pipeline = try EventPipeline(replaying: reader, output: printing ?? (showingDebug ? .monitor(.debug) : .none),
                                         capturePackets: true, captureMeaning: meaning, selection: selection)
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

    @Test("classic pcap alone reads each record in place: the same packets and counts as through events",
          arguments: names)
    func inPlaceCapture(name: String) throws {
        // Printing text beside the capture takes the path through events; alone it is in place.
        // Compact text shows no debug messages, so `--first N` counts the same events.
        for selection in [EventSelection(number: .all), EventSelection(number: .first(40))] {
            let inPlace = try capture(name, showingDebug: false, meaning: false, selection: selection)
            let throughEvents = try capture(name, showingDebug: false, printing: .hubble(.compact), meaning: false,
                                            selection: selection)
            #expect(!inPlace.records.isEmpty)
            #expect(inPlace.records == throughEvents.records)
            #expect(inPlace.records.allSatisfy { $0.interfaceName.isEmpty && $0.comment == nil && $0.packetID == 0 })
            #expect(inPlace.pipeline.decoded == throughEvents.pipeline.decoded)
            #expect(inPlace.pipeline.decodeErrors == throughEvents.pipeline.decodeErrors)
            #expect(inPlace.pipeline.unselected == throughEvents.pipeline.unselected)
        }
        // With the meaning, the same packets again, now with their devices and comments.
        let withMeaning = try capture(name, showingDebug: false)
        #expect(withMeaning.records.map(\.bytes) == (try capture(name, showingDebug: false, meaning: false)).records.map(\.bytes))
    }

    @Test("a bad debug message passed over, or a bad trace read in place, is still a counted decode error",
          arguments: [(UInt8(2), true), (2, false), (4, true), (4, false)])
    func passedOverDebugErrors(type: UInt8, meaning: Bool) {
        var pipeline = EventPipeline(output: .none, config: NodeConfig(nodeName: "n"), wallClockOffset: 0,
                                     capturePackets: true, captureMeaning: meaning)
        var text: [UInt8] = []
        var records = 0
        // Type 2 (debug) or 4 (trace) with 3 bytes, between two well-formed lost records.
        pipeline.consume(RawSample(cpu: 0, timestamp: 1, kind: .lost(1)), into: &text) { _ in records += 1 }
        pipeline.consume(RawSample(cpu: 0, timestamp: 2, kind: .event([type, 0, 0])), into: &text) { _ in records += 1 }
        pipeline.consume(RawSample(cpu: 1, timestamp: 3, kind: .lost(2)), into: &text) { _ in records += 1 }
        pipeline.finish(into: &text) { _ in records += 1 }
        #expect(pipeline.samples == 3)
        #expect(pipeline.decoded == 2)
        #expect(pipeline.decodeErrors.truncated == 1)
        #expect(pipeline.lost == 3)
        #expect(records == 0)
    }

    @Test("a bad debug message read in place and passed over is still a counted decode error",
          arguments: [(UInt8(2), OutputChoice.none), (2, .hubble(.compact)), (2, .monitor(.debug)), (4, .none)])
    func inPlaceDebugErrors(type: UInt8, output: OutputChoice) {
        var pipeline = EventPipeline(output: output, config: NodeConfig(nodeName: "n"), wallClockOffset: 0,
                                     capturePackets: true, captureMeaning: false)
        var text: [UInt8] = []
        let empty = UnsafeRawBufferPointer(start: nil, count: 0)
        pipeline.consume(RawSampleView(cpu: 0, timestamp: 1, bytes: empty, lostCount: 1), into: &text)
        [type, 0, 0].withUnsafeBytes { pipeline.consume(RawSampleView(cpu: 0, timestamp: 2, bytes: $0, lostCount: nil), into: &text) }
        pipeline.consume(RawSampleView(cpu: 1, timestamp: 3, bytes: empty, lostCount: 2), into: &text)
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
