import Testing
@testable import FlowwatchCore

/// Every message type and version, spelled out one field per line, with the value it must
/// decode to.
@Suite struct DecoderTests {
    static let packet: [UInt8] = [0xDE, 0xAD, 0xBE, 0xEF]

    struct Case: CustomTestStringConvertible, Sendable {
        let name: String
        let bytes: [UInt8]
        let message: MonitorMessage
        let packet: [UInt8]
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "trace v0 (32 bytes)", bytes: bytes {
            u8(4)                  // type: trace
            u8(5)                  // subtype: from-endpoint
            le16(2073)             // source endpoint
            le32(0xBBE3_D555)      // hash
            le32(1500)             // len_orig
            le16(4)                // len_cap
            u8(0)                  // version 0
            u8(0)                  // ext_version
            le32(22099)            // src_label
            le32(2)                // dst_label
            le16(0)                // dst_id
            u8(1)                  // reason: established
            u8(0)                  // flags
            le32(7)                // ifindex
            packet
        }, message: .trace(TraceNotify(
            observationPoint: .fromEndpoint, source: 2073, hash: 0xBBE3_D555, originalLength: 1500,
            capturedLength: 4, version: 0, sourceIdentity: SecurityIdentity(22099),
            destinationIdentity: .world, destinationID: 0, reason: .established, flags: [],
            ifindex: 7, originalIP: nil, ipTraceID: 0)), packet: packet),

        Case(name: "trace v1 (48 bytes, IPv4 orig-ip)", bytes: bytes {
            u8(4)                  // type: trace
            u8(0)                  // subtype: to-endpoint
            le16(149)              // source endpoint
            le32(0)                // hash
            le32(98)               // len_orig
            le16(4)                // len_cap
            u8(1)                  // version 1
            u8(0)                  // ext_version
            le32(22099)            // src_label
            le32(11575)            // dst_label
            le16(149)              // dst_id
            u8(0)                  // reason: new
            u8(0)                  // flags
            le32(12)               // ifindex
            ip4(10, 244, 0, 102)   // orig_ip (v4 in the first 4 bytes)
            zeros(12)              // rest of orig_ip
            packet
        }, message: .trace(TraceNotify(
            observationPoint: .toEndpoint, source: 149, hash: 0, originalLength: 98,
            capturedLength: 4, version: 1, sourceIdentity: SecurityIdentity(22099),
            destinationIdentity: SecurityIdentity(11575), destinationID: 149, reason: .new, flags: [],
            ifindex: 12, originalIP: .v4(IPv4Address(10, 244, 0, 102)), ipTraceID: 0)), packet: packet),

        Case(name: "trace v2 (56 bytes, IPv6 orig-ip, L3 device, encrypted)", bytes: bytes {
            u8(4)                  // type: trace
            u8(3)                  // subtype: to-stack
            le16(0)                // source endpoint
            le32(0x3000_E251)      // hash
            le32(1280)             // len_orig
            le16(4)                // len_cap
            u8(2)                  // version 2
            u8(0)                  // ext_version
            le32(1)                // src_label: host
            le32(16_777_217)       // dst_label: a CIDR identity
            le16(0)                // dst_id
            u8(0x82)               // reason: reply | encrypted
            u8(0x03)               // flags: IPv6 | L3 device
            le32(0xFFFF_FFFF)      // ifindex
            ip6(0xFD00, 0, 0, 0, 0, 0, 0, 1)  // orig_ip
            le64(0x0102_0304_0506_0708)       // ip_trace_id
            packet
        }, message: .trace(TraceNotify(
            observationPoint: .toStack, source: 0, hash: 0x3000_E251, originalLength: 1280,
            capturedLength: 4, version: 2, sourceIdentity: .host,
            destinationIdentity: SecurityIdentity(16_777_217), destinationID: 0,
            reason: TraceReason(rawValue: 0x82), flags: [.ipv6, .l3Device], ifindex: 0xFFFF_FFFF,
            originalIP: .v6(IPv6Address(0xFD00, 0, 0, 0, 0, 0, 0, 1)), ipTraceID: 0x0102_0304_0506_0708)),
            packet: packet),

