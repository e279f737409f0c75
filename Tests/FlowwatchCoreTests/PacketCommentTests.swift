import Foundation
import Testing
@testable import FlowwatchCore

/// pcapng comments come from the last ones made when a packet says the same
/// (`RecentComments`): never one made for something else.
@Suite struct PacketCommentTests {
    /// Every packet event of a sample with its flow.
    static func packets(_ name: String) throws -> (config: NodeConfig, packets: [(MonitorEvent, Flow)]) {
        let reader = try RecordingReader(path: SampleTests.samples.appendingPathComponent("\(name).fwrec").path)
        let config = try reader.header.config() ?? NodeConfig()
        let builder = FlowBuilder(config: config, wallClockOffset: 0)
        var stream = MonitorEventStream()
        var packets: [(MonitorEvent, Flow)] = []
        while let sample = try reader.next() {
            guard let event = stream.decode(sample), case .flow(let flow) = builder.build(event) else { continue }
            packets.append((event, flow))
        }
        return (config, packets)
    }

    static func builder(_ config: NodeConfig) -> PacketRecordBuilder {
        PacketRecordBuilder(config: config, wallClockOffset: 0, withMeaning: true, interfaceName: { _ in nil })
    }

    @Test("each packet's comment is the one a builder that made none before writes", arguments: SampleTests.names)
    func sameAsMadeAfresh(name: String) throws {
        let (config, packets) = try Self.packets(name)
        var kept = Self.builder(config)
        var made = 0
        for (event, flow) in packets {
            guard let comment = kept.record(event, flow: flow)?.comment else { continue }
            var fresh = Self.builder(config)
            #expect(comment == fresh.record(event, flow: flow)?.comment)
            made += 1
        }
        #expect(made > 0 || name == "lost-events")
    }

    @Test("a packet whose endpoint has other names, with the same ids, gets its own comment")
    func namesChangeTheComment() throws {
        let (config, packets) = try Self.packets("tcp")
        let (event, flow) = try #require(packets.first)
        var builder = Self.builder(config)
        let before = try #require(builder.record(event, flow: flow)?.comment)
        var renamed = flow
        renamed.source = Flow.Endpoint(id: flow.source.id, identity: flow.source.identity,
                                       namespace: "elsewhere", podName: "renamed")
        let after = try #require(builder.record(event, flow: renamed)?.comment)
        #expect(after != before)
        #expect(after.contains("elsewhere/renamed"))
        #expect(builder.record(event, flow: flow)?.comment == before)
    }

    @Test("keys that share a fingerprint are told apart by what they hold")
    func fingerprintCollision() {
        let flow = Flow(time: FlowTime(seconds: 0, nanos: 0), eventType: Flow.CiliumEventType(type: 4, subType: 0))
        var dropped = flow
        dropped.verdict = .dropped
        let kept = RecentComments.Key(0x104, flow)
        var colliding = RecentComments.Key(0x104, dropped)
        colliding.fingerprint = kept.fingerprint
        var comments = RecentComments(sets: 1)
        comments.remember("forwarded", for: kept, flow)
        #expect(comments.string(for: kept) == "forwarded")
        #expect(comments.string(for: colliding) == nil)
    }
}
