/// The text pieces `hubble observe` builds its compact, dict and table lines from
/// (`hubble/pkg/printer/printer.go`), written straight into the output buffer.
extension ByteSink {
    /// `GetHostNames` for one side: `namespace/pod` (with IP translation) or the address, then
    /// `:port` when the transport has a non-zero one (IPv6 addresses bracketed); the MAC when
    /// the packet had no IP header; nothing when it had neither.
    mutating func appendHubbleHost(_ f: Flow, source: Bool, translate: Bool) {
        guard let ip = f.ip else {
            if let ethernet = f.ethernet { appendMAC(source ? ethernet.source : ethernet.destination) }
            return
        }
        let port = f.l4?.ports.map { source ? $0.source : $0.destination } ?? 0
        // Each side read in place: copying an endpoint out of the flow retains its strings.
        if translate && (source ? !f.source.podName.isEmpty : !f.destination.podName.isEmpty) {
            if source { append(f.source.podPath) } else { append(f.destination.podPath) }
            if port != 0 {
                append(UInt8(ascii: ":"))
                appendDecimal(port)
            }
        } else if port != 0 {
            appendHostPort(source ? ip.source : ip.destination, port)
        } else {
            appendIP(source ? ip.source : ip.destination)
        }
    }

    /// `fmtIdentity`: `(world)` for reserved identities (0 is `unknown`), `(ID:22099)` for
    /// the rest, or always the number when `numeric` is set.
    mutating func appendHubbleIdentity(_ identity: UInt32, numeric: Bool) {
        if !numeric {
            if identity == 0 {
                appendASCII("(unknown)")
                return
            }
            if let name = SecurityIdentity(identity).reservedName {
                append(UInt8(ascii: "("))
                append(name)
                append(UInt8(ascii: ")"))
                return
            }
        }
        appendASCII("(ID:")
        appendDecimal(identity)
        append(UInt8(ascii: ")"))
    }

    /// `GetFlowType`: the observation point of a trace, the drop reason of a drop, the capture
    /// point of a debug capture; numbers for values without a name.
    mutating func appendHubbleFlowType(_ f: Flow) {
        let subType = f.eventType.subType
        switch f.eventType.type {
        case Int32(MonitorMessageType.trace.rawValue):
            if let name = TraceObservationPoint(rawValue: UInt8(truncatingIfNeeded: subType)).name {
                append(name)
            } else {
                appendDecimal(UInt8(truncatingIfNeeded: subType))
            }
        case Int32(MonitorMessageType.drop.rawValue):
            let reason = DropReason(rawValue: UInt8(truncatingIfNeeded: subType))
            if let text = reason.text { append(text) } else { appendDecimal(reason.rawValue) }
        case Int32(MonitorMessageType.capture.rawValue):
            appendProtoEnum(f.debugCapturePoint.protoName, f.debugCapturePoint.rawValue)
        default:
            appendASCII("UNKNOWN")
        }
    }

    /// `getSummary`: the IP trace id, if any, then the summary.
    mutating func appendHubbleSummary(_ f: Flow) {
        if f.ipTraceID > 0 {
            appendASCII("IP Trace ID: ")
            appendDecimal(f.ipTraceID)
            appendASCII("; ")
        }
        appendFlowSummary(f.summary)
    }

    /// `fmtEndpointShort` for debug events: `ns/pod (ID: 690)`, `reserved:host (ID: 1)` for
    /// an endpoint known only by one reserved label, `ID: 5` otherwise, `N/A` without one.
    mutating func appendHubbleEndpointShort(_ endpoint: Flow.Endpoint?) {
        guard let endpoint else {
            appendASCII("N/A")
            return
        }
        if !endpoint.namespace.isEmpty && !endpoint.podName.isEmpty {
            append(endpoint.podPath)
        } else if endpoint.labels.count == 1, endpoint.labels[0].hasPrefix("reserved:") {
            append(endpoint.labels[0])
        } else {
            appendASCII("ID: ")
            appendDecimal(endpoint.id)
            return
        }
        appendASCII(" (ID: ")
        appendDecimal(endpoint.id)
        append(UInt8(ascii: ")"))
    }

