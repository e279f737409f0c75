import Foundation
import Testing
@testable import FlowwatchCore

/// pcapng comments come from the last ones made when a packet says the same
/// (`RecentComments`): never one made for something else. What a packet says is keyed on its
/// message's numbers and its addresses, read without building its flow.
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

    @Test("each packet's comment says what its flow says, and is the one a builder that made none before writes",
          arguments: SampleTests.names)
    func sameAsMadeAfresh(name: String) throws {
        let (config, packets) = try Self.packets(name)
        var kept = Self.builder(config)
        var made = 0
        for (event, flow) in packets {
            guard let comment = kept.record(event)?.comment else { continue }
            var fresh = Self.builder(config)
            #expect(comment == fresh.record(event)?.comment)
            #expect(comment.hasSuffix(Self.sides(flow)) && comment.contains(" \(flow.verdict.name) state "),
                    "\(comment)")
            made += 1
        }
        #expect(made > 0 || name == "lost-events")
    }

    @Test("a packet that says anything else than a kept comment's packet gets a comment of its own")
    func eachPartCounts() throws {
        let (config, packets) = try Self.packets("tcp")
        // A trace whose addresses are read without its flow.
        let (event, flow) = try #require(packets.first { event, _ in
            guard case .message(.trace(let t), let packet) = event.payload else { return false }
            return packet.withUnsafeBytes { DecodedPacket.addresses($0, from: t.firstLayer) } != nil
        })
        guard case .message(.trace(let trace), let packet) = event.payload else { return }
        var builder = Self.builder(config)
        let first = try #require(builder.record(event)?.comment)
        #expect(first.hasSuffix(Self.sides(flow)))
        let changes: [(String, (inout TraceNotify, inout [UInt8]) -> Void)] = [
            ("original source", { t, _ in t.originalIP = .v4(IPv4Address(value: 0xC633_6407)) }),  // 198.51.100.7
            ("source identity", { t, _ in t.sourceIdentity = SecurityIdentity(2) }),
            ("destination identity", { t, _ in t.destinationIdentity = SecurityIdentity(1) }),
            ("reason", { t, _ in t.reason = TraceReason(rawValue: 2) }),
            ("observation point", { t, _ in t.observationPoint = TraceObservationPoint(rawValue: 0) }),
            ("destination address", { _, p in p[33] ^= 1 }),
        ]
        for (part, change) in changes {
            var (t, p) = (trace, packet)
            change(&t, &p)
            var changed = event
            changed.payload = .message(.trace(t), packet: p)
            let comment = builder.record(changed)?.comment
            var fresh = Self.builder(config)
            #expect(comment == fresh.record(changed)?.comment && comment != first, "\(part): \(comment ?? "none")")
            #expect(builder.record(event)?.comment == first, "\(part)")
        }
    }

    @Test("keys that share a fingerprint are told apart by what they hold")
    func fingerprintCollision() {
        let kept = RecentComments.Key(what: 0x104, reason: 1, identities: 22099 << 32 | 11575,
                                      source: .v4(IPv4Address(value: 1)), destination: .v4(IPv4Address(value: 2)))
        var colliding = RecentComments.Key(what: 0x104, reason: 1, identities: 22099 << 32 | 11575,
                                           source: .v4(IPv4Address(value: 1)), destination: .v4(IPv4Address(value: 3)))
        colliding.fingerprint = kept.fingerprint
        var comments = RecentComments(sets: 1)
        comments.remember("kept", for: kept)
        #expect(comments.string(for: kept) == "kept")
        #expect(comments.string(for: colliding) == nil)
    }

    /// What a comment ends with for `flow`: its two sides, as `describe` writes them.
    static func sides(_ flow: Flow) -> String {
        var text: [UInt8] = []
        PacketRecordBuilder.describe(flow.source, flow.ip?.source, into: &text)
        text.appendASCII(" -> ")
        PacketRecordBuilder.describe(flow.destination, flow.ip?.destination, into: &text)
        return String(decoding: text, as: UTF8.self)
    }
}
