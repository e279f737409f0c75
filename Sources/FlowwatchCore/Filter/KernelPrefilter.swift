/// The part of a `FlowFilterSet` the kernel can decide cheaply, so that events the filters would
/// drop are never emitted. It is a conservative superset: every event the filters keep passes
/// it, and user space still applies the exact filters to whatever arrives, so the output is
/// the same with or without it; it only saves the perf ring and the reader work.
///
/// Derived from the allow list only. An event is kept when one allow filter matches, so a
/// constraint can move into the kernel only when every allow filter has one of its kind, and
/// the kernel then accepts the union. The deny list never narrows it: what it hides stays in
/// user space.
///
/// - Addresses: every allow filter constrains an address, on one side at least: `--ip`,
///   `--from-ip`, `--to-ip`, or pods (`--pod`, `--namespace`, ...) through the config's
///   endpoints, which is where flows get pod names from (`EndpointIndex.addresses`). A side
///   with both IPs and pods uses the IPs; a filter constraining both sides needs only one (a
///   flow it matches has that side in the set).
/// - Interfaces: every allow filter has `--interface` names: devices of other names need not be
///   observed at all.
/// - Debug messages: whether any allow filter could keep one (`FlowFilter.matches(_: DebugEvent)`:
///   only filters with nothing but event types, a debug type among them). If none can, the
///   program need not emit them. An address constraint makes it so.
public struct KernelPrefilter: Sendable, Equatable {
    /// Packets whose traces may be kept; nil: any.
    public var addresses: AddressPrefilter?
    /// Names of the devices whose events may be kept, sorted; nil: any.
    public var interfaces: [String]?
    /// Whether the filters can keep any debug message.
    public var keepsDebug: Bool

    /// Everything may be kept: what the kernel does without a prefilter.
    public static let none = KernelPrefilter(addresses: nil, interfaces: nil, keepsDebug: true)

    public init(addresses: AddressPrefilter?, interfaces: [String]?, keepsDebug: Bool) {
        self.addresses = addresses
        self.interfaces = interfaces
        self.keepsDebug = keepsDebug
    }

    /// What the kernel can decide of `filter`, pods resolved through `config` (the config the
    /// flows are built with).
    public init(filter: FlowFilterSet, config: NodeConfig) {
        let allow = filter.whitelist
        guard !allow.isEmpty else {
            self = .none
            return
        }
        keepsDebug = allow.contains(where: Self.mayKeepDebug)

        var builder = AddressPrefilter.Builder()
        var complete = true
        for f in allow {
            if let sources = Self.addresses(f.sourceIP, f.sourcePod, config) {
                builder.insert(sources, side: .source)
            } else if let destinations = Self.addresses(f.destinationIP, f.destinationPod, config) {
                builder.insert(destinations, side: .destination)
            } else {
                complete = false
                break
            }
        }
        addresses = complete ? builder.build() : nil

        if allow.allSatisfy({ !$0.interface.isEmpty }) {
            interfaces = Array(Set(allow.flatMap(\.interface))).sorted()
        } else {
            interfaces = nil
        }
    }

    /// Whether nothing is left to the kernel.
    public var isNone: Bool { addresses == nil && interfaces == nil && keepsDebug }

    /// The prefixes a filter's side allows, or nil if it does not constrain the address.
    private static func addresses(_ ips: IPPrefixSet, _ pods: [PodPattern], _ config: NodeConfig) -> [IPPrefix]? {
        if !ips.isEmpty { return ips.prefixes }
        if !pods.isEmpty {
            return EndpointIndex.addresses(of: pods, in: config).map { IPPrefix(address: $0, length: $0.bitWidth) }
        }
        return nil
    }

    /// `FlowMatcher.matches(_: DebugEvent)` can be true for some debug message.
    private static func mayKeepDebug(_ f: FlowFilter) -> Bool {
        var others = f.fields
        others.eventType = []
        guard others == FlowFilter.Fields() else { return false }
        let debugType = Int32(MonitorMessageType.debug.rawValue)
        return f.eventType.isEmpty || f.eventType.contains { $0.type == 0 || $0.type == debugType }
    }
}

/// Address prefixes for the kernel's prefilter (bpf/prefilter.h), each with the sides of a packet
/// it selects: a packet passes when its source is in a prefix selecting sources or its
/// destination in one selecting destinations.
public struct AddressPrefilter: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var prefix: IPPrefix
        public var source: Bool
        public var destination: Bool

        public init(prefix: IPPrefix, source: Bool, destination: Bool) {
            self.prefix = prefix
            self.source = source
            self.destination = destination
        }
    }

    /// Sorted by family, then length, then address. An entry's sides include those of every
    /// shorter prefix containing it: the kernel's longest-prefix match then answers for all of
    /// them (without it, a /32 selecting destinations would hide the /8 selecting sources
    /// around it).
    public let entries: [Entry]

    public init(entries: [Entry]) {
        self.entries = entries
    }

    /// Whether a packet from `source` to `destination` passes, as the kernel decides it (the
    /// longest match per address): for tests and for checking the entries.
    public func selects(source: IPAddress, destination: IPAddress) -> Bool {
        (longestMatch(source)?.source ?? false) || (longestMatch(destination)?.destination ?? false)
    }

    private func longestMatch(_ ip: IPAddress) -> Entry? {
        entries.filter { $0.prefix.contains(ip) }.max { $0.prefix.length < $1.prefix.length }
    }

    public enum Side: Sendable { case source, destination }

    struct Builder {
        private var sides: [IPPrefix: (source: Bool, destination: Bool)] = [:]

        mutating func insert(_ prefixes: [IPPrefix], side: Side) {
            for p in prefixes {
                var s = sides[p] ?? (false, false)
                switch side {
                case .source: s.source = true
                case .destination: s.destination = true
                }
                sides[p] = s
            }
        }

        func build() -> AddressPrefilter {
            // Per family and length, so each entry looks for its containers once per shorter
            // length in use (at most 129) rather than against every other entry.
            var byLength: [Int: Set<IPPrefix>] = [:]
            for p in sides.keys { byLength[p.length, default: []].insert(p) }
            let lengths = byLength.keys.sorted()
            var entries: [Entry] = []
            for (p, s) in sides {
                var source = s.source, destination = s.destination
                for length in lengths where length < p.length && !(source && destination) {
                    let container = IPPrefix(address: p.address, length: length)
                    if byLength[length]!.contains(container), let c = sides[container] {
                        source = source || c.source
                        destination = destination || c.destination
                    }
                }
                entries.append(Entry(prefix: p, source: source, destination: destination))
            }
            entries.sort { a, b in
                if a.prefix.address.isIPv4 != b.prefix.address.isIPv4 { return a.prefix.address.isIPv4 }
                if a.prefix.length != b.prefix.length { return a.prefix.length < b.prefix.length }
                return a.prefix.address.paddedBytes.lexicographicallyPrecedes(b.prefix.address.paddedBytes)
            }
            return AddressPrefilter(entries: entries)
        }
    }
}
