/// Decodes datapath notify messages: pure functions from the bytes of one perf sample to values.
///
/// Dispatch is on byte 0 (the message type), then on the version byte (byte 14 of the capture
/// header) through a table of header lengths per version, as Cilium's
/// `pkg/monitor/datapath_trace.go` does. The decoder trusts the lengths inside the message, not
/// the sample's: perf pads samples with up to 7 bytes, which are ignored. Short or malformed
/// input is a `DecodeError`, never a trap.
public enum MonitorDecoder {
    /// Bytes perf may append to a sample to keep records 8-byte aligned.
    public static let maxPerfPadding = 7

    /// Decodes one perf record. The packet bytes are copied out of the sample.
    public static func decode(_ sample: RawSample) throws(DecodeError) -> MonitorEvent {
        var arrays = SampleArrays(keep: 0)
        return try decode(sample, packetArrays: &arrays)
    }

    /// Decodes one perf record, taking the packet's array from `packetArrays`: a stream that
    /// reuses arrays allocates nothing per event once its consumers drop each event in turn.
    @inline(__always)
    static func decode(_ sample: RawSample, packetArrays: inout SampleArrays) throws(DecodeError) -> MonitorEvent {
        switch sample.kind {
        case .lost(let count):
            return MonitorEvent(cpu: sample.cpu, timestamp: sample.timestamp, payload: .lost(count: count))
        case .event(let bytes):
            // The closure cannot throw a typed error; plain values carry the outcome out.
            var event: MonitorEvent?
            var failure = DecodeError.unknownType(0)
            bytes.withUnsafeBytes { raw in
                do throws(DecodeError) {
                    event = try decode(cpu: sample.cpu, timestamp: sample.timestamp, bytes: raw, packetArrays: &packetArrays)
                } catch {
                    failure = error
                }
            }
            guard let event else { throw failure }
            return event
        }
    }

    /// Decodes one perf sample from borrowed bytes (a ring entry's), taking the packet's array
    /// from `packetArrays`.
    @inline(__always)
    static func decode(cpu: UInt32, timestamp: UInt64, bytes: UnsafeRawBufferPointer,
                       packetArrays: inout SampleArrays) throws(DecodeError) -> MonitorEvent {
        let (message, range) = try decodeMessage(bytes)
        let packet = range.isEmpty ? [] : packetArrays.take(copying: UnsafeRawBufferPointer(rebasing: bytes[range]))
        return MonitorEvent(cpu: cpu, timestamp: timestamp, payload: .message(message, packet: packet))
    }

    /// Decodes the message in borrowed bytes without allocating: the header values and where in
    /// `bytes` the appended packet lies (empty for debug messages).
    public static func decodeMessage(
        _ bytes: UnsafeRawBufferPointer
    ) throws(DecodeError) -> (message: MonitorMessage, packet: Range<Int>) {
        let type = try messageType(bytes)
        switch type {
        case .debug:
            return (.debug(try decodeDebug(bytes)), NotifyLayout.debugLength..<NotifyLayout.debugLength)
        case .trace:
            let header = try captureHeader(bytes, type: type.rawValue, lengths: NotifyLayout.traceLengths)
            return (.trace(decodeTrace(bytes, header)), header.packet)
        case .drop:
            let header = try captureHeader(bytes, type: type.rawValue, lengths: NotifyLayout.dropLengths)
            return (.drop(decodeDrop(bytes, header)), header.packet)
        case .capture:
            let header = try captureHeader(bytes, type: type.rawValue, lengths: NotifyLayout.captureLengths)
            return (.capture(decodeCapture(bytes, header)), header.packet)
        }
    }

