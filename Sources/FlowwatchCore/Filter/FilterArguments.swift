/// A filter flag of `hubble observe` that flowwatch understands. The raw value is the long name.
public enum FilterFlag: String, Sendable, CaseIterable {
    case ip, fromIP = "from-ip", toIP = "to-ip"
    case pod, fromPod = "from-pod", toPod = "to-pod"
    case namespace, fromNamespace = "from-namespace", toNamespace = "to-namespace"
    case label, fromLabel = "from-label", toLabel = "to-label"
    case identity, fromIdentity = "from-identity", toIdentity = "to-identity"
    case port, fromPort = "from-port", toPort = "to-port"
    case `protocol`, tcpFlags = "tcp-flags", verdict, type
    case trafficDirection = "traffic-direction", interface, nodeName = "node-name"
    case ipv4, ipv6

    /// The one-letter names, as in Hubble, except `-n` (flowwatch's `--numeric`, as in
    /// `cilium monitor`), so `--namespace` has none.
    public var shortName: Character? {
        switch self {
        case .label: "l"
        case .type: "t"
        case .ipv4: "4"
        case .ipv6: "6"
        default: nil
        }
    }

    /// All but `-4`/`-6` take a value.
    public var takesValue: Bool { self != .ipv4 && self != .ipv6 }

    /// `--ip` and the like, for messages.
    public var spelling: String { "--\(rawValue)" }

    init?(short: Character) {
        guard let flag = Self.allCases.first(where: { $0.shortName == short }) else { return nil }
        self = flag
    }
}

/// A filter flag or value that cannot be used; the text names the flag and the value.
public struct FilterError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String

    public init(_ description: String) {
        self.description = description
    }

    init(_ flag: FilterFlag, _ message: String) {
        description = "\(flag.spelling): \(message)"
    }
}

/// Reads Hubble's filter flags from a command line, in order — which matters, and which an
/// argument parser that groups values per option loses: `--not` negates only the flag right
/// after it.
///
/// The result is what `hubble observe` (`hubble/cmd/observe/flows_filter.go`) would send:
/// whitelist flags all add to one pair of filters, `--not` flags to another pair for the
/// blacklist. A flag without direction (`--ip`, `--pod`, `--label`, `--identity`, `--port`) adds
/// its source field to the first filter of the pair and its destination field to the second, so
/// the pair matches when either side matches; a `--from-`/`--to-` flag and every other flag add
/// to both. So within the whitelist (or the blacklist) values of one flag are OR-ed and
/// different flags AND-ed, and two directionless flags go together side by side: `--ip A
/// --port 80` means A using port 80, as source or as destination. The pair collapses into one
/// filter when both halves are equal. The same flags as Hubble refuse to be combined
/// (`--ip` with `--from-ip`, `--port` with `--to-port`, `--pod` with `--ip`, …), since
/// the pair could not express them.
///
/// `--namespace NS` adds NS to each `--pod` value without a namespace on the side the pod is
/// on, or selects the whole namespace on either side when there is no `--pod`;
/// `--from-namespace`/`--to-namespace` do the same for one side.
public enum FilterArguments {
    /// Reads the filter flags in `arguments` (a whole `CommandLine.arguments` will do: words
    /// that are no option are skipped), as ArgumentParser reads them: `--flag value`,
    /// `--flag=value`, `-t value`, `-t=value`, and short flags in groups such as `-f4`.
    /// Everything else is skipped; so that an option's value is not mistaken for a flag,
    /// `valueOptions` lists the other options that take a value, spelled as on the command line
    /// (`--output`, `-o`). Reading stops at `--`.
    public static func parse(_ arguments: [String], valueOptions: [String] = []) throws(FilterError) -> FlowFilterSet {
        let skipValue = Set(valueOptions)
        var whitelist = Tracker(negated: false)
        var blacklist = Tracker(negated: true)
        var notPending = false
        var i = 0

        /// A filter flag, with the value attached to it (`=value`) if any, else the next word
        /// for flags that take one.
        func take(_ flag: FilterFlag, attached: String?) throws(FilterError) {
            var value = attached
            if !flag.takesValue {
                if attached != nil { throw FilterError(flag, "takes no value") }
            } else if value == nil {
                guard i < arguments.count, !looksLikeOption(arguments[i]) else { throw FilterError(flag, "needs a value") }
                value = arguments[i]
                i += 1
            }
            if notPending {
                try blacklist.set(flag, value)
                notPending = false
            } else {
                try whitelist.set(flag, value)
            }
        }

        /// Any other option: its value, if it takes one and it is not attached, is skipped.
        func skip(_ option: String, attached: String?) throws(FilterError) {
            if notPending { throw FilterError("--not must be followed by a filter flag, not '\(option)'") }
            if attached == nil && skipValue.contains(option) { i += 1 }
        }

        while i < arguments.count {
            let word = arguments[i]
            i += 1
            if word == "--" { break }
            guard looksLikeOption(word) else {
                if notPending { throw FilterError("--not must be followed by a filter flag, not '\(word)'") }
                continue
            }
            let long = word.hasPrefix("--")
            let body = word.dropFirst(long ? 2 : 1)
            let names = body.prefix { $0 != "=" }
            let attached = names.endIndex < body.endIndex ? String(body[body.index(after: names.endIndex)...]) : nil
            if long {
                if names == "not" {
                    if notPending { throw FilterError("--not must be followed by a filter flag, not another --not") }
                    if attached != nil { throw FilterError("--not takes no value") }
                    notPending = true
                } else if let flag = FilterFlag(rawValue: String(names)) {
                    try take(flag, attached: attached)
                } else {
                    try skip("--\(names)", attached: attached)
                }
            } else {
                // One short option or a group of them; only the last can have a value attached.
                for k in names.indices {
                    let last = names.index(after: k) == names.endIndex
                    if let flag = FilterFlag(short: names[k]) {
                        try take(flag, attached: last ? attached : nil)
                    } else {
                        try skip("-\(names[k])", attached: last ? attached : nil)
                    }
                }
            }
        }
        if notPending { throw FilterError("--not must be followed by a filter flag") }
        return FlowFilterSet(whitelist: whitelist.flowFilters(), blacklist: blacklist.flowFilters())
    }

