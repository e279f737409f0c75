import Foundation
import Testing
@testable import FlowwatchCore

/// The flow builder reads the usual packet in place (`DecodedPacket(common:)`) and sends the
/// rest through the dissector; pcapng comments read only the addresses (`addresses(_:from:)`).
/// Each shortcut must give the dissector's fields for every packet it accepts: the samples'
/// packets, each of them cut at every length, and each with every header byte changed.
@Suite struct DecodedPacketTests {
    /// The packet bytes of every trace, drop and capture in samples/, with their first layer.
    static let packets: [(bytes: [UInt8], first: PacketDissector.FirstLayer)] = {
        var out: [(bytes: [UInt8], first: PacketDissector.FirstLayer)] = []
        for name in SampleTests.names {
            guard let reader = try? RecordingReader(path: SampleTests.samples.appendingPathComponent("\(name).fwrec").path)
            else { continue }
            var stream = MonitorEventStream()
            while let sample = try? reader.next() {
                guard let event = stream.decode(sample), case .message(let message, let packet) = event.payload else { continue }
                switch message {
                case .trace(let t): out.append((packet, t.firstLayer))
                case .drop(let d): out.append((packet, d.firstLayer))
                case .capture: out.append((packet, .ethernet))
                case .debug: break
                }
            }
        }
        return out
    }()

    static func both(_ bytes: [UInt8], _ first: PacketDissector.FirstLayer) -> (common: DecodedPacket?, dissected: DecodedPacket) {
        bytes.withUnsafeBytes { b in
            (DecodedPacket(common: b, from: first), DecodedPacket(dissecting: b, from: first))
        }
    }

    /// Whether the addresses read alone, if read, are the dissector's; and whether they were.
    static func addressesAgree(_ bytes: [UInt8], _ first: PacketDissector.FirstLayer,
                               _ dissected: DecodedPacket) -> (agree: Bool, read: Bool) {
        guard let (source, destination) = bytes.withUnsafeBytes({ DecodedPacket.addresses($0, from: first) })
        else { return (true, false) }
        return (dissected.ip != nil && dissected.sourceIP == source && dissected.destinationIP == destination, true)
    }

    @Test("the samples' packets take the shortcut, with the dissector's fields")
    func samples() throws {
        #expect(Self.packets.count > 100)
        var taken = 0
        for (bytes, first) in Self.packets {
            let (common, dissected) = Self.both(bytes, first)
            // The samples hold Ethernet + IPv4/IPv6 + TCP/UDP/ICMP, ARP, and MLD reports
            // behind an IPv6 hop-by-hop header; only the last two go through the dissector.
            let etherType = first == .ethernet && bytes.count >= 14 ? Int(bytes[12]) << 8 | Int(bytes[13]) : 0
            let usual = etherType != 0x0806 && !(etherType == 0x86DD && bytes[20] == 0)
            #expect((common != nil) == usual, "\(bytes)")
            if let common {
                taken += 1
                #expect(common == dissected, "\(bytes)")
            }
            let (agree, read) = Self.addressesAgree(bytes, first, dissected)
            #expect(agree && read == usual, "addresses of \(bytes)")
        }
        #expect(taken > 300)
    }

    @Test("cut short or with any header byte changed, a packet a shortcut accepts decodes as the dissector decodes it")
    func mutations() {
        // One packet per distinct shape (first layer, length, protocol bytes), to keep it quick.
        var seen = Set<[UInt8]>()
        var checked = 0, addressesChecked = 0
        for (bytes, first) in Self.packets {
            let shape = [UInt8(bytes.count & 0xFF), bytes.count > 23 ? bytes[23] : 0, bytes.count > 20 ? bytes[20] : 0,
                         first == .ethernet ? 0 : 1]
            guard seen.insert(shape).inserted else { continue }
            for length in 0...bytes.count {
                let cut = Array(bytes[..<length])
                let (common, dissected) = Self.both(cut, first)
                if let common { #expect(common == dissected, "cut to \(length): \(cut)"); checked += 1 }
                let (agree, read) = Self.addressesAgree(cut, first, dissected)
                if read { #expect(agree, "addresses, cut to \(length): \(cut)"); addressesChecked += 1 }
            }
            for i in 0..<min(bytes.count, 80) {
                for value: UInt8 in [0, 1, 0x04, 0x05, 0x06, 0x11, 0x29, 0x3A, 0x45, 0x50, 0x86, 0xDD, 0xFF, bytes[i] ^ 0x01, bytes[i] ^ 0x20] {
                    var changed = bytes
                    changed[i] = value
                    let (common, dissected) = Self.both(changed, first)
                    if let common { #expect(common == dissected, "byte \(i) = \(value): \(changed)"); checked += 1 }
                    let (agree, read) = Self.addressesAgree(changed, first, dissected)
                    if read { #expect(agree, "addresses, byte \(i) = \(value): \(changed)"); addressesChecked += 1 }
                }
            }
        }
        #expect(checked > 1000 && addressesChecked > checked)
    }
}

/// The endpoint index's address table against a dictionary: both families, addresses that
/// share their low bits, a repeated address (the later entry wins), and misses.
@Suite struct AddressSlotsTests {
    @Test func matchesADictionary() {
        var entries: [(IPAddress, Int)] = []
        for i in 0..<300 {
            entries.append((.v4(IPv4Address(value: 0x0AF4_0000 | UInt32(i) << 8)), i))
            entries.append((.v6(IPv6Address(high: 0xFD00_0000_0000_0000, low: UInt64(i) << 32)), 1000 + i))
        }
        entries.append((.v4(IPv4Address(value: 0x0AF4_0000)), 7777))
        let slots = AddressSlots(entries)
        var expected: [IPAddress: Int] = [:]
        for (address, value) in entries { expected[address] = value }
        for (address, value) in expected { #expect(slots[address] == value) }
        for i in 300..<600 {
            #expect(slots[.v4(IPv4Address(value: 0x0AF4_0000 | UInt32(i) << 8))] == nil)
            #expect(slots[.v6(IPv6Address(high: 0xFD00_0000_0000_0001, low: UInt64(i) << 32))] == nil)
        }
        #expect(AddressSlots([])[.v4(IPv4Address(value: 0))] == nil)
    }
}