        Case(name: "debug (20 bytes)", bytes: bytes {
            u8(2)                  // type: debug
            u8(48)                 // subtype: DBG_CT_LOOKUP4_1
            le16(2073)             // source endpoint
            le32(0xABFF_CD1)       // hash
            le32(dbgAddr(10, 244, 0, 102))  // arg1: saddr (be32 in host order)
            le32(dbgAddr(10, 244, 0, 25))   // arg2: daddr
            le32(12544)            // arg3: dport << 16 | sport
        }, message: .debug(DebugMessage(
            subtype: .conntrackLookup4Part1, source: 2073, hash: 0xABFF_CD1,
            arg1: dbgAddr(10, 244, 0, 102), arg2: dbgAddr(10, 244, 0, 25), arg3: 12544)), packet: []),

        Case(name: "debug capture v0 (24 bytes, 32-bit len_cap)", bytes: bytes {
            u8(3)                  // type: debug capture
            u8(4)                  // subtype: DBG_CAPTURE_DELIVERY
            le16(745)              // source endpoint
            le32(1)                // hash
            le32(60)               // len_orig
            le32(4)                // len_cap as the old u32 (version bytes 0)
            le32(12)               // arg1: ifindex
            le32(0)                // arg2
            packet
        }, message: .capture(DebugCapture(
            point: .delivery, source: 745, hash: 1, originalLength: 60, capturedLength: 4,
            version: 0, arg1: 12, arg2: 0)), packet: packet),

        Case(name: "debug capture v1 (24 bytes)", bytes: bytes {
            u8(3)                  // type: debug capture
            u8(9)                  // subtype: DBG_CAPTURE_PROXY_POST
            le16(745)              // source endpoint
            le32(2)                // hash
            le32(60)               // len_orig
            le16(4)                // len_cap
            u8(1)                  // version 1
            u8(0)                  // ext_version
            le32(0x901F)           // arg1: proxy port 8080, network order
            le32(0)                // arg2
            packet
        }, message: .capture(DebugCapture(
            point: .proxyPost, source: 745, hash: 2, originalLength: 60, capturedLength: 4,
            version: 1, arg1: 0x901F, arg2: 0)), packet: packet),

        Case(name: "drop v0 (36 bytes)", bytes: bytes {
            u8(1)                  // type: drop
            u8(133)                // subtype: Policy denied
            le16(164)              // source endpoint
            le32(0x8A1F_2C3D)      // hash
            le32(74)               // len_orig
            le16(4)                // len_cap
            u8(0)                  // version 0
            u8(0)                  // ext_version
            le32(52901)            // src_label
            le32(46212)            // dst_label
            le32(164)              // dst_id
            le16(1998)             // line
            u8(2)                  // file: bpf_lxc.c
            u8(0xFE)               // ext_error: -2
            le32(42)               // ifindex
            packet
        }, message: .drop(DropNotify(
            reason: .policyDenied, source: 164, hash: 0x8A1F_2C3D, originalLength: 74,
            capturedLength: 4, version: 0, sourceIdentity: SecurityIdentity(52901),
            destinationIdentity: SecurityIdentity(46212), destinationID: 164, line: 1998,
            file: BPFSourceFile(rawValue: 2), extError: -2, ifindex: 42, flags: [], ipTraceID: 0)),
            packet: packet),

        Case(name: "drop v1 (36 bytes)", bytes: bytes {
            u8(1)                  // type: drop
            u8(181)                // subtype: Policy denied by denylist
            le16(0)                // source endpoint
            le32(0)                // hash
            le32(74)               // len_orig
            le16(4)                // len_cap
            u8(1)                  // version 1
            u8(0)                  // ext_version
            le32(2)                // src_label: world
            le32(46212)            // dst_label
            le32(0)                // dst_id
            le16(77)               // line
            u8(108)                // file: conntrack.h
            u8(0)                  // ext_error
            le32(3)                // ifindex
            packet
        }, message: .drop(DropNotify(
            reason: DropReason(rawValue: 181), source: 0, hash: 0, originalLength: 74,
            capturedLength: 4, version: 1, sourceIdentity: .world,
            destinationIdentity: SecurityIdentity(46212), destinationID: 0, line: 77,
            file: BPFSourceFile(rawValue: 108), extError: 0, ifindex: 3, flags: [], ipTraceID: 0)),
            packet: packet),