    /// `-x…` or `--x…`; a lone `-` is a word (standard input, by convention).
    private static func looksLikeOption(_ word: String) -> Bool {
        word.hasPrefix("-") && word != "-"
    }
}

// MARK: - Hubble's filter tracker

/// Hubble's `filterTracker`: the pair of filters one list (whitelist or blacklist) builds up,
/// the namespaces to apply when it is done, and the flags used, for the conflict check.
private struct Tracker {
    let negated: Bool
    /// The filter that gets the source side of directionless flags.
    var left: FlowFilter?
    /// The filter that gets the destination side.
    var right: FlowFilter?
    var namespaces: [String] = []
    var sourceNamespaces: [String] = []
    var destinationNamespaces: [String] = []
    var used: [FilterFlag] = []

    init(negated: Bool) {
        self.negated = negated
    }

    /// Hubble's `conflicts`, less the flags flowwatch does not have: flags of one group cannot
    /// be used together in one list.
    static let conflicts: [[FilterFlag]] = [
        [.fromIP, .ip, .fromNamespace, .namespace],
        [.fromIP, .ip, .fromPod, .pod],
        [.toIP, .ip, .toNamespace, .namespace],
        [.toIP, .ip, .toPod, .pod],
        [.toPod, .namespace],
        [.fromPod, .namespace],
        [.label, .fromLabel],
        [.label, .toLabel],
        [.port, .toPort],
        [.port, .fromPort],
        [.identity, .toIdentity],
        [.identity, .fromIdentity],
    ]