    /// `decodeMessage(_:)` for a capture file that keeps no meaning (classic pcap): the same
    /// checks, so the same samples fail with the same errors, but only the fields a packet's
    /// record takes are read, and no message is built. Nil for a debug message, which carries no
    /// packet.
    static func decodePacketFields(
        _ bytes: UnsafeRawBufferPointer
    ) throws(DecodeError) -> (fields: PacketFields, packet: Range<Int>)? {
        let type = try messageType(bytes)
        switch type {
        case .debug:
            _ = try decodeDebug(bytes)
            return nil
        case .trace:
            let h = try captureHeader(bytes, type: type.rawValue, lengths: NotifyLayout.traceLengths)
            return (PacketFields(ifindex: traceIfindex(bytes), originalLength: h.originalLength, flags: traceFlags(bytes),
                                 observationPoint: TraceObservationPoint(rawValue: h.subtype)), h.packet)
        case .drop:
            let h = try captureHeader(bytes, type: type.rawValue, lengths: NotifyLayout.dropLengths)
            return (PacketFields(ifindex: dropIfindex(bytes), originalLength: h.originalLength,
                                 flags: dropFlags(bytes, version: h.version), observationPoint: nil), h.packet)
        case .capture:
            let h = try captureHeader(bytes, type: type.rawValue, lengths: NotifyLayout.captureLengths)
            let point = DebugCapturePoint(rawValue: h.subtype)
            return (PacketFields(capture: point, arg1: captureArg1(bytes), originalLength: h.originalLength), h.packet)
        }
    }

    /// What the message in `bytes` says of its packet, as a pcapng comment does: for a message
    /// `decodePacketFields` took (a trace, drop or debug capture, its header whole), whose
    /// `fields` it read.
    static func decodeSays(_ bytes: UnsafeRawBufferPointer, _ fields: PacketFields) -> PacketSays {
        let subtype = UInt16(bytes.u8(at: 1) ?? 0)
        switch MonitorMessageType(rawValue: bytes.u8(at: 0) ?? 0) {
        case .trace:
            let version = bytes.u8(at: NotifyLayout.versionOffset) ?? 0
            return PacketSays(what: 0x100 | subtype, reason: bytes.u8(at: 26) ?? 0, identities: identities(bytes),
                              originalSource: traceOriginalIP(bytes, version: version, fields.flags), flags: fields.flags)
        case .drop:
            return PacketSays(what: 0x200 | subtype, identities: identities(bytes), flags: fields.flags)
        case .capture, .debug, nil:
            return PacketSays(what: 0x300 | subtype, flags: [])
        }
    }