        Case(name: "drop v2 (40 bytes, flags)", bytes: bytes {
            u8(1)                  // type: drop
            u8(134)                // subtype: Invalid packet
            le16(1)                // source endpoint
            le32(9)                // hash
            le32(60)               // len_orig
            le16(4)                // len_cap
            u8(2)                  // version 2
            u8(0)                  // ext_version
            le32(1)                // src_label
            le32(2)                // dst_label
            le32(5)                // dst_id
            le16(10)               // line
            u8(1)                  // file: bpf_host.c
            u8(0)                  // ext_error
            le32(4)                // ifindex
            u8(0x02)               // flags: L3 device
            zeros(3)               // pad
            packet
        }, message: .drop(DropNotify(
            reason: DropReason(rawValue: 134), source: 1, hash: 9, originalLength: 60,
            capturedLength: 4, version: 2, sourceIdentity: .host, destinationIdentity: .world,
            destinationID: 5, line: 10, file: BPFSourceFile(rawValue: 1), extError: 0, ifindex: 4,
            flags: .l3Device, ipTraceID: 0)), packet: packet),

        Case(name: "drop v3 (48 bytes, ip_trace_id)", bytes: bytes {
            u8(1)                  // type: drop
            u8(133)                // subtype: Policy denied
            le16(2073)             // source endpoint
            le32(0)                // hash
            le32(98)               // len_orig
            le16(4)                // len_cap
            u8(3)                  // version 3
            u8(0)                  // ext_version
            le32(22099)            // src_label
            le32(11575)            // dst_label
            le32(149)              // dst_id
            le16(1234)             // line
            u8(2)                  // file: bpf_lxc.c
            u8(0)                  // ext_error
            le32(12)               // ifindex
            u8(0)                  // flags
            zeros(3)               // pad
            le64(77)               // ip_trace_id
            packet
        }, message: .drop(DropNotify(
            reason: .policyDenied, source: 2073, hash: 0, originalLength: 98, capturedLength: 4,
            version: 3, sourceIdentity: SecurityIdentity(22099), destinationIdentity: SecurityIdentity(11575),
            destinationID: 149, line: 1234, file: BPFSourceFile(rawValue: 2), extError: 0, ifindex: 12,
            flags: [], ipTraceID: 77)), packet: packet),
    ]

    @Test(arguments: cases)
    func decodesEveryVersion(_ c: Case) throws {
        let event = try decodeEvent(c.bytes, cpu: 5)
        #expect(event == MonitorEvent(cpu: 5, timestamp: 1_000, payload: .message(c.message, packet: c.packet)))
    }

    /// Perf pads samples to 8 bytes: 0–7 trailing bytes are ignored, 8 are an error.
    @Test(arguments: cases, 0...8)
    func trailingPadding(_ c: Case, padding: Int) throws {
        let padded = c.bytes + [UInt8](repeating: 0xEE, count: padding)
        if padding <= 7 {
            let event = try decodeEvent(padded, cpu: 5)
            #expect(event.payload == .message(c.message, packet: c.packet))
        } else {
            let header = c.bytes.count - c.packet.count
            #expect(decodeError(padded) == .lengthMismatch(offset: header, declared: c.packet.count,
                                                           available: c.packet.count + padding))
        }
    }

    /// Feeding a message one byte at a time: every prefix short of the whole message fails with
    /// the error naming where it stops, and the whole message decodes.
    @Test(arguments: cases)
    func everyTruncationPoint(_ c: Case) {
        let header = c.bytes.count - c.packet.count
        let isDebug = c.bytes[0] == 2
        for length in 0..<c.bytes.count {
            let expected: DecodeError
            if length == 0 {
                expected = .truncated(offset: 0, needed: 1, have: 0)
            } else if isDebug {
                expected = .truncated(offset: 0, needed: 20, have: length)
            } else if length < 16 {
                expected = .truncated(offset: 0, needed: 16, have: length)
            } else if length < header {
                expected = .truncated(offset: 16, needed: header - 16, have: length - 16)
            } else {
                expected = .lengthMismatch(offset: header, declared: c.packet.count, available: length - header)
            }
            #expect(decodeError(Array(c.bytes.prefix(length))) == expected, "length \(length)")
        }
        #expect(decodeError(c.bytes) == nil)
    }

    /// The in-place read for capture files agrees with the full decode on every prefix, padding
    /// and corrupted version byte of every case: the same error, or the same packet and fields,
    /// and the same that pcapng comments take (`PacketSays`).
    @Test(arguments: cases)
    func packetFieldsAgreeWithTheMessage(_ c: Case) {
        var inputs = (0...c.bytes.count).map { Array(c.bytes.prefix($0)) } + (1...8).map { c.bytes + zeros($0) }
        for version in [UInt8(1), 2, 3, 9] where c.bytes.count > 15 {
            var changed = c.bytes
            changed[14] = version
            inputs.append(changed)
        }
        for input in inputs {
            input.withUnsafeBytes { raw in
                let full = Result { () throws(DecodeError) in try MonitorDecoder.decodeMessage(raw) }
                let fields = Result { () throws(DecodeError) in try MonitorDecoder.decodePacketFields(raw) }
                switch (full, fields) {
                case (.failure(let a), .failure(let b)):
                    #expect(a == b, "\(input.count) bytes")
                case (.success(let decoded), .success(let read)):
                    let expected = PacketFields(decoded.message)
                    #expect(read?.packet == (expected == nil ? nil : decoded.packet), "\(input.count) bytes")
                    #expect(read?.fields.ifindex == expected?.ifindex)
                    #expect(read?.fields.originalLength == expected?.originalLength)
                    #expect(read?.fields.flags == expected?.flags)
                    #expect(read?.fields.observationPoint == expected?.observationPoint)
                    if let read {
                        #expect(MonitorDecoder.decodeSays(raw, read.fields) == PacketSays(decoded.message))
                    }
                default:
                    Issue.record("\(input.count) bytes: \(full) but \(fields)")
                }
            }
        }
    }

    /// Samples are only 4-byte aligned and the borrowed path must not care where they start.
    @Test(arguments: cases, 1...7)
    func unalignedBorrowedBytes(_ c: Case, offset: Int) throws {
        let buffer = [UInt8](repeating: 0, count: offset) + c.bytes
        let (message, packet) = try buffer.withUnsafeBytes { raw in
            try MonitorDecoder.decodeMessage(UnsafeRawBufferPointer(rebasing: raw[offset...]))
        }
        #expect(message == c.message)
        let header = c.bytes.count - c.packet.count
        #expect(packet == header..<c.bytes.count)
    }

    @Test func lenCapBeyondTheSample() {
        let message = Message.traceV2(point: 0, source: 1, srcIdentity: 1, dstIdentity: 2, dstID: 1,
                                      reason: 0, ifindex: 1, origIP: ip4(1, 2, 3, 4), packet: zeros(98))
        #expect(decodeError(Array(message.prefix(56 + 10))) == .lengthMismatch(offset: 56, declared: 98, available: 10))
        var bigger = message
        bigger[13] = 0x01  // len_cap = 0x0162
        #expect(decodeError(bigger) == .lengthMismatch(offset: 56, declared: 0x0162, available: 98))
    }

    @Test(arguments: [
        (UInt8(0), "unspec"), (5, "policy verdict"), (6, "recorder capture"), (7, "trace-sock"),
        (129, "access log"), (130, "agent"), (255, "unassigned"),
    ])
    func unknownTypes(_ type: UInt8, _ name: String) {
        #expect(decodeError([type] + zeros(40)) == .unknownType(type), "\(name)")
    }

    @Test(arguments: [
        (UInt8(4), UInt8(3)), (4, 255), (1, 4), (1, 9), (3, 2),
    ])
    func unknownVersions(_ type: UInt8, _ version: UInt8) {
        var message = [type] + zeros(63)
        message[14] = version
        #expect(decodeError(message) == .unknownVersion(type: type, version: version, offset: 14))
    }

    @Test(arguments: [UInt8(1), 3, 4], [UInt8(1), 0x80])
    func unknownExtVersions(_ type: UInt8, _ extVersion: UInt8) {
        var message = [type] + zeros(63)
        message[15] = extVersion
        #expect(decodeError(message) == .unknownExtVersion(type: type, extVersion: extVersion, offset: 15))
    }

    @Test func lostRecords() throws {
        let event = try MonitorDecoder.decode(RawSample(cpu: 7, timestamp: 42, kind: .lost(12)))
        #expect(event == MonitorEvent(cpu: 7, timestamp: 42, payload: .lost(count: 12)))
    }

    @Test func errorsDescribeWhereAndWhat() {
        #expect(DecodeError.truncated(offset: 16, needed: 40, have: 24).description
            == "truncated header: at offset 16 expected 40 bytes, have 24")
        #expect(DecodeError.unknownVersion(type: 4, version: 3, offset: 14).description
            == "unknown version 3 of message type 4 at offset 14")
        #expect(DecodeError.lengthMismatch(offset: 56, declared: 98, available: 10).description
            == "length mismatch: 98 packet bytes declared at offset 56, 10 in the sample")
    }
}

