import FlowwatchAPI
import FlowwatchCore
import SwiftProtobuf

/// A filter a client sent that flowwatch cannot apply; the server answers INVALID_ARGUMENT
/// with this text.
public struct FilterConversionError: Error, CustomStringConvertible, Sendable, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

extension FlowFilter {
    /// Hubble's `flow.FlowFilter` with Hubble's value syntax: IPs and CIDRs, `[namespace/]pod`
    /// prefixes, label selectors, ports as decimal strings, protocol names, node name patterns.
    /// A field flowwatch does not know (FQDNs, HTTP, services, workloads, …) is refused by its
    /// number rather than ignored: ignoring it would widen the filter, and a filter on L7
    /// fields would have matched nothing in Hubble either.
    public init(_ p: Flow_FlowFilter) throws(FilterConversionError) {
        if let unknown = p.unknownFields.fieldNumbers.first {
            throw FilterConversionError("FlowFilter field \(unknown)\(hubbleFilterFieldNames[unknown].map { " (\($0))" } ?? "") is not supported by flowwatch")
        }
        var f = FlowFilter.Fields()
        func prefixes(_ texts: [String], _ name: String) throws(FilterConversionError) -> IPPrefixSet {
            var set = IPPrefixSet()
            for t in texts {
                guard let prefix = IPPrefix(t) else { throw FilterConversionError("\(name): '\(t)' is not an IP address or CIDR") }
                set.insert(prefix)
            }
            return set
        }
        func pods(_ texts: [String], _ name: String) throws(FilterConversionError) -> [PodPattern] {
            var out: [PodPattern] = []
            for t in texts {
                guard let pod = PodPattern(t) else { throw FilterConversionError("\(name): '\(t)' is not [namespace/][pod-name-prefix]") }
                out.append(pod)
            }
            return out
        }
        func labels(_ texts: [String], _ name: String) throws(FilterConversionError) -> [LabelSelector] {
            var out: [LabelSelector] = []
            for t in texts {
                do throws(LabelSelectorError) {
                    out.append(try LabelSelector(t))
                } catch {
                    throw FilterConversionError("\(name): '\(t)' is not a label selector: \(error)")
                }
            }
            return out
        }
        func ports(_ texts: [String], _ name: String) throws(FilterConversionError) -> PortSet {
            var set = PortSet()
            for t in texts {
                guard let port = UInt16(t) else { throw FilterConversionError("\(name): '\(t)' is not a port number (0-65535)") }
                set.insert(port)
            }
            return set
        }
        f.sourceIP = try prefixes(p.sourceIp, "source_ip")
        f.destinationIP = try prefixes(p.destinationIp, "destination_ip")
        f.sourcePod = try pods(p.sourcePod, "source_pod")
        f.destinationPod = try pods(p.destinationPod, "destination_pod")
        f.sourceLabel = try labels(p.sourceLabel, "source_label")
        f.destinationLabel = try labels(p.destinationLabel, "destination_label")
        f.sourceIdentity = p.sourceIdentity
        f.destinationIdentity = p.destinationIdentity
        f.sourcePort = try ports(p.sourcePort, "source_port")
        f.destinationPort = try ports(p.destinationPort, "destination_port")
        for name in p.protocol {
            guard let proto = L4ProtocolSet.names.first(where: { $0.0 == name.lowercased() }) else {
                throw FilterConversionError("protocol: '\(name)' is not one of \(L4ProtocolSet.names.map(\.0).joined(separator: ", "))")
            }
            f.protocols.formUnion(proto.1)
        }
        f.tcpFlags = p.tcpFlags.map(\.flags)
        for v in p.verdict {
            guard let verdict = Flow.Verdict(rawValue: Int32(v.rawValue)) else {
                throw FilterConversionError("verdict: \(v.rawValue) is not a verdict")
            }
            f.verdict.insert(verdict)
        }
        f.eventType = p.eventType.map { EventTypeFilter(type: $0.type, subType: $0.matchSubType ? $0.subType : nil) }
        for d in p.trafficDirection {
            guard let direction = Flow.TrafficDirection(rawValue: Int32(d.rawValue)) else {
                throw FilterConversionError("traffic_direction: \(d.rawValue) is not a direction")
            }
            f.trafficDirection.insert(direction)
        }
        for v in p.ipVersion {
            guard let version = Flow.IPVersion(rawValue: Int32(v.rawValue)) else {
                throw FilterConversionError("ip_version: \(v.rawValue) is not an IP version")
            }
            f.ipVersion.insert(version)
        }
        for i in p.interface {
            // Hubble matches the index too when given; flowwatch's filter matches names.
            guard !i.name.isEmpty, i.index == 0 else {
                throw FilterConversionError("interface: flowwatch filters interfaces by name only (index \(i.index), name '\(i.name)')")
            }
            f.interface.append(i.name)
        }
        for n in p.nodeName {
            do throws(NodeNamePattern.Problem) {
                f.nodeName.append(try NodeNamePattern(n))
            } catch {
                throw FilterConversionError("node_name: '\(n)': \(error)")
            }
        }
        self.init(f)
    }
}