    /// Byte 0, the message type.
    @inline(__always)
    static func messageType(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> MonitorMessageType {
        guard let typeByte = bytes.u8(at: 0) else {
            throw .truncated(offset: 0, needed: 1, have: 0)
        }
        guard let type = MonitorMessageType(rawValue: typeByte) else {
            throw .unknownType(typeByte)
        }
        return type
    }

    // MARK: - Headers

    /// The common and capture header fields (bytes 0–15), validated against the sample.
    struct CaptureHeader {
        var subtype: UInt8
        var source: UInt16
        var hash: UInt32
        var originalLength: UInt32
        var capturedLength: UInt16
        var version: UInt8
        var extVersion: UInt8
        /// Where the appended packet lies in the sample.
        var packet: Range<Int>
    }

    /// Reads the 16-byte capture header, picks the header length for its version, and checks
    /// that the sample holds exactly that header, `len_cap` packet bytes and at most 7 bytes of
    /// padding. After this, every fixed-offset read inside the header is in bounds.
    static func captureHeader(_ bytes: UnsafeRawBufferPointer, type: UInt8,
                              lengths: [Int]) throws(DecodeError) -> CaptureHeader {
        let common = NotifyLayout.captureHeaderLength
        guard bytes.count >= common else {
            throw .truncated(offset: 0, needed: common, have: bytes.count)
        }
        let version = bytes[NotifyLayout.versionOffset]
        guard Int(version) < lengths.count else {
            throw .unknownVersion(type: type, version: version, offset: NotifyLayout.versionOffset)
        }
        let extVersion = bytes[NotifyLayout.extVersionOffset]
        guard extVersion == 0 else {
            throw .unknownExtVersion(type: type, extVersion: extVersion, offset: NotifyLayout.extVersionOffset)
        }
        let headerLength = lengths[Int(version)]
        guard bytes.count >= headerLength else {
            throw .truncated(offset: common, needed: headerLength - common, have: bytes.count - common)
        }
        let capturedLength = bytes.le(UInt16.self, at: 12) ?? 0
        let available = bytes.count - headerLength
        guard available >= Int(capturedLength), available - Int(capturedLength) <= maxPerfPadding else {
            throw .lengthMismatch(offset: headerLength, declared: Int(capturedLength), available: available)
        }
        return CaptureHeader(
            subtype: bytes[1],
            source: bytes.le(UInt16.self, at: 2) ?? 0,
            hash: bytes.le(UInt32.self, at: 4) ?? 0,
            originalLength: bytes.le(UInt32.self, at: 8) ?? 0,
            capturedLength: capturedLength,
            version: version,
            extVersion: extVersion,
            packet: headerLength..<(headerLength + Int(capturedLength)))
    }

    static func decodeDebug(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) -> DebugMessage {
        try checkDebug(bytes)
        return DebugMessage(
            subtype: DebugMessageType(rawValue: bytes[1]),
            source: bytes.le(UInt16.self, at: 2) ?? 0,
            hash: bytes.le(UInt32.self, at: 4) ?? 0,
            arg1: bytes.le(UInt32.self, at: 8) ?? 0,
            arg2: bytes.le(UInt32.self, at: 12) ?? 0,
            arg3: bytes.le(UInt32.self, at: 16) ?? 0)
    }

    /// What there is to check of a debug message: its length, perf padding allowed.
    @inline(__always)
    static func checkDebug(_ bytes: UnsafeRawBufferPointer) throws(DecodeError) {
        let length = NotifyLayout.debugLength
        guard bytes.count >= length else {
            throw .truncated(offset: 0, needed: length, have: bytes.count)
        }
        guard bytes.count - length <= maxPerfPadding else {
            throw .lengthMismatch(offset: length, declared: 0, available: bytes.count - length)
        }
    }

    // The fields a packet's record takes, read by the full decode and by `decodePacketFields`
    // alike; `captureHeader` has checked the header's length for each.
    static func traceFlags(_ bytes: UnsafeRawBufferPointer) -> TraceFlags { TraceFlags(rawValue: bytes.u8(at: 27) ?? 0) }
    static func traceIfindex(_ bytes: UnsafeRawBufferPointer) -> UInt32 { bytes.le(UInt32.self, at: 28) ?? 0 }
    static func dropIfindex(_ bytes: UnsafeRawBufferPointer) -> UInt32 { bytes.le(UInt32.self, at: 32) ?? 0 }
    static func dropFlags(_ bytes: UnsafeRawBufferPointer, version: UInt8) -> TraceFlags {
        TraceFlags(rawValue: version >= 2 ? bytes.u8(at: 36) ?? 0 : 0)
    }
    static func captureArg1(_ bytes: UnsafeRawBufferPointer) -> UInt32 { bytes.le(UInt32.self, at: 16) ?? 0 }
    /// A trace's or drop's identities, as `PacketSays` keeps them.
    static func identities(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        PacketSays.identities(SecurityIdentity(bytes.le(UInt32.self, at: 16) ?? 0),
                              SecurityIdentity(bytes.le(UInt32.self, at: 20) ?? 0))
    }
    /// A trace's source before reverse NAT: version 1 and later, the family by the flags.
    static func traceOriginalIP(_ bytes: UnsafeRawBufferPointer, version: UInt8, _ flags: TraceFlags) -> IPAddress? {
        guard version >= 1 && bytes.contains(32, length: 16) else { return nil }
        return flags.contains(.ipv6)
            ? .v6(IPv6Address(loading: bytes, at: 32))
            : .v4(IPv4Address(value: bytes.be(UInt32.self, at: 32) ?? 0))
    }

    static func decodeTrace(_ bytes: UnsafeRawBufferPointer, _ h: CaptureHeader) -> TraceNotify {
        let flags = traceFlags(bytes)
        let originalIP = traceOriginalIP(bytes, version: h.version, flags)
        return TraceNotify(
            observationPoint: TraceObservationPoint(rawValue: h.subtype),
            source: h.source, hash: h.hash,
            originalLength: h.originalLength, capturedLength: h.capturedLength,
            version: h.version, extVersion: h.extVersion,
            sourceIdentity: SecurityIdentity(bytes.le(UInt32.self, at: 16) ?? 0),
            destinationIdentity: SecurityIdentity(bytes.le(UInt32.self, at: 20) ?? 0),
            destinationID: bytes.le(UInt16.self, at: 24) ?? 0,
            reason: TraceReason(rawValue: bytes.u8(at: 26) ?? 0),
            flags: flags,
            ifindex: traceIfindex(bytes),
            originalIP: originalIP,
            ipTraceID: h.version >= 2 ? bytes.le(UInt64.self, at: 48) ?? 0 : 0)
    }

    static func decodeDrop(_ bytes: UnsafeRawBufferPointer, _ h: CaptureHeader) -> DropNotify {
        DropNotify(
            reason: DropReason(rawValue: h.subtype),
            source: h.source, hash: h.hash,
            originalLength: h.originalLength, capturedLength: h.capturedLength,
            version: h.version, extVersion: h.extVersion,
            sourceIdentity: SecurityIdentity(bytes.le(UInt32.self, at: 16) ?? 0),
            destinationIdentity: SecurityIdentity(bytes.le(UInt32.self, at: 20) ?? 0),
            destinationID: bytes.le(UInt32.self, at: 24) ?? 0,
            line: bytes.le(UInt16.self, at: 28) ?? 0,
            file: BPFSourceFile(rawValue: bytes.u8(at: 30) ?? 0),
            extError: Int8(bitPattern: bytes.u8(at: 31) ?? 0),
            ifindex: dropIfindex(bytes),
            flags: dropFlags(bytes, version: h.version),
            ipTraceID: h.version >= 3 ? bytes.le(UInt64.self, at: 40) ?? 0 : 0)
    }

    static func decodeCapture(_ bytes: UnsafeRawBufferPointer, _ h: CaptureHeader) -> DebugCapture {
        DebugCapture(
            point: DebugCapturePoint(rawValue: h.subtype),
            source: h.source, hash: h.hash,
            originalLength: h.originalLength, capturedLength: h.capturedLength,
            version: h.version, extVersion: h.extVersion,
            arg1: captureArg1(bytes),
            arg2: bytes.le(UInt32.self, at: 20) ?? 0)
    }
}

/// What a packet's capture record takes from the message that carried the packet: trace, drop
/// and debug-capture messages have it; debug messages carry no packet.
struct PacketFields: Sendable {
    /// The device the packet was seen on.
    var ifindex: UInt32
    var originalLength: UInt32
    var flags: TraceFlags
    /// A trace's observation point, which gives the direction; nil for drops and captures.
    var observationPoint: TraceObservationPoint?