/// The stream helper: the same records fed one by one, in batches of every size, or all at
/// once give the same events and the same error counts.
@Suite struct StreamTests {
    static var records: [RawSample] {
        var records: [RawSample] = []
        for (i, c) in DecoderTests.cases.enumerated() {
            records.append(sample(perfPadded(c.bytes), cpu: UInt32(i % 4), timestamp: UInt64(i)))
            if i % 3 == 0 { records.append(RawSample(cpu: 1, timestamp: UInt64(i), kind: .lost(UInt64(i + 1)))) }
        }
        records.append(sample([]))                                  // truncated
        records.append(sample([9, 0, 0, 0]))                        // unknown type
        records.append(sample([4] + zeros(13) + [7, 0]))            // unknown version
        records.append(sample([1] + zeros(14) + [1] + zeros(40)))   // unknown ext_version
        records.append(sample([2] + zeros(28)))                     // length mismatch
        records.append(sample(Array(DecoderTests.cases[2].bytes.prefix(30))))  // truncated
        return records
    }

    @Test func countsErrorsPerKind() {
        var stream = MonitorEventStream()
        let events = stream.decode(contentsOf: Self.records)
        #expect(events.count == Self.records.count - 6)
        #expect(stream.decoded == UInt64(events.count))
        #expect(stream.errors.truncated == 2)
        #expect(stream.errors.unknownType == 1)
        #expect(stream.errors.unknownVersion == 1)
        #expect(stream.errors.unknownExtVersion == 1)
        #expect(stream.errors.lengthMismatch == 1)
        #expect(stream.errors.total == 6)
        #expect(stream.errors[.truncated] == 2)
        #expect(stream.lastError == .truncated(offset: 16, needed: 40, have: 14))
    }

    @Test func wholeOneByOneAndBatchesAgree() {
        var whole = MonitorEventStream()
        let all = whole.decode(contentsOf: Self.records)

        var single = MonitorEventStream()
        let oneByOne = Self.records.compactMap { single.decode($0) }
        #expect(oneByOne == all)
        #expect(single.errors == whole.errors)

        for size in 1...Self.records.count {
            var batched = MonitorEventStream()
            var events: [MonitorEvent] = []
            var start = 0
            while start < Self.records.count {
                let end = min(start + size, Self.records.count)
                events += batched.decode(contentsOf: Self.records[start..<end])
                start = end
            }
            #expect(events == all, "batch size \(size)")
            #expect(batched.errors == whole.errors, "batch size \(size)")
            #expect(batched.decoded == whole.decoded)
        }
    }
}
