import FlowwatchCore
import Synchronization

/// Hubble's metrics, by Hubble's names and labels (`pkg/hubble/metrics`: the flow, drop and tcp
/// plugins without context labels, and the always-on lost events counter), plus flowwatch's own
/// gauges and counters, in the Prometheus text format.
///
/// - `hubble_flows_processed_total{protocol,type,subtype,verdict}`: every flow; protocol is
///   `TCP`, `UDP`, `ICMPv4`, `ICMPv6` or `Unknown L4`, type `Trace`/`Drop`/`Capture`, subtype
///   the observation point of traces (`to-endpoint`).
/// - `hubble_drop_total{reason,protocol}`: dropped flows by `DropReason` name.
/// - `hubble_tcp_flags_total{flag,family}`: forwarded TCP flows with FIN, SYN, SYN-ACK, RST.
/// - `hubble_lost_events_total{source}`: lost events by lower-cased `LostEventSource`.
///
/// Counting happens on the capture thread (one lock per flow, uncontended but for scrapes); the
/// label values are small enums, kept as keys and turned into text only when scraped.
public final class FlowMetrics: Sendable {
    private struct FlowKey: Hashable {
        var protocolName: ProtocolName
        var type: Int32
        var subType: Int32
        var verdict: Flow.Verdict
    }

    private struct DropKey: Hashable {
        var reason: UInt8
        var protocolName: ProtocolName
    }

    private struct TCPKey: Hashable {
        var flag: TCPFlagLabel
        var family: Flow.IPVersion
    }

    private enum ProtocolName: String, Hashable {
        case tcp = "TCP", udp = "UDP", icmpv4 = "ICMPv4", icmpv6 = "ICMPv6", unknownL4 = "Unknown L4"

        init(_ l4: Flow.Layer4?) {
            switch l4 {
            case .tcp?: self = .tcp
            case .udp?: self = .udp
            case .icmpv4?: self = .icmpv4
            case .icmpv6?: self = .icmpv6
            case nil: self = .unknownL4
            }
        }
    }

    private enum TCPFlagLabel: String, Hashable {
        case fin = "FIN", syn = "SYN", synAck = "SYN-ACK", rst = "RST"
    }

    private struct Counts {
        var flows: [FlowKey: UInt64] = [:]
        var drops: [DropKey: UInt64] = [:]
        var tcpFlags: [TCPKey: UInt64] = [:]
        var lost: [LostEvent.Source: UInt64] = [:]
    }

    private let counts = Mutex(Counts())

    public init() {}

    /// Counts an event the capture decoded (flows and the perf ring's lost events).
    public func record(_ event: FlowEvent) {
        switch event {
        case .flow(let f): record(f)
        case .lost(let l): lost(l.source, l.numEventsLost)
        case .debug: break
        }
    }

    public func record(_ f: Flow) {
        let protocolName = ProtocolName(f.l4)
        counts.withLock { c in
            c.flows[FlowKey(protocolName: protocolName, type: f.eventType.type, subType: f.eventType.subType, verdict: f.verdict), default: 0] += 1
            if f.verdict == .dropped {
                c.drops[DropKey(reason: f.dropReasonDesc.rawValue, protocolName: protocolName), default: 0] += 1
            }
            if f.verdict == .forwarded, case .tcp(_, _, let flags)? = f.l4, let family = f.ip?.ipVersion {
                if flags.contains(.fin) { c.tcpFlags[TCPKey(flag: .fin, family: family), default: 0] += 1 }
                if flags.contains(.syn) {
                    c.tcpFlags[TCPKey(flag: flags.contains(.ack) ? .synAck : .syn, family: family), default: 0] += 1
                }
                if flags.contains(.rst) { c.tcpFlags[TCPKey(flag: .rst, family: family), default: 0] += 1 }
            }
        }
    }

