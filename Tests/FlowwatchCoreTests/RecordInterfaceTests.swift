import Testing
@testable import FlowwatchCore

/// Interface records: replay names devices as the live capture did, in stream order.
@Suite struct RecordInterfaceTests {
    func encode(_ build: (inout [UInt8]) -> Void) -> [UInt8] {
        var bytes = RecordingFormat.encodeHeader(fields: RecordingFormat.encodeFields(RecordFormatTests.header))
        build(&bytes)
        return bytes
    }

    func decodeAll(_ bytes: [UInt8]) throws -> [(RawSample, [UInt32: String])] {
        var d = RecordingDecoder()
        d.feed(bytes)
        d.finish()
        var out: [(RawSample, [UInt32: String])] = []
        while let s = try d.next() {
            out.append((s, d.interfaceNames))
            // The per-event lookup agrees with the table, for small and large ifindexes alike.
            for (ifindex, name) in d.interfaceNames { #expect(d.interfaceName(ifindex) == name) }
            #expect(d.interfaceName(7) == d.interfaceNames[7] && d.interfaceName(70_000) == d.interfaceNames[70_000])
        }
        return out
    }

    @Test("names apply to the samples after them, and a later record renames")
    func streamOrder() throws {
        let first = RawSample(cpu: 0, timestamp: 1, kind: .event([1]))
        let second = RawSample(cpu: 1, timestamp: 2, kind: .event([2]))
        let bytes = encode { b in
            RecordingFormat.appendInterface(ifindex: 5, name: "lxc0123456789ab", timestamp: 0, to: &b)
            RecordingFormat.appendRecord(first, to: &b)
            RecordingFormat.appendInterface(ifindex: 5, name: "eth0", timestamp: 1, to: &b)
            RecordingFormat.appendInterface(ifindex: 6, name: "cilium_host", timestamp: 1, to: &b)
            RecordingFormat.appendInterface(ifindex: 70_000, name: "vxlan0", timestamp: 1, to: &b)
            RecordingFormat.appendRecord(second, to: &b)
        }
        let read = try decodeAll(bytes)
        #expect(read.map(\.0) == [first, second])
        #expect(read[0].1 == [5: "lxc0123456789ab"])
        #expect(read[1].1 == [5: "eth0", 6: "cilium_host", 70_000: "vxlan0"])
    }

    @Test("the name table: small and large ifindexes, renames, removals, and the whole table")
    func nameTable() {
        var t = InterfaceNameTable()
        #expect(t[0] == nil && t[4095] == nil && t[4096] == nil && t[.max] == nil)
        t[5] = "lxc1"
        t[4096] = "vxlan0"
        t[.max] = "far"
        t[5] = "eth0"
        t[9] = nil  // nothing to remove: stays empty
        #expect(t[5] == "eth0" && t[4096] == "vxlan0" && t[.max] == "far" && t[4] == nil && t[9] == nil)
        #expect(t.all == [5: "eth0", 4096: "vxlan0", .max: "far"])
        t[5] = nil
        t[4096] = nil
        #expect(t[5] == nil && t[4096] == nil && t.all == [.max: "far"])
    }

    @Test("a file of nothing but interface records is read without recursion and yields no sample")
    func many() throws {
        let bytes = encode { b in
            for i in 0..<100_000 { RecordingFormat.appendInterface(ifindex: UInt32(i), name: "lxc\(i)", timestamp: 0, to: &b) }
        }
        var d = RecordingDecoder()
        d.feed(bytes)
        d.finish()
        #expect(try d.next() == nil)
        #expect(d.interfaceNames.count == 100_000 && d.truncation == nil && d.recordsDecoded == 0)
    }

    @Test("an interface record with an impossible length is an error with its offset")
    func badLength() throws {
        var bytes = encode { _ in }
        let offset = bytes.count
        let payload: [UInt8] = [1, 0, 0, 0] // an ifindex and no name
        payload.withUnsafeBytes { RecordingFormat.appendRecord(kind: .interface, cpu: 0, timestamp: 0, payload: $0, to: &bytes) }
        #expect(throws: RecordingError.impossibleRecordLength(offset: offset, kind: 3, length: 4)) { try decodeAll(bytes) }
    }
}
