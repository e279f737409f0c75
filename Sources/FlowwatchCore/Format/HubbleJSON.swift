/// `hubble observe -o json` (= `jsonpb`): one JSON object per line, the protojson form of
/// `GetFlowsResponse` for flows and lost events and of `GetDebugEventsResponse` for debug
/// events, as `encoding/json` prints it:
///
///     {"flow":{"time":"2026-11-21T09:28:33.123456789Z","verdict":"FORWARDED",…,"Summary":"TCP Flags: SYN"},"node_name":"k8s1","time":"2026-11-21T09:28:33.123456789Z"}
///     {"lost_events":{"source":"PERF_EVENT_RING_BUFFER","num_events_lost":"12","cpu":3},"node_name":"k8s1","time":"…"}
///     {"debug_event":{"type":"DBG_CT_VERDICT","source":{"ID":149,…},"hash":0,"arg1":0,"arg2":0,"arg3":0,"message":"CT verdict: New, revnat=0","cpu":1},"node_name":"k8s1","time":"…"}
///
/// The rules are protojson's with Cilium's `UseProtoNames`: keys are the proto field names
/// (`IP`, `l4`, `ipVersion`, `Type`, `Summary` keep their capitals), fields appear in
/// declaration order, zero values and empty lists are left out while set messages and wrapper
/// values (`is_reply`, `cpu`, `hash`) are written even when zero, enums are names (numbers when
/// the enum has no name for the value), 64-bit integers are strings, timestamps are RFC 3339 in
/// UTC with 0, 3, 6 or 9 fraction digits. Strings are escaped as protojson does, plus `<`, `>`,
/// `&`, U+2028 and U+2029 as `encoding/json` re-escapes them. Written by hand: no
/// `JSONEncoder`, no intermediate strings, each line through a `LineBuffer`; keys and enum
/// names are copied from bytes made once, and the text of values that come back line after line
/// (endpoints, interfaces, MAC addresses, the node name, a timestamp's parts) is kept and copied.
public struct HubbleJSONWriter: FlowOutput {
    private var line = LineBuffer()
    private var state = State()

    /// What one line leaves for the next.
    private struct State {
        var clock = JSONClock()
        var endpoints = RecentTexts<Flow.Endpoint>(capacity: 8)
        var interfaces = RecentTexts<Flow.NetworkInterface>(capacity: 8)
        var macs = RecentTexts<MACAddress>(capacity: 8)
        var nodeNames = RecentTexts<String>(capacity: 2)
    }

    public init() {}

    public mutating func write(_ event: FlowEvent, into b: inout [UInt8]) {
        Self.write(into: &b, &line, &state) { Self.write(event, to: &$0, &$1) }
    }

    /// `write(.flow(flow))` without the flow wrapped in an event, which copies it.
    public mutating func write(flow: Flow, into b: inout [UInt8]) {
        Self.write(into: &b, &line, &state) { Self.write(flow: flow, to: &$0, &$1) }
    }

    /// One line written by `body`. `line` and `state` are parameters of their own so that
    /// `body` can reach `state` while `line` is in use (a copy of it would share the kept texts,
    /// and the next change to them would copy them all).
    private static func write(into b: inout [UInt8], _ line: inout LineBuffer, _ state: inout State,
                              _ body: (inout ByteCursor, inout State) -> Void) {
        line.append(to: &b) { body(&$0, &state) }
    }

