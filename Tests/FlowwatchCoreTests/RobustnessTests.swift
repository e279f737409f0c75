import Testing
@testable import FlowwatchCore

/// Random and mangled input must never trap: decoding either yields an event or a
/// `DecodeError`, and whatever decodes can be dissected and formatted at every verbosity.
@Suite struct RobustnessTests {
    /// SplitMix64: deterministic, so a failure reproduces.
    struct Generator: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static let formatters = [
        MonitorFormatter(verbosity: .info),
        MonitorFormatter(verbosity: .debug, numericIdentities: true),
        MonitorFormatter(verbosity: .verbose, interfaceName: { $0 == 1 ? "lxc1" : nil }),
    ]

    /// Valid messages and packets to start mutations from.
    static var seeds: [[UInt8]] {
        DecoderTests.cases.map(\.bytes) + Seed003Tests.messages + [
            Message.traceV2(point: 0, source: 1, srcIdentity: 1, dstIdentity: 2, dstID: 1, reason: 0,
                            ifindex: 1, origIP: ip4(1, 2, 3, 4), packet: Packets.tcpSYN),
            Message.traceV2(point: 3, source: 1, srcIdentity: 1, dstIdentity: 2, dstID: 1, reason: 0, flags: 3,
                            ifindex: 1, origIP: ip6(0xFD00), packet: FormatterTests.udp6),
            Message.dropV3(reason: 133, source: 1, srcIdentity: 1, dstIdentity: 2, dstID: 0, line: 1, file: 2,
                           ifindex: 1, packet: Packets.udp),
            Message.capture(point: 4, source: 1, arg1: 1, packet: FormatterTests.arp),
        ]
    }

    static let packets: [[UInt8]] = [Packets.tcpSYN, Packets.udp, Seed003Tests.request, FormatterTests.arp]

    func exercise(_ bytes: [UInt8], _ results: inout (decoded: Int, failed: Int)) {
        var stream = MonitorEventStream()
        guard let event = stream.decode(sample(bytes)) else {
            results.failed += 1
            return
        }
        results.decoded += 1
        var buffer: [UInt8] = []
        for formatter in Self.formatters { formatter.write(event, into: &buffer) }
    }

    func mutate(_ input: [UInt8], _ rng: inout Generator) -> [UInt8] {
        var bytes = input
        switch rng.next() % 4 {
        case 0:  // flip a few bytes
            for _ in 0...(rng.next() % 4) where !bytes.isEmpty {
                bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            }
        case 1:  // cut
            bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count + 1))))
        case 2:  // grow
            bytes += (0..<(rng.next() % 16)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
        default:  // flip a byte inside the packet headers, where lengths live
            if bytes.count > 20 {
                let i = 16 + Int(rng.next() % UInt64(min(bytes.count - 16, 80)))
                bytes[i] = UInt8(truncatingIfNeeded: rng.next())
            }
        }
        return bytes
    }

    @Test func randomBytesNeverTrap() {
        var rng = Generator(state: 1)
        var results = (decoded: 0, failed: 0)
        for _ in 0..<20_000 {
            var bytes = (0..<(rng.next() % 160)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            // Steer most inputs past the type and version checks so deeper paths run.
            if bytes.count > 15 && rng.next() % 4 != 0 {
                bytes[0] = UInt8(1 + rng.next() % 4)
                bytes[14] = UInt8(rng.next() % 3)
                bytes[15] = 0
            }
            exercise(bytes, &results)
        }
        #expect(results.decoded + results.failed == 20_000)
    }

    @Test func mangledMessagesNeverTrap() {
        var rng = Generator(state: 2)
        var results = (decoded: 0, failed: 0)
        let seeds = Self.seeds
        for i in 0..<20_000 {
            exercise(mutate(seeds[i % seeds.count], &rng), &results)
        }
        #expect(results.decoded > 0 && results.failed > 0)
    }

    @Test func mangledPacketsNeverTrap() {
        var rng = Generator(state: 3)
        let starts: [PacketDissector.FirstLayer] = [.ethernet, .ipv4, .ipv6]
        for i in 0..<20_000 {
            let packet = i % 5 == 0
                ? (0..<(rng.next() % 100)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                : mutate(Self.packets[i % Self.packets.count], &rng)
            packet.withUnsafeBytes { raw in
                let dissection = PacketDissector.dissect(raw, from: starts[i % 3])
                var out: [UInt8] = []
                out.appendDissection(dissection, raw)
                out.appendConnectionSummary(dissection, packetLength: raw.count)
            }
        }
    }
}