    init(ifindex: UInt32, originalLength: UInt32, flags: TraceFlags, observationPoint: TraceObservationPoint?) {
        self.ifindex = ifindex
        self.originalLength = originalLength
        self.flags = flags
        self.observationPoint = observationPoint
    }

    /// A debug capture names its device only at local delivery (its first argument).
    init(capture point: DebugCapturePoint, arg1: UInt32, originalLength: UInt32) {
        self.init(ifindex: point == .delivery ? arg1 : 0, originalLength: originalLength, flags: [], observationPoint: nil)
    }

    /// The same fields from a decoded message; nil for a debug message.
    init?(_ message: MonitorMessage) {
        switch message {
        case .trace(let t):
            self.init(ifindex: t.ifindex, originalLength: t.originalLength, flags: t.flags, observationPoint: t.observationPoint)
        case .drop(let d):
            self.init(ifindex: d.ifindex, originalLength: d.originalLength, flags: d.flags, observationPoint: nil)
        case .capture(let c):
            self.init(capture: c.point, arg1: c.arg1, originalLength: c.originalLength)
        case .debug:
            return nil
        }
    }
}

/// What a packet's message says of it, as its pcapng comment does with the addresses the
/// packet's flow takes: read from the message, so that a comment made before is found without
/// building a flow (`PacketRecordBuilder`). Its own type, not part of `PacketFields`: classic
/// pcap, which reads those in place, keeps none of it.
struct PacketSays: Sendable, Equatable {
    /// The kind and its number: 0x100 + a trace's observation point, 0x200 + a drop's reason,
    /// 0x300 + a debug capture's point.
    var what: UInt16
    /// A trace's reason byte (conntrack state and flags); 0 for other messages.
    var reason: UInt8 = 0
    /// A trace's or drop's source identity in the high half, its destination's in the low; 0
    /// for debug captures.
    var identities: UInt64 = 0
    /// A trace's source before reverse NAT, which its flow takes (Hubble's `OrigIP`); nil
    /// when it carries none (0.0.0.0 or `::`, or a version without it) and for other messages.
    var originalSource: IPAddress?
    /// Where the packet's bytes start: Ethernet, or IPv4/IPv6 on L3 devices (debug captures
    /// carry no flags and start with Ethernet).
    var firstLayer: PacketDissector.FirstLayer