    /// A proto enum as Go's `String()` prints it: its name, or the number if it has none.
    mutating func appendProtoEnum<T: BinaryInteger>(_ name: String?, _ value: T) {
        if let name { append(name) } else { appendDecimal(value) }
    }

    /// A debug event's type as Hubble prints it: `DBG_CT_VERDICT`, or the number.
    mutating func appendHubbleDebugType(_ d: DebugEvent) {
        appendProtoEnum(d.type.protoName, d.type.rawValue)
    }

    /// `fmtCPU`: two digits, `N/A` when unknown.
    mutating func appendHubbleCPU(_ cpu: Int32?) {
        if let cpu { appendDecimal(cpu, width: 2) } else { appendASCII("N/A") }
    }

    /// The lost-event summary `CPU(3) - 12` with ` (first: …, last: …)` when either time is
    /// known; `separator` is ` - ` in tables and dicts and ` ` in compact lines.
    mutating func appendHubbleLostCount(_ l: LostEvent, separator: StaticString, _ format: HubbleTimeFormat) {
        appendASCII("CPU(")
        appendDecimal(l.cpu ?? 0)
        append(UInt8(ascii: ")"))
        appendASCII(separator)
        appendDecimal(l.numEventsLost)
        if l.first != nil || l.last != nil {
            appendASCII(" (first: ")
            appendOptionalHubbleTime(l.first, format)
            appendASCII(", last: ")
            appendOptionalHubbleTime(l.last, format)
            append(UInt8(ascii: ")"))
        }
    }

    private mutating func appendOptionalHubbleTime(_ time: FlowTime?, _ format: HubbleTimeFormat) {
        if let time { appendHubbleTime(time, format) } else { appendASCII("N/A") }
    }
}

/// The text of the last few identities written, `(ID:22099)` or `(world)`, kept as two words: a
/// line names two identities, mostly the same few, and copying 16 bytes costs less than making
/// the digits again. A text longer than 16 bytes (`(overlay-to-encrypt)`) is made each time.
struct IdentityTexts {
    private var keys: (UInt64, UInt64, UInt64, UInt64) = (.max, .max, .max, .max)
    private var texts: (Text, Text, Text, Text) = (Text(), Text(), Text(), Text())
    /// The slot the next new identity takes.
    private var next = 0

    private struct Text {
        var words: (UInt64, UInt64) = (0, 0)
        var count = 0
    }

    /// `appendHubbleIdentity(identity, numeric:)` into `b`.
    @inline(__always)
    mutating func append<B: ByteSink>(_ identity: UInt32, numeric: Bool, to b: inout B) {
        // Never .max: the identity takes the low 32 bits, `numeric` one more.
        let key = UInt64(identity) | (numeric ? 1 << 32 : 0)
        let text: Text
        if keys.0 == key {
            text = texts.0
        } else if keys.1 == key {
            text = texts.1
        } else if keys.2 == key {
            text = texts.2
        } else if keys.3 == key {
            text = texts.3
        } else {
            var made = Text()
            let fits = withUnsafeMutableBytes(of: &made.words) { raw in
                let room = raw.bindMemory(to: UInt8.self)
                var cursor = ByteCursor(room)
                cursor.appendHubbleIdentity(identity, numeric: numeric)
                made.count = cursor.written(in: room)
                return !cursor.overflowed
            }
            guard fits else {
                b.appendHubbleIdentity(identity, numeric: numeric)
                return
            }
            switch next {
            case 0: (keys.0, texts.0) = (key, made)
            case 1: (keys.1, texts.1) = (key, made)
            case 2: (keys.2, texts.2) = (key, made)
            default: (keys.3, texts.3) = (key, made)
            }
            next = (next + 1) & 3
            text = made
        }
        if text.count <= 8 {
            b.append(word: text.words.0, count: text.count)
        } else {
            b.append(word: text.words.0, count: 8)
            b.append(word: text.words.1, count: text.count - 8)
        }
    }
}