    mutating func set(_ flag: FilterFlag, _ value: String?) throws(FilterError) {
        if !used.contains(flag) {
            for group in Self.conflicts where group.contains(flag) {
                if let other = used.first(where: { $0 != flag && group.contains($0) }) {
                    let not = negated ? "--not " : ""
                    throw FilterError("filters \(not)\(other.spelling) and \(not)\(flag.spelling) cannot be combined")
                }
            }
            used.append(flag)
        }
        let text = value ?? ""
        if flag.takesValue && text.isEmpty { throw FilterError(flag, "the value is empty") }

        switch flag {
        case .ip:
            let p = try FilterValue.prefix(text, flag)
            either({ $0.sourceIP.insert(p) }, { $0.destinationIP.insert(p) })
        case .fromIP:
            let p = try FilterValue.prefix(text, flag)
            both { $0.sourceIP.insert(p) }
        case .toIP:
            let p = try FilterValue.prefix(text, flag)
            both { $0.destinationIP.insert(p) }
        case .pod:
            let p = try FilterValue.pod(text, flag)
            either({ $0.sourcePod.append(p) }, { $0.destinationPod.append(p) })
        case .fromPod:
            let p = try FilterValue.pod(text, flag)
            both { $0.sourcePod.append(p) }
        case .toPod:
            let p = try FilterValue.pod(text, flag)
            both { $0.destinationPod.append(p) }
        case .namespace:
            namespaces.append(text)
        case .fromNamespace:
            sourceNamespaces.append(text)
        case .toNamespace:
            destinationNamespaces.append(text)
        case .label:
            let s = try FilterValue.label(text, flag)
            either({ $0.sourceLabel.append(s) }, { $0.destinationLabel.append(s) })
        case .fromLabel:
            let s = try FilterValue.label(text, flag)
            both { $0.sourceLabel.append(s) }
        case .toLabel:
            let s = try FilterValue.label(text, flag)
            both { $0.destinationLabel.append(s) }
        case .identity:
            let id = try FilterValue.identity(text, flag)
            either({ $0.sourceIdentity.append(id) }, { $0.destinationIdentity.append(id) })
        case .fromIdentity:
            let id = try FilterValue.identity(text, flag)
            both { $0.sourceIdentity.append(id) }
        case .toIdentity:
            let id = try FilterValue.identity(text, flag)
            both { $0.destinationIdentity.append(id) }
        case .port:
            let p = try FilterValue.port(text, flag)
            either({ $0.sourcePort.insert(p) }, { $0.destinationPort.insert(p) })
        case .fromPort:
            let p = try FilterValue.port(text, flag)
            both { $0.sourcePort.insert(p) }
        case .toPort:
            let p = try FilterValue.port(text, flag)
            both { $0.destinationPort.insert(p) }
        case .protocol:
            let p = try FilterValue.protocols(text)
            both { $0.protocols.formUnion(p) }
        case .tcpFlags:
            let f = try FilterValue.tcpFlags(text)
            both { $0.tcpFlags.append(f) }
        case .verdict:
            let v = try FilterValue.verdict(text)
            both { $0.verdict.insert(v) }
        case .type:
            let t = try FilterValue.eventType(text)
            both { $0.eventType.append(t) }
        case .trafficDirection:
            let d = try FilterValue.trafficDirection(text)
            both { $0.trafficDirection.insert(d) }
        case .interface:
            both { $0.interface.append(text) }
        case .nodeName:
            let p = try FilterValue.nodeName(text)
            both { $0.nodeName.append(p) }
        case .ipv4:
            both { $0.ipVersion.insert(.ipv4) }
        case .ipv6:
            both { $0.ipVersion.insert(.ipv6) }
        }
        try checkNamespaceConflicts()
    }

    /// A directionless flag: the source field on the left, the destination field on the right.
    private mutating func either(_ source: (inout FlowFilter) -> Void, _ destination: (inout FlowFilter) -> Void) {
        var l = left ?? FlowFilter()
        source(&l)
        left = l
        var r = right ?? FlowFilter()
        destination(&r)
        right = r
    }

    private mutating func both(_ update: (inout FlowFilter) -> Void) {
        either(update, update)
    }

    /// Hubble's `checkNamespaceConflicts`: a pod given with a namespace must be in the
    /// namespaces given for its side.
    private func checkNamespaceConflicts() throws(FilterError) {
        for filter in [left, right].compactMap({ $0 }) {
            try Self.check(namespaces, filter.sourcePod)
            try Self.check(namespaces, filter.destinationPod)
            try Self.check(sourceNamespaces, filter.sourcePod)
            try Self.check(destinationNamespaces, filter.destinationPod)
        }
    }