    init(what: UInt16, reason: UInt8 = 0, identities: UInt64 = 0, originalSource: IPAddress? = nil, flags: TraceFlags) {
        self.what = what
        self.reason = reason
        self.identities = identities
        self.originalSource = TraceNotify.originalSource(originalSource)
        firstLayer = PacketDissector.FirstLayer(flags: flags)
    }

    /// The same from a decoded message; nil for a debug message.
    init?(_ message: MonitorMessage) {
        switch message {
        case .trace(let t):
            self.init(what: 0x100 | UInt16(t.observationPoint.rawValue), reason: t.reason.rawValue,
                      identities: Self.identities(t.sourceIdentity, t.destinationIdentity),
                      originalSource: t.originalIP, flags: t.flags)
        case .drop(let d):
            self.init(what: 0x200 | UInt16(d.reason.rawValue),
                      identities: Self.identities(d.sourceIdentity, d.destinationIdentity), flags: d.flags)
        case .capture(let c):
            self.init(what: 0x300 | UInt16(c.point.rawValue), flags: [])
        case .debug:
            return nil
        }
    }

    /// The source's identity in the high half, the destination's in the low.
    static func identities(_ source: SecurityIdentity, _ destination: SecurityIdentity) -> UInt64 {
        UInt64(source.rawValue) << 32 | UInt64(destination.rawValue)
    }
}

/// Header lengths and offsets of the notify messages (Cilium `bpf/lib/notify.h`, `trace.h`,
/// `dbg.h`, `drop.h`; flowwatch's `bpf/events.h` emits the newest version of each).
enum NotifyLayout {
    /// NOTIFY_COMMON_HDR + NOTIFY_CAPTURE_HDR.
    static let captureHeaderLength = 16
    static let versionOffset = 14
    static let extVersionOffset = 15
    /// `struct debug_msg`: common header + three arguments, no version byte.
    static let debugLength = 20
    /// Header length by version: v0 without the original address, v1 with it, v2 with the IP
    /// trace id.
    static let traceLengths = [32, 48, 56]
    /// v0 and v1 share a layout; v2 adds the flags, v3 the IP trace id.
    static let dropLengths = [36, 36, 40, 48]
    /// Version 0 is the layout with a 32-bit `len_cap` (whose high bytes were the version).
    static let captureLengths = [24, 24]
}
