import Foundation
import FlowwatchCore

/// The recordings in samples/ as the events the server would store and serve: each replayed
/// through the same reorder window, decoder and flow builder as `EventPipeline`.
enum Samples {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("samples")

    static let names = ["ping", "tcp", "udp-dns", "pod-to-world", "ipv6", "lost-events"]

    final class Names: @unchecked Sendable {
        let reader: RecordingReader
        init(_ reader: RecordingReader) { self.reader = reader }
    }

    static func events(_ name: String) throws -> [FlowEvent] {
        let reader = try RecordingReader(path: directory.appendingPathComponent("\(name).fwrec").path)
        let header = reader.header
        let config = try header.config() ?? NodeConfig(nodeName: header.nodeName)
        let names = Names(reader)
        let builder = FlowBuilder(config: config, wallClockOffset: header.wallClockOffset,
                                  interfaceName: { names.reader.interfaceName($0) })
        var reorder = ReorderBuffer()
        var stream = MonitorEventStream()
        var events: [FlowEvent] = []
        func release(_ sample: RawSample) {
            if let event = stream.decode(sample) { events.append(builder.build(event)) }
        }
        while let sample = try reader.next() { reorder.push(sample, release: release) }
        reorder.flush(release: release)
        return events
    }

    static func expected(_ name: String, _ file: String) throws -> String {
        try String(contentsOf: directory.appendingPathComponent(name).appendingPathComponent(file), encoding: .utf8)
    }
}