    /// Events lost at `source` (perf ring, a GetFlows reader lapped by the ring writer).
    public func lost(_ source: LostEvent.Source, _ count: UInt64) {
        counts.withLock { $0.lost[source, default: 0] += count }
    }

    /// One of flowwatch's own samples, supplied at scrape time.
    public struct Sample: Sendable {
        public var name: String
        public var help: String
        public var type: String
        public var labels: [(String, String)]
        public var value: Double

        public init(name: String, help: String, type: String = "gauge", labels: [(String, String)] = [], value: Double) {
            self.name = name
            self.help = help
            self.type = type
            self.labels = labels
            self.value = value
        }
    }

    /// The exposition text: Hubble's metrics, then `extra` (flowwatch's own), grouped by name.
    public func render(extra: [Sample] = []) -> String {
        let c = counts.withLock { $0 }
        var out = ""
        out += "# HELP hubble_flows_processed_total Total number of flows processed\n# TYPE hubble_flows_processed_total counter\n"
        for (k, v) in c.flows.sorted(by: { "\($0.key)" < "\($1.key)" }) {
            let (type, subType) = Self.typeLabels(k.type, k.subType)
            out += "hubble_flows_processed_total" + labels([("protocol", k.protocolName.rawValue), ("subtype", subType), ("type", type), ("verdict", k.verdict.name)]) + " \(v)\n"
        }
        out += "# HELP hubble_drop_total Number of drops\n# TYPE hubble_drop_total counter\n"
        for (k, v) in c.drops.sorted(by: { ($0.key.reason, $0.key.protocolName.rawValue) < ($1.key.reason, $1.key.protocolName.rawValue) }) {
            let reason = DropReason(rawValue: k.reason).protoName ?? "\(k.reason)"
            out += "hubble_drop_total" + labels([("protocol", k.protocolName.rawValue), ("reason", reason)]) + " \(v)\n"
        }
        out += "# HELP hubble_tcp_flags_total TCP flag occurrences\n# TYPE hubble_tcp_flags_total counter\n"
        for (k, v) in c.tcpFlags.sorted(by: { ($0.key.flag.rawValue, $0.key.family.rawValue) < ($1.key.flag.rawValue, $1.key.family.rawValue) }) {
            out += "hubble_tcp_flags_total" + labels([("family", k.family.name), ("flag", k.flag.rawValue)]) + " \(v)\n"
        }
        out += "# HELP hubble_lost_events_total Number of lost events\n# TYPE hubble_lost_events_total counter\n"
        for source in LostEvent.Source.allCases where source != .unknown {
            out += "hubble_lost_events_total" + labels([("source", source.name.lowercased())]) + " \(c.lost[source] ?? 0)\n"
        }
        var seen: Set<String> = []
        for s in extra {
            if seen.insert(s.name).inserted {
                out += "# HELP \(s.name) \(s.help)\n# TYPE \(s.name) \(s.type)\n"
            }
            out += s.name + labels(s.labels) + " " + Self.format(s.value) + "\n"
        }
        return out
    }

    /// Hubble's type and subtype labels for a monitor message type.
    private static func typeLabels(_ type: Int32, _ subType: Int32) -> (String, String) {
        switch MonitorMessageType(rawValue: UInt8(truncatingIfNeeded: type)) {
        case .drop?: return ("Drop", "")
        case .capture?: return ("Capture", "")
        case .trace?: return ("Trace", TraceObservationPoint(rawValue: UInt8(truncatingIfNeeded: subType)).name ?? "\(subType)")
        default: return ("Unknown", "\(type)")
        }
    }

    private static func format(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return "\(v)"
    }

    private func labels(_ pairs: [(String, String)]) -> String {
        guard !pairs.isEmpty else { return "" }
        return "{" + pairs.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
    }

    private static func escape(_ value: String) -> String {
        var out = ""
        for c in value {
            switch c {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            case "\n": out += "\\n"
            default: out.append(c)
            }
        }
        return out
    }
}