    private static func check(_ namespaces: [String], _ pods: [PodPattern]) throws(FilterError) {
        for ns in namespaces {
            for pod in pods {
                if let podNamespace = pod.explicitNamespace, podNamespace != ns {
                    throw FilterError("namespace conflict: '\(ns)' does not contain '\(pod.text)'")
                }
            }
        }
    }

    /// Hubble's `flowFilters`: none if nothing was set, else the pair with the namespaces
    /// applied, or one filter if both halves are the same.
    func flowFilters() -> [FlowFilter] {
        if left == nil && right == nil && namespaces.isEmpty && sourceNamespaces.isEmpty && destinationNamespaces.isEmpty {
            return []
        }
        var l = left ?? FlowFilter()
        var r = right ?? FlowFilter()
        if !destinationNamespaces.isEmpty {
            l.destinationPod = Self.apply(destinationNamespaces, to: l.destinationPod)
            r.destinationPod = Self.apply(destinationNamespaces, to: r.destinationPod)
        }
        if !sourceNamespaces.isEmpty {
            l.sourcePod = Self.apply(sourceNamespaces, to: l.sourcePod)
            r.sourcePod = Self.apply(sourceNamespaces, to: r.sourcePod)
        }
        if !namespaces.isEmpty {
            l.sourcePod = Self.apply(namespaces, to: l.sourcePod)
            r.destinationPod = Self.apply(namespaces, to: r.destinationPod)
        }
        return l == r ? [l] : [l, r]
    }

    /// Hubble's `namespaceModifier.applySrc`/`applyDest` and `addNamespacesToFilter`: no pods
    /// means every pod; a pod without `/` is looked for in each namespace.
    private static func apply(_ namespaces: [String], to pods: [PodPattern]) -> [PodPattern] {
        let texts = pods.isEmpty ? [""] : pods.map(\.text)
        return texts.flatMap { text -> [PodPattern] in
            if text.contains("/"), let pod = PodPattern(text) { return [pod] }
            // "ns/…" always parses: the namespaces are not empty.
            return namespaces.compactMap { PodPattern("\($0)/\(text)") }
        }
    }
}

// MARK: - Values

/// The parsers of flag values; errors name the flag, the value, and what would do.
private enum FilterValue {
    static func prefix(_ text: String, _ flag: FilterFlag) throws(FilterError) -> IPPrefix {
        guard let p = IPPrefix(text) else { throw FilterError(flag, "'\(text)' is not an IP address or CIDR") }
        return p
    }

    static func pod(_ text: String, _ flag: FilterFlag) throws(FilterError) -> PodPattern {
        guard let p = PodPattern(text) else { throw FilterError(flag, "'\(text)' is not [namespace/]pod-name-prefix") }
        return p
    }

    static func label(_ text: String, _ flag: FilterFlag) throws(FilterError) -> LabelSelector {
        do throws(LabelSelectorError) {
            return try LabelSelector(text)
        } catch {
            throw FilterError(flag, "'\(text)' is not a label selector: \(error)")
        }
    }

    /// A number or the name of a reserved identity (`host`, `world`, …), as Hubble's
    /// `parseIdentity` reads it.
    static func identity(_ text: String, _ flag: FilterFlag) throws(FilterError) -> UInt32 {
        if let id = UInt32(text) { return id }
        if let reserved = reservedIdentities.first(where: { $0.name == text.lowercased() }) { return reserved.id }
        throw FilterError(flag, "'\(text)' is not a number or one of \(reservedIdentities.map(\.name).joined(separator: ", "))")
    }

    static let reservedIdentities: [(name: String, id: UInt32)] = (1...255).compactMap { id in
        SecurityIdentity(rawValue: UInt32(id)).reservedName.map { ($0, UInt32(id)) }
    }

    static func port(_ text: String, _ flag: FilterFlag) throws(FilterError) -> UInt16 {
        guard let p = UInt16(text) else { throw FilterError(flag, "'\(text)' is not a port number (0-65535)") }
        return p
    }