extension Flow_FlowFilter {
    /// What a client sends for one of flowwatch's filters (`--pod x` becomes
    /// `default/x`, the namespace made explicit as Hubble's CLI does).
    public init(_ filter: FlowFilter) {
        self.init()
        let f = filter.fields
        func ips(_ set: IPPrefixSet) -> [String] {
            set.prefixes.map { $0.length == $0.address.bitWidth ? $0.address.description : $0.description }
        }
        sourceIp = ips(f.sourceIP)
        destinationIp = ips(f.destinationIP)
        sourcePod = f.sourcePod.map { "\($0.namespace)/\($0.prefix)" }
        destinationPod = f.destinationPod.map { "\($0.namespace)/\($0.prefix)" }
        sourceLabel = f.sourceLabel.map(\.text)
        destinationLabel = f.destinationLabel.map(\.text)
        sourceIdentity = f.sourceIdentity
        destinationIdentity = f.destinationIdentity
        sourcePort = f.sourcePort.ports.map { String($0) }
        destinationPort = f.destinationPort.ports.map { String($0) }
        // `icmp` is both versions; each name the set covers is sent once.
        var remaining = f.protocols
        for (name, set) in L4ProtocolSet.names where !set.isEmpty && remaining.isSuperset(of: set) {
            `protocol`.append(name)
            remaining.subtract(set)
        }
        tcpFlags = f.tcpFlags.map { Flow_TCPFlags($0) }
        verdict = Flow.Verdict.allCases.filter { f.verdict.contains($0) }.map { Flow_Verdict(rawValue: Int($0.rawValue)) ?? .unknown }
        eventType = f.eventType.map {
            var e = Flow_EventTypeFilter()
            e.type = $0.type
            if let s = $0.subType {
                e.matchSubType = true
                e.subType = s
            }
            return e
        }
        trafficDirection = [Flow.TrafficDirection.ingress, .egress].filter { f.trafficDirection.contains($0) }
            .map { Flow_TrafficDirection(rawValue: Int($0.rawValue)) ?? .unknown }
        ipVersion = [Flow.IPVersion.ipv4, .ipv6].filter { f.ipVersion.contains($0) }
            .map { Flow_IPVersion(rawValue: Int($0.rawValue)) ?? .ipNotUsed }
        interface = f.interface.map {
            var i = Flow_NetworkInterface()
            i.name = $0
            return i
        }
        nodeName = f.nodeName.map(\.text)
    }
}

extension FlowFilterSet {
    /// A request's whitelist and blacklist.
    public init(whitelist: [Flow_FlowFilter], blacklist: [Flow_FlowFilter]) throws(FilterConversionError) {
        var white: [FlowFilter] = []
        var black: [FlowFilter] = []
        for (i, p) in whitelist.enumerated() {
            do throws(FilterConversionError) { white.append(try FlowFilter(p)) } catch {
                throw FilterConversionError("whitelist[\(i)]: \(error)")
            }
        }
        for (i, p) in blacklist.enumerated() {
            do throws(FilterConversionError) { black.append(try FlowFilter(p)) } catch {
                throw FilterConversionError("blacklist[\(i)]: \(error)")
            }
        }
        self.init(whitelist: white, blacklist: black)
    }
}

/// Hubble's FlowFilter fields that flowwatch's proto leaves out, for the refusal's text.
private let hubbleFilterFieldNames: [Int: String] = [
    7: "source_fqdn", 8: "destination_fqdn", 9: "http_status_code", 15: "reply", 16: "source_service",
    17: "destination_service", 18: "dns_query", 21: "http_method", 22: "http_path", 26: "source_workload",
    27: "destination_workload", 28: "trace_id", 29: "uuid", 33: "drop_reason_desc", 34: "source_ip_xlated",
    36: "node_labels", 39: "ip_trace_id", 40: "encrypted", 999: "experimental",
]

extension UnknownStorage {
    /// The field numbers in these bytes (wire format: a varint tag, then the value).
    var fieldNumbers: [Int] {
        var numbers: [Int] = []
        let bytes = [UInt8](data)
        var i = 0
        func varint() -> UInt64? {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while i < bytes.count, shift < 64 {
                let b = bytes[i]
                i += 1
                value |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
            return nil
        }
        while i < bytes.count, let tag = varint() {
            let number = Int(tag >> 3)
            if !numbers.contains(number) { numbers.append(number) }
            switch tag & 7 {
            case 0: _ = varint()
            case 1: i += 8
            case 2:
                guard let n = varint() else { return numbers }
                i += Int(n)
            case 5: i += 4
            default: return numbers
            }
        }
        return numbers
    }
}