    private static func write<B: ByteSink>(_ event: FlowEvent, to b: inout B, _ state: inout State) {
        switch event {
        case .flow(let f):
            write(flow: f, to: &b, &state)
        case .lost(let l):
            var o = JSONObject(&b)
            o.key(#","lost_events":"#, &b)
            writeLost(l, into: &b, &state.clock)
            endResponse(&o, l.nodeName, l.time, &b, &state)
        case .debug(let d):
            var o = JSONObject(&b)
            o.key(#","debug_event":"#, &b)
            writeDebug(d, into: &b, &state.endpoints)
            endResponse(&o, d.nodeName, d.time, &b, &state)
        }
    }

    /// The response's fields from the flow in hand: `event.nodeName` and `event.time` would
    /// each copy the flow out of its event again.
    private static func write<B: ByteSink>(flow f: Flow, to b: inout B, _ state: inout State) {
        var o = JSONObject(&b)
        o.key(#","flow":"#, &b)
        writeFlow(f, into: &b, &state)
        endResponse(&o, f.nodeName, f.time, &b, &state)
    }

    @inline(__always)
    private static func endResponse<B: ByteSink>(_ o: inout JSONObject, _ nodeName: String, _ time: FlowTime, _ b: inout B,
                                                 _ state: inout State) {
        o.string(#","node_name":"#, nodeName, &b, recent: &state.nodeNames)
        o.key(#","time":"#, &b)
        state.clock.append(time, to: &b)
        o.end(&b)
        b.append(UInt8(ascii: "\n"))
    }

    // MARK: - flow.Flow

    private static func writeFlow<B: ByteSink>(_ f: Flow, into b: inout B, _ state: inout State) {
        var o = JSONObject(&b)
        o.key(#","time":"#, &b)
        state.clock.append(f.time, to: &b)
        o.protoEnum(f.verdict.rawValue, verdictField, &b)
        o.number(#","drop_reason":"#, f.dropReason, &b)
        if let ethernet = f.ethernet {
            o.key(#","ethernet":"#, &b)
            var e = JSONObject(&b)
            e.key(#","source":"#, &b)
            state.macs.write(ethernet.source, into: &b) { mac, text in text.appendQuoted { $0.appendMAC(mac) } }
            e.key(#","destination":"#, &b)
            state.macs.write(ethernet.destination, into: &b) { mac, text in text.appendQuoted { $0.appendMAC(mac) } }
            e.end(&b)
        }
        if let ip = f.ip {
            o.key(#","IP":"#, &b)
            var i = JSONObject(&b)
            i.key(#","source":"#, &b)
            b.appendQuoted { $0.appendIP(ip.source) }
            if let xlated = ip.sourceXlated {
                i.key(#","source_xlated":"#, &b)
                b.appendQuoted { $0.appendIP(xlated) }
            }
            i.key(#","destination":"#, &b)
            b.appendQuoted { $0.appendIP(ip.destination) }
            i.protoEnum(ip.ipVersion.rawValue, ipVersionField, &b)
            i.bool(#","encrypted":"#, ip.encrypted, &b)
            i.end(&b)
        }
        if let l4 = f.l4 {
            o.key(#","l4":"#, &b)
            writeLayer4(l4, into: &b)
        }
        o.key(#","source":"#, &b)
        state.endpoints.write(f.source, into: &b, writeEndpoint)
        o.key(#","destination":"#, &b)
        state.endpoints.write(f.destination, into: &b, writeEndpoint)
        o.protoEnum(f.type.rawValue, flowTypeField, &b)
        o.string(#","node_name":"#, f.nodeName, &b, recent: &state.nodeNames)
        o.bool(#","reply":"#, f.isReply == true, &b)
        o.key(#","event_type":"#, &b)
        var t = JSONObject(&b)
        t.number(#","type":"#, f.eventType.type, &b)
        t.number(#","sub_type":"#, f.eventType.subType, &b)
        t.end(&b)
        o.protoEnum(f.trafficDirection.rawValue, trafficDirectionField, &b)
        o.protoEnum(f.traceObservationPoint.rawValue, observationPointField, &b)
        o.protoEnum(f.traceReason.rawValue, traceReasonField, &b)
        if let file = f.file {
            o.key(#","file":"#, &b)
            var fi = JSONObject(&b)
            fi.string(#","name":"#, file.name, &b)
            fi.number(#","line":"#, file.line, &b)
            fi.end(&b)
        }
        if f.ipTraceID != 0 {
            o.key(#","ip_trace_id":"#, &b)
            var tr = JSONObject(&b)
            tr.uint64(#","trace_id":"#, f.ipTraceID, &b)
            tr.end(&b)
        }
        o.protoEnum(f.dropReasonDesc.rawValue, dropReasonDescField, &b)
        if let isReply = f.isReply {
            o.key(#","is_reply":"#, &b)
            b.appendASCII(isReply ? "true" : "false")
        }
        o.protoEnum(f.debugCapturePoint.rawValue, debugCapturePointField, &b)
        if let interface = f.interface {
            o.key(#","interface":"#, &b)
            state.interfaces.write(interface, into: &b) { interface, text in
                var n = JSONObject(&text)
                n.number(#","index":"#, interface.index, &text)
                n.string(#","name":"#, interface.name, &text)
                n.end(&text)
            }
        }
        o.number(#","proxy_port":"#, f.proxyPort, &b)
        if f.summary != .none {
            o.key(#","Summary":"#, &b)
            b.appendQuoted { $0.appendFlowSummary(f.summary) }
        }
        o.end(&b)
    }

    private static func writeLayer4<B: ByteSink>(_ l4: Flow.Layer4, into b: inout B) {
        var o = JSONObject(&b)
        switch l4 {
        case .tcp(let source, let destination, let flags):
            o.key(#","TCP":"#, &b)
            var t = JSONObject(&b)
            t.number(#","source_port":"#, source, &b)
            t.number(#","destination_port":"#, destination, &b)
            // Hubble always sets the flags message, so `{}` appears even with no flag set.
            t.key(#","flags":"#, &b)
            var fl = JSONObject(&b)
            for (flag, name) in tcpFlagFields where flags.contains(flag) {
                fl.key(name, &b)
                b.appendASCII("true")
            }
            fl.end(&b)
            t.end(&b)
        case .udp(let source, let destination):
            o.key(#","UDP":"#, &b)
            var u = JSONObject(&b)
            u.number(#","source_port":"#, source, &b)
            u.number(#","destination_port":"#, destination, &b)
            u.end(&b)
        case .icmpv4(let type, let code), .icmpv6(let type, let code):
            if case .icmpv4 = l4 { o.key(#","ICMPv4":"#, &b) } else { o.key(#","ICMPv6":"#, &b) }
            var i = JSONObject(&b)
            i.number(#","type":"#, type, &b)
            i.number(#","code":"#, code, &b)
            i.end(&b)
        }
        o.end(&b)
    }

    private static func writeEndpoint(_ e: Flow.Endpoint, into b: inout [UInt8]) {
        var o = JSONObject(&b)
        o.number(#","ID":"#, e.id, &b)
        o.number(#","identity":"#, e.identity, &b)
        o.string(#","namespace":"#, e.namespace, &b)
        if !e.labels.isEmpty {
            o.key(#","labels":"#, &b)
            b.append(UInt8(ascii: "["))
            for (i, label) in e.labels.enumerated() {
                if i > 0 { b.append(UInt8(ascii: ",")) }
                b.appendJSONString(label)
            }
            b.append(UInt8(ascii: "]"))
        }
        o.string(#","pod_name":"#, e.podName, &b)
        o.end(&b)
    }

    // MARK: - flow.LostEvent, flow.DebugEvent

    private static func writeLost<B: ByteSink>(_ l: LostEvent, into b: inout B, _ clock: inout JSONClock) {
        var o = JSONObject(&b)
        o.protoEnum(l.source.rawValue, lostSourceField, &b)
        o.uint64(#","num_events_lost":"#, l.numEventsLost, &b)
        if let cpu = l.cpu {
            o.key(#","cpu":"#, &b)
            b.appendDecimal(cpu)
        }
        if let first = l.first {
            o.key(#","first":"#, &b)
            clock.append(first, to: &b)
        }
        if let last = l.last {
            o.key(#","last":"#, &b)
            clock.append(last, to: &b)
        }
        o.end(&b)
    }

    private static func writeDebug<B: ByteSink>(_ d: DebugEvent, into b: inout B, _ endpoints: inout RecentTexts<Flow.Endpoint>) {
        var o = JSONObject(&b)
        o.protoEnum(d.type.rawValue, debugTypeField, &b)
        if let source = d.source {
            o.key(#","source":"#, &b)
            endpoints.write(source, into: &b, writeEndpoint)
        }
        // UInt32Value wrappers: always written, zeros included.
        o.key(#","hash":"#, &b)
        b.appendDecimal(d.hash)
        o.key(#","arg1":"#, &b)
        b.appendDecimal(d.arg1)
        o.key(#","arg2":"#, &b)
        b.appendDecimal(d.arg2)
        o.key(#","arg3":"#, &b)
        b.appendDecimal(d.arg3)
        o.string(#","message":"#, d.message, &b)
        if let cpu = d.cpu {
            o.key(#","cpu":"#, &b)
            b.appendDecimal(cpu)
        }
        o.end(&b)
    }
}

/// The text of the values written lately, reused while they come again: a node's flows go
/// between a few endpoints (labels and all, the largest part of a line), interfaces and MAC
/// addresses, under one node name. Comparing is cheap when the value is the same: strings and
/// label lists share their storage with the value seen before, and the same storage holds the
/// same bytes.
private struct RecentTexts<Value: SameText & Sendable>: Sendable {
    private var values: [Value] = []
    /// Where each value's text is in `texts`.
    private var spans: [Range<Int>] = []
    /// The texts one after the other, with those of replaced values still in place until it is
    /// emptied (one buffer: reading a text takes no reference count).
    private var texts: [UInt8] = []
    private let capacity: Int
    /// The slot the next new value takes once all are in use.
    private var next = 0
    /// How large `texts` may grow before it is emptied, along with everything kept.
    private static var textLimit: Int { 1 << 16 }

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Appends the text `make` writes for `value`, made again only when `value` is not among
    /// the last ones.
    mutating func write<B: ByteSink>(_ value: Value, into b: inout B, _ make: (Value, inout [UInt8]) -> Void) {
        let span: Range<Int>
        if let i = values.firstIndex(where: { $0.hasSameText(as: value) }) {
            span = spans[i]
        } else {
            if texts.count > Self.textLimit {
                values.removeAll(keepingCapacity: true)
                spans.removeAll(keepingCapacity: true)
                texts.removeAll(keepingCapacity: true)
                next = 0
            }
            let start = texts.count
            make(value, &texts)
            span = start..<texts.count
            if values.count < capacity {
                values.append(value)
                spans.append(span)
            } else {
                values[next] = value
                spans[next] = span
                next = (next + 1) % capacity
            }
        }
        texts.withUnsafeBufferPointer { b.append(contentsOf: UnsafeBufferPointer(rebasing: $0[span])) }
    }
}

/// A value whose JSON text is the same as another's: `==` would do but for strings, equal
/// when canonically equivalent even where their bytes, and so their text, differ.
private protocol SameText {
    func hasSameText(as other: Self) -> Bool
}

extension MACAddress: SameText {
    fileprivate func hasSameText(as other: Self) -> Bool { self == other }
}

/// Whether two values are the same representation: a small string's bytes are in it, and a
/// larger string's or an array's storage, held by both, is shared and so left as it is.
@inline(__always)
private func sameRepresentation<T>(_ a: T, _ b: T) -> Bool {
    withUnsafeBytes(of: a) { a in
        withUnsafeBytes(of: b) { b in
            var i = 0
            while i + 8 <= a.count {
                if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
                    return false
                }
                i += 8
            }
            return a[i...].elementsEqual(b[i...])
        }
    }
}

extension String: SameText {
    @inline(__always)
    fileprivate func hasSameText(as other: Self) -> Bool {
        sameRepresentation(self, other) || sameBytes(self, other)
    }
}

/// Whether two strings are the same bytes, when they are not the same representation.
private func sameBytes(_ a: String, _ b: String) -> Bool {
    guard a.utf8.count == b.utf8.count else { return false }
    let same = a.utf8.withContiguousStorageIfAvailable { a in
        b.utf8.withContiguousStorageIfAvailable { b in sameBytes(a, b) }
    }
    return same.flatMap { $0 } ?? a.utf8.elementsEqual(b.utf8)
}

/// Whether two runs of bytes of the same length are the same, eight bytes at a time.
private func sameBytes(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
    // Both alive, so the same address is the same storage.
    guard let pa = a.baseAddress, let pb = b.baseAddress, pa != pb else { return true }
    let count = a.count
    let ra = UnsafeRawPointer(pa)
    let rb = UnsafeRawPointer(pb)
    guard count >= 8 else {
        for i in 0..<count where pa[i] != pb[i] { return false }
        return true
    }
    var i = 0
    while i + 8 < count {
        if ra.loadUnaligned(fromByteOffset: i, as: UInt64.self) != rb.loadUnaligned(fromByteOffset: i, as: UInt64.self) {
            return false
        }
        i += 8
    }
    return ra.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self) == rb.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
}

extension Array: SameText where Element == String {
    fileprivate func hasSameText(as other: Self) -> Bool {
        sameRepresentation(self, other) || (count == other.count && zip(self, other).allSatisfy { $0.hasSameText(as: $1) })
    }
}

extension Flow.Endpoint: SameText {
    fileprivate func hasSameText(as other: Self) -> Bool {
        id == other.id && identity == other.identity
            && (sharesNames(with: other)
                || (namespace.hasSameText(as: other.namespace) && labels.hasSameText(as: other.labels)
                    && podName.hasSameText(as: other.podName)))
    }
}

extension Flow.NetworkInterface: SameText {
    fileprivate func hasSameText(as other: Self) -> Bool {
        index == other.index && name.hasSameText(as: other.name)
    }
}

/// protojson `Timestamp`s as JSON strings, with what they share with the one before kept: the
/// date and time of day while the second lasts, and the rest while the nanoseconds are the same
/// (a flow's line has its time twice: the flow's and the response's).
private struct JSONClock {
    private var seconds = SecondsText()
    private var nanos: Int32? = nil
    /// The fraction, `Z` and the closing quote: `.123456789Z"` at most (ten digits for nanoseconds
    /// out of range).
    private var rest: (UInt64, UInt64) = (0, 0)
    private var restCount = 0

    mutating func append<B: ByteSink>(_ time: FlowTime, to b: inout B) {
        b.append(UInt8(ascii: "\""))
        seconds.append(time, layout: 0, to: &b) { $0.appendProtoSeconds(time) }
        if time.nanos != nanos {
            nanos = time.nanos
            restCount = withUnsafeMutableBytes(of: &rest) { raw in
                let room = raw.bindMemory(to: UInt8.self)
                var cursor = ByteCursor(room)
                cursor.appendProtoFraction(time)
                cursor.append(UInt8(ascii: "\""))
                return cursor.written(in: room)
            }
        }
        withUnsafeBytes(of: &rest) { b.append(contentsOf: UnsafeBufferPointer(rebasing: $0.bindMemory(to: UInt8.self)[..<restCount])) }
    }
}

/// The TCP flag fields in `flow.TCPFlags` declaration order, as keys.
private let tcpFlagFields: [(TCPFlags, StaticString)] = [
    (.fin, #","FIN":"#), (.syn, #","SYN":"#), (.rst, #","RST":"#), (.psh, #","PSH":"#), (.ack, #","ACK":"#),
    (.urg, #","URG":"#), (.ece, #","ECE":"#), (.cwr, #","CWR":"#), (.ns, #","NS":"#),
]

/// Writes one JSON object's fields with the commas between them, leaving out the zero values
/// protojson omits. Keys are given whole, comma, quotes and colon included (`#","time":"#`),
/// and written in one copy; the first field's comma is skipped.
private struct JSONObject {
    private var empty = true

    init<B: ByteSink>(_ b: inout B) {
        b.append(UInt8(ascii: "{"))
    }

    /// `,"name":`, without the comma before the first field.
    @inline(__always)
    mutating func key<B: ByteSink>(_ key: StaticString, _ b: inout B) {
        let skip = empty ? 1 : 0
        empty = false
        b.append(contentsOf: UnsafeBufferPointer(start: key.utf8Start + skip, count: key.utf8CodeUnitCount - skip))
    }

    func end<B: ByteSink>(_ b: inout B) {
        b.append(UInt8(ascii: "}"))
    }

    /// 32-bit and smaller integers are JSON numbers; 0 is left out.
    mutating func number<T: BinaryInteger, B: ByteSink>(_ name: StaticString, _ value: T, _ b: inout B) {
        guard value != 0 else { return }
        key(name, &b)
        b.appendDecimal(value)
    }

    /// 64-bit integers are strings in protojson; 0 is left out.
    mutating func uint64<B: ByteSink>(_ name: StaticString, _ value: UInt64, _ b: inout B) {
        guard value != 0 else { return }
        key(name, &b)
        b.appendQuoted { $0.appendDecimal(value) }
    }

    mutating func bool<B: ByteSink>(_ name: StaticString, _ value: Bool, _ b: inout B) {
        guard value else { return }
        key(name, &b)
        b.appendASCII("true")
    }

    mutating func string<B: ByteSink>(_ name: StaticString, _ value: String, _ b: inout B) {
        guard !value.isEmpty else { return }
        key(name, &b)
        b.appendJSONString(value)
    }

    /// The same, its text kept in `recent`.
    mutating func string<B: ByteSink>(_ name: StaticString, _ value: String, _ b: inout B,
                                      recent: inout RecentTexts<String>) {
        guard !value.isEmpty else { return }
        key(name, &b)
        recent.write(value, into: &b) { value, text in text.appendJSONString(value) }
    }

    /// An enum field: left out when 0, its name when it has one, else the number.
    mutating func protoEnum<T: BinaryInteger, B: ByteSink>(_ value: T, _ field: JSONEnumField, _ b: inout B) {
        guard value != 0 else { return }
        if field.append(value, to: &b, skipping: empty ? 1 : 0) {
            empty = false
        } else {
            key(field.key, &b)
            b.appendDecimal(value)
        }
    }
}

/// An enum field's key and names as JSON, `,"verdict":"FORWARDED"`, made once from the enum's
/// own names for the numbers 0-255 (no enum here has a larger name): a named value is then one
/// copy, where making the name's `String`, reading it back and writing the key apart cost more.
private struct JSONEnumField: Sendable {
    let key: StaticString
    private var text: [UInt8] = []
    /// Per number, where its field starts in `text` (high bits) and its length (low byte); 0
    /// for a number without a name.
    private var spans = [UInt32](repeating: 0, count: 256)

    init(_ key: StaticString, _ name: (Int32) -> String?) {
        self.key = key
        for value in 0..<256 {
            guard let n = name(Int32(value)) else { continue }
            let start = text.count
            text.appendASCII(key)
            text.appendJSONString(n)
            precondition(text.count - start < 256, "an enum field's text is longer than a span holds")
            spans[value] = UInt32(start) << 8 | UInt32(text.count - start)
        }
    }

    /// Writes the field for `value` without its first `skip` bytes (the comma, before an
    /// object's first field); false, writing nothing, when the number has no name.
    @inline(__always)
    func append<T: BinaryInteger, B: ByteSink>(_ value: T, to b: inout B, skipping skip: Int) -> Bool {
        guard value >= 0 && value < 256 else { return false }
        let span = spans[Int(value)]
        guard span != 0 else { return false }
        text.withUnsafeBufferPointer {
            b.append(contentsOf: UnsafeBufferPointer(start: $0.baseAddress! + Int(span >> 8) + skip, count: Int(span & 0xFF) - skip))
        }
        return true
    }
}

private let verdictField = JSONEnumField(#","verdict":"#) { Flow.Verdict(rawValue: $0)?.name }
private let ipVersionField = JSONEnumField(#","ipVersion":"#) { Flow.IPVersion(rawValue: $0)?.name }
private let flowTypeField = JSONEnumField(#","Type":"#) { Flow.FlowType(rawValue: $0)?.name }
private let trafficDirectionField = JSONEnumField(#","traffic_direction":"#) { Flow.TrafficDirection(rawValue: $0)?.name }
private let observationPointField = JSONEnumField(#","trace_observation_point":"#) { Flow.ObservationPoint(rawValue: $0).name }
private let traceReasonField = JSONEnumField(#","trace_reason":"#) { Flow.Reason(rawValue: $0).name }
private let dropReasonDescField = JSONEnumField(#","drop_reason_desc":"#) { DropReason(rawValue: UInt8($0)).protoName }
private let debugCapturePointField = JSONEnumField(#","debug_capture_point":"#) { DebugCapturePoint(rawValue: UInt8($0)).protoName }
private let debugTypeField = JSONEnumField(#","type":"#) { DebugMessageType(rawValue: UInt8($0)).protoName }
private let lostSourceField = JSONEnumField(#","source":"#) { LostEvent.Source(rawValue: $0)?.name }

extension ByteSink {
    /// A value written between quotes by `body`; for text that needs no escaping (addresses,
    /// numbers, names made of ASCII letters and punctuation).
    fileprivate mutating func appendQuoted(_ body: (inout Self) -> Void) {
        append(UInt8(ascii: "\""))
        body(&self)
        append(UInt8(ascii: "\""))
    }

    /// A JSON string as protojson writes it and `encoding/json` then re-escapes it: `\"`,
    /// `\\`, `\b \f \n \r \t`, other control characters as `\u00xx`, and `<`, `>`, `&`,
    /// U+2028, U+2029 as `\u…`. Everything else is copied as UTF-8, in runs.
    mutating func appendJSONString(_ text: String) {
        append(UInt8(ascii: "\""))
        // Borrowed, not copied into a `var` for `withUTF8` (a retain and release per string).
        if text.utf8.withContiguousStorageIfAvailable({ appendJSONEscaped($0) }) == nil {
            var text = text
            text.withUTF8 { appendJSONEscaped($0) }
        }
        append(UInt8(ascii: "\""))
    }

    /// The escaped UTF-8 of a JSON string, without its quotes.
    private mutating func appendJSONEscaped(_ utf8: UnsafeBufferPointer<UInt8>) {
        var runStart = 0
        var i = jsonPlainPrefix(utf8)
        while i < utf8.count {
            let byte = utf8[i]
            let escape: StaticString
            var length = 1
            var hexDigits = false
            switch byte {
            case UInt8(ascii: "\""): escape = "\\\""
            case UInt8(ascii: "\\"): escape = "\\\\"
            case 0x08: escape = "\\b"
            case 0x0C: escape = "\\f"
            case 0x0A: escape = "\\n"
            case 0x0D: escape = "\\r"
            case 0x09: escape = "\\t"
            case UInt8(ascii: "<"): escape = "\\u003c"
            case UInt8(ascii: ">"): escape = "\\u003e"
            case UInt8(ascii: "&"): escape = "\\u0026"
            case 0..<0x20:
                escape = "\\u00"
                hexDigits = true
            case 0xE2 where i + 2 < utf8.count && utf8[i + 1] == 0x80 && (utf8[i + 2] == 0xA8 || utf8[i + 2] == 0xA9):
                escape = utf8[i + 2] == 0xA8 ? "\\u2028" : "\\u2029"
                length = 3
            default:
                i += 1
                continue
            }
            append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
            appendASCII(escape)
            if hexDigits { appendHexByte(byte) }
            i += length
            runStart = i
        }
        append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
    }
}

/// How many bytes at the start of `utf8` need no escaping, checked sixteen at a time: labels and
/// names almost never hold a byte to escape.
private func jsonPlainPrefix(_ utf8: UnsafeBufferPointer<UInt8>) -> Int {
    guard let base = utf8.baseAddress else { return 0 }
    var i = 0
    while i + 16 <= utf8.count {
        if jsonNeedsEscape(UnsafeRawPointer(base + i).loadUnaligned(as: SIMD16<UInt8>.self)) { return i }
        i += 16
    }
    let rest = utf8.count - i
    guard rest > 0 else { return i }
    // The last bytes without a copy (a call to memcpy for most strings, which are short): the
    // final sixteen overlapping the ones checked, or two overlapping words, or single bytes.
    let from = UnsafeRawPointer(base + i)
    let tail: SIMD16<UInt8>
    if i > 0 {
        tail = UnsafeRawPointer(base + utf8.count - 16).loadUnaligned(as: SIMD16<UInt8>.self)
    } else if rest >= 8 {
        tail = unsafeBitCast((from.loadUnaligned(as: UInt64.self), from.loadUnaligned(fromByteOffset: rest - 8, as: UInt64.self)),
                             to: SIMD16<UInt8>.self)
    } else if rest >= 4 {
        let words = (from.loadUnaligned(as: UInt32.self), from.loadUnaligned(fromByteOffset: rest - 4, as: UInt32.self))
        tail = unsafeBitCast((words.0, words.1, words.0, words.1), to: SIMD16<UInt8>.self)
    } else {
        let bytes = base + i
        let word = UInt32(bytes[0]) | UInt32(bytes[rest / 2]) << 8 | UInt32(bytes[rest - 1]) << 16 | UInt32(bytes[0]) << 24
        tail = unsafeBitCast((word, word, word, word), to: SIMD16<UInt8>.self)
    }
    return jsonNeedsEscape(tail) ? i : utf8.count
}

/// Whether any of sixteen bytes is one `appendJSONString` escapes (or the first byte of U+2028 and
/// U+2029). Vector operands throughout: a comparison with a scalar, and `any`, are not vector
/// instructions; the constants are made here rather than as globals, which would be checked for
/// initialization on every use.
@inline(__always)
private func jsonNeedsEscape(_ v: SIMD16<UInt8>) -> Bool {
    let low = SIMD16<UInt8>(repeating: 0x20)
    let quote = SIMD16<UInt8>(repeating: UInt8(ascii: "\""))
    let backslash = SIMD16<UInt8>(repeating: UInt8(ascii: "\\"))
    let less = SIMD16<UInt8>(repeating: UInt8(ascii: "<"))
    let greater = SIMD16<UInt8>(repeating: UInt8(ascii: ">"))
    let ampersand = SIMD16<UInt8>(repeating: UInt8(ascii: "&"))
    let lineSeparatorLead = SIMD16<UInt8>(repeating: 0xE2)
    let special = (v .< low) .| (v .== quote) .| (v .== backslash) .| (v .== less) .| (v .== greater)
        .| (v .== ampersand) .| (v .== lineSeparatorLead)
    let lanes = unsafeBitCast(special, to: (UInt64, UInt64).self)
    return lanes.0 | lanes.1 != 0
}