    static func protocols(_ text: String) throws(FilterError) -> L4ProtocolSet {
        if let p = L4ProtocolSet.names.first(where: { $0.0 == text.lowercased() }) { return p.1 }
        throw FilterError(.protocol, "'\(text)' is not one of \(L4ProtocolSet.names.map(\.0).joined(separator: ", "))"
                          + (["dns", "http", "kafka"].contains(text.lowercased()) ? " (flowwatch sees no L7 flows)" : ""))
    }

    /// Hubble's `parseTCPFlags`: comma-separated flag names, any case; the value matches flows
    /// with all of them.
    static func tcpFlags(_ text: String) throws(FilterError) -> TCPFlags {
        var flags = TCPFlags()
        for name in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard let flag = tcpFlagNames.first(where: { $0.0 == name.uppercased() }) else {
                throw FilterError(.tcpFlags, "'\(name)' in '\(text)' is not one of \(tcpFlagNames.map(\.0).joined(separator: ", "))")
            }
            flags.insert(flag.1)
        }
        return flags
    }

    static let tcpFlagNames: [(String, TCPFlags)] = [
        ("SYN", .syn), ("ACK", .ack), ("RST", .rst), ("FIN", .fin), ("PSH", .psh),
        ("URG", .urg), ("ECE", .ece), ("CWR", .cwr), ("NS", .ns),
    ]

    /// A verdict's proto name, any case (Hubble wants the exact upper-case name).
    static func verdict(_ text: String) throws(FilterError) -> Flow.Verdict {
        if let v = Flow.Verdict.allCases.first(where: { $0.name == text.uppercased() }) { return v }
        throw FilterError(.verdict, "'\(text)' is not one of \(Flow.Verdict.allCases.map(\.name).joined(separator: ", "))")
    }

    /// `TYPE[:SUBTYPE]` as Hubble reads it: a type name or number, then for `trace` an
    /// observation point name (`to-endpoint`) or for any type a number. Only the types
    /// flowwatch's datapath emits are named; Hubble's others (l7, policy-verdict, …) would
    /// select nothing, so they are refused rather than silently empty.
    static func eventType(_ text: String) throws(FilterError) -> EventTypeFilter {
        let parts = text.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let typeName = parts[0].lowercased()
        let type: Int32
        if let known = MonitorMessageType.allCases.first(where: { $0.filterName == typeName }) {
            type = Int32(known.rawValue)
        } else if let number = UInt8(typeName) {
            type = Int32(number)
        } else {
            let names = MonitorMessageType.allCases.map(\.filterName).joined(separator: ", ")
            throw FilterError(.type, "'\(parts[0])' is not one of \(names) or a type number")
        }
        guard parts.count == 2 else { return EventTypeFilter(type: type) }
        let sub = parts[1].lowercased()
        if type == Int32(MonitorMessageType.trace.rawValue),
           let point = (0...UInt8.max).first(where: { TraceObservationPoint(rawValue: $0).name == sub }) {
            return EventTypeFilter(type: type, subType: Int32(point))
        }
        if let number = UInt8(sub) { return EventTypeFilter(type: type, subType: Int32(number)) }
        var expected = "a subtype number"
        if type == Int32(MonitorMessageType.trace.rawValue) {
            let points = (0...UInt8.max).compactMap { TraceObservationPoint(rawValue: $0).name }
            expected = "one of \(points.joined(separator: ", ")) or " + expected
        }
        throw FilterError(.type, "'\(parts[1])' in '\(text)' is not \(expected)")
    }

    static func trafficDirection(_ text: String) throws(FilterError) -> Flow.TrafficDirection {
        switch text.lowercased() {
        case "ingress": return .ingress
        case "egress": return .egress
        default: throw FilterError(.trafficDirection, "'\(text)' is not ingress or egress")
        }
    }

    static func nodeName(_ text: String) throws(FilterError) -> NodeNamePattern {
        do throws(NodeNamePattern.Problem) {
            return try NodeNamePattern(text)
        } catch {
            throw FilterError(.nodeName, "'\(text)': \(error)")
        }
    }
}

extension MonitorMessageType {
    /// The name `--type` uses (Cilium's `MessageTypeNames`).
    var filterName: String {
        switch self {
        case .drop: "drop"
        case .debug: "debug"
        case .capture: "capture"
        case .trace: "trace"
        }
    }
}
