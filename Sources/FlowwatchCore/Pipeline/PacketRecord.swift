/// One packet at one observation point, as a capture file holds it: the bytes and, beside them,
/// what the packet meant (device, direction, identities, verdict). Capture writers take it as is.
public struct PacketRecord: Sendable, Equatable {
    public enum Direction: Sendable, Equatable {
        /// Seen at a device's ingress hook: from-endpoint, to-host, from-network.
        case inbound
        /// Seen at a device's egress hook: to-endpoint, from-host, to-network.
        case outbound
        case unknown
    }

    /// Wall-clock time, nanoseconds since the Unix epoch.
    public var timeNanos: UInt64
    /// Captured bytes from the Ethernet header (a synthesized one for L3 devices), often a slice
    /// of the record they came in.
    public var bytes: ArraySlice<UInt8>
    public var originalLength: UInt32
    public var ifindex: UInt32
    public var direction: Direction
    /// What only pcapng keeps; nil when no file wants it (classic pcap). One optional, so that a
    /// record without it is destroyed without touching its strings.
    public var meaning: Meaning?

    /// The device and the packet's meaning, as pcapng writes them.
    public struct Meaning: Sendable, Equatable {
        /// The device's name.
        public var interfaceName: String
        /// What the device is: "endpoint 2073 default/cni-client", "host endpoint 3000", "network".
        public var interfaceDescription: String
        /// The same for one packet at every observation point it passed (e.g. from-endpoint on
        /// one lxc and to-endpoint on another).
        public var packetID: UInt64
        /// The flow's meaning, e.g. `to-endpoint FORWARDED state new: default/a (ID:22099,
        /// endpoint 2073) -> default/b (ID:11575, endpoint 149)`; nil without a flow.
        public var comment: String?
    }

    /// The device's name; empty without the meaning (classic pcap).
    public var interfaceName: String { meaning?.interfaceName ?? "" }
    /// What the device is; empty without the meaning (classic pcap).
    public var interfaceDescription: String { meaning?.interfaceDescription ?? "" }
    /// The packet's id across observation points; 0 without the meaning (classic pcap).
    public var packetID: UInt64 { meaning?.packetID ?? 0 }
    /// The flow's meaning as text; nil without it (classic pcap).
    public var comment: String? { meaning?.comment }
}

/// Makes PacketRecords from decoded events. Stateful for packet ids, for device names and
/// descriptions, which are looked up once per device, not once per packet, and for comments,
/// made once for what packets say alike.
public struct PacketRecordBuilder: Sendable {
    private var ids = PacketIdentifier()
    private let config: NodeConfig
    /// Builds the flow a comment is made of, for what no packet said before; nil without the
    /// meaning. (Bound per packet by `if let`, it was copied: its references counted.)
    private let flows: FlowBuilder?
    private let interfaceName: @Sendable (UInt32) -> String?
    private let wallClockOffset: Int64
    /// Whether records carry what only pcapng holds: the flow's meaning (comments), packet ids
    /// and devices. Without it no flow is needed, and no text is formatted, nothing hashed and
    /// no device looked up per packet.
    public let withMeaning: Bool
    /// Each device's name and description (in `deviceEntries`, compared where they lie) by
    /// ifindex: a table of the entries themselves copied two strings out per lookup.
    private var devices = IfindexTable<Int>()
    private var deviceEntries: [(name: String, description: String)] = []
    /// Where a comment is written, and the last ones made.
    private var text: [UInt8] = []
    private var comments = RecentComments(sets: 16)

    public init(config: NodeConfig, wallClockOffset: Int64, withMeaning: Bool,
                interfaceName: @escaping @Sendable (UInt32) -> String?) {
        self.config = config
        self.wallClockOffset = wallClockOffset
        self.withMeaning = withMeaning
        self.interfaceName = interfaceName
        flows = withMeaning ? FlowBuilder(config: config, wallClockOffset: wallClockOffset, interfaceName: interfaceName) : nil
    }

    /// The record for an event that carries packet bytes (trace, drop, capture), with its
    /// meaning when `withMeaning`; nil otherwise.
    public mutating func record(_ event: MonitorEvent) -> PacketRecord? {
        guard case .message(let message, let packet) = event.payload, !packet.isEmpty,
              let fields = PacketFields(message)
        else { return nil }
        var comment: String?
        if withMeaning, let says = PacketSays(message) {
            let key: RecentComments.Key?
            (comment, key) = knownComment(says, packet[...])
            if comment == nil, case .flow(let flow) = flows!.build(event) { comment = self.comment(flow, says, key) }
        }
        // The comment goes in as the record is made: set afterwards, it cost a copy of the
        // record (its strings and bytes) and the destruction of the original, per packet.
        return record(fields, packet: packet[...], timestamp: event.timestamp, comment: comment)
    }

    /// `record(_:)` for a record read in place: the fields a packet's record takes
    /// (`MonitorDecoder.decodePacketFields`) and where its packet lies in its bytes (`record`, a
    /// perf sample's). What else a comment takes is read from the message; the message is
    /// decoded whole only for a comment not made before.
    mutating func record(_ fields: PacketFields, packetAt range: Range<Int>, of record: [UInt8],
                         timestamp: UInt64, cpu: UInt32) -> PacketRecord? {
        let packet = record[range]
        guard !packet.isEmpty else { return nil }
        var comment: String?
        if withMeaning {
            let says = record.withUnsafeBytes { MonitorDecoder.decodeSays($0, fields) }
            let key: RecentComments.Key?
            (comment, key) = knownComment(says, packet)
            // The fields came from the same checks: the message decodes.
            if comment == nil,
                case .success(let (message, _)) = record.withUnsafeBytes({ bytes in
                    Result { () throws(DecodeError) in try MonitorDecoder.decodeMessage(bytes) }
                }),
                case .flow(let flow) = flows!.build(MonitorEvent(cpu: cpu, timestamp: timestamp,
                                                                payload: .message(message, packet: Array(packet))))
            {
                comment = self.comment(flow, says, key)
            }
        }
        return self.record(fields, packet: packet, timestamp: timestamp, comment: comment)
    }

    /// The record for a packet and what its message says of it (`PacketFields`, read in place
    /// or from the decoded message), with `comment` when it carries the meaning; the bytes are
    /// kept as they are, without a copy, unless an Ethernet header is put in front. Nil for an
    /// empty packet.
    @inline(__always)
    mutating func record(_ fields: PacketFields, packet: ArraySlice<UInt8>, timestamp: UInt64,
                         comment: String? = nil) -> PacketRecord? {
        guard !packet.isEmpty else { return nil }
        let ifindex = fields.ifindex, flags = fields.flags
        let direction = fields.observationPoint.map(Self.direction) ?? .unknown
        let originalLength = fields.originalLength
        var bytes = packet
        if flags.contains(.l3Device) {
            // Capture files here are Ethernet: give L3 packets a header with zero addresses.
            let type: [UInt8] = flags.contains(.ipv6) ? [0x86, 0xdd] : [0x08, 0x00]
            bytes = ArraySlice([UInt8](repeating: 0, count: 12) + type + packet)
        }
        let wallTime = UInt64(clamping: Int64(clamping: timestamp) &+ wallClockOffset)
        let length = originalLength + (flags.contains(.l3Device) ? 14 : 0)
        guard withMeaning else {
            return PacketRecord(timeNanos: wallTime, bytes: bytes, originalLength: length, ifindex: ifindex,
                                direction: direction, meaning: nil)
        }
        let device = self.device(ifindex)
        let meaning = PacketRecord.Meaning(interfaceName: device.name, interfaceDescription: device.description,
                                           packetID: ids.id(for: bytes, at: timestamp), comment: comment)
        return PacketRecord(timeNanos: wallTime, bytes: bytes, originalLength: length, ifindex: ifindex,
                            direction: direction, meaning: meaning)
    }

    /// A comment made before for what the packet says, if one is kept, and the key it is kept
    /// under; no key when only the packet's flow can tell its addresses. Comments are the
    /// flow's meaning, e.g. `to-endpoint FORWARDED state new: default/a (ID:22099, endpoint
    /// 2073) -> default/b (ID:11575, endpoint 149)`, and the packets of a flow mostly say the
    /// same: most packets neither build a flow nor format or allocate text. What a packet says
    /// is what its message says (`says`) and the addresses its flow takes, read from the packet
    /// where one IP header gives them.
    private func knownComment(_ says: PacketSays, _ packet: ArraySlice<UInt8>) -> (String?, RecentComments.Key?) {
        guard let (source, destination) = packet.withUnsafeBytes({ DecodedPacket.addresses($0, from: says.firstLayer) })
        else { return (nil, nil) }
        let key = RecentComments.Key(says, source: says.originalSource ?? source, destination: destination)
        return (comments.string(for: key), key)
    }

    /// The comment of `flow`, the packet's, whose message `says`: the one kept for `key` (made
    /// of the flow's addresses when nil) or one written now into a reused buffer and kept.
    private mutating func comment(_ flow: borrowing Flow, _ says: PacketSays, _ key: RecentComments.Key?) -> String {
        let key = key ?? RecentComments.Key(says, source: flow.ip?.source, destination: flow.ip?.destination)
        if let known = comments.string(for: key) { return known }
        text.removeAll(keepingCapacity: true)
        Self.what(key.what, into: &text)
        text.append(UInt8(ascii: " "))
        text.append(flow.verdict.name)
        text.appendASCII(" state ")
        let reason = Int(flow.traceReason.rawValue)
        text.append(Self.reasonTexts.indices.contains(reason) ? Self.reasonTexts[reason] : "unknown")
        text.appendASCII(": ")
        Self.describe(flow.source, flow.ip?.source, into: &text)
        text.appendASCII(" -> ")
        Self.describe(flow.destination, flow.ip?.destination, into: &text)
        let string = String(decoding: text, as: UTF8.self)
        comments.remember(string, for: key)
        return string
    }

    /// A device's name and description, looked up again only when its name changes.
    private mutating func device(_ ifindex: UInt32) -> (name: String, description: String) {
        let name = interfaceName(ifindex) ?? (ifindex == 0 ? "" : "if\(ifindex)")
        if let i = devices[ifindex] {
            if deviceEntries[i].name != name { deviceEntries[i] = (name, describe(device: name)) }
            return deviceEntries[i]
        }
        devices[ifindex] = deviceEntries.count
        deviceEntries.append((name, describe(device: name)))
        return deviceEntries[deviceEntries.count - 1]
    }

    /// The event's kind at the start of a comment, from its code (`PacketSays.what`):
    /// `to-endpoint`, `drop (Invalid packet)`, `capture 2`.
    static func what<B: ByteSink>(_ code: UInt16, into text: inout B) {
        let number = UInt8(truncatingIfNeeded: code)
        switch code >> 8 {
        case 1:
            if let name = TraceObservationPoint(rawValue: number).name {
                text.append(name)
            } else {
                text.appendASCII("trace ")
                text.appendDecimal(number)
            }
        case 2:
            text.appendASCII("drop (")
            if let reason = DropReason(rawValue: number).text {
                text.append(reason)
            } else {
                text.appendASCII("reason ")
                text.appendDecimal(number)
            }
            text.appendASCII(")")
        default:
            text.appendASCII("capture ")
            text.appendDecimal(number)
        }
    }

    static func direction(_ point: TraceObservationPoint) -> PacketRecord.Direction {
        switch point.rawValue {
        case 5, 2, 10: .inbound    // from-endpoint, to-host, from-network: ingress hooks
        case 0, 7, 11: .outbound   // to-endpoint, from-host, to-network: egress hooks
        default: .unknown
        }
    }

    /// Trace reasons as the comment says them, indexed by number: the proto name in lower case
    /// (`new`, `established`, `srv6_encap`), `unknown` for TRACE_REASON_UNKNOWN (0) and for
    /// numbers past the names.
    static let reasonTexts: [String] = {
        var texts = ["unknown"]
        while let name = Flow.Reason(rawValue: Int32(texts.count)).name { texts.append(name.lowercased()) }
        return texts
    }()

    func describe(device name: String) -> String {
        if let ep = config.endpoint(interface: name) {
            let pod = ep.pod.map { p in ep.namespace.map { "\($0)/\(p)" } ?? p }
            return "endpoint \(ep.id)" + (pod.map { " \($0)" } ?? "")
        }
        if name == "cilium_host" { return "host endpoint \(config.hostEndpointID)" }
        return name.hasPrefix("lxc") ? "endpoint (not in the config)" : "network"
    }

    /// One side of a comment: `default/a (ID:22099, endpoint 2073)`, `198.51.100.10 (world)`.
    static func describe<B: ByteSink>(_ ep: borrowing Flow.Endpoint, _ ip: IPAddress?, into text: inout B) {
        if !ep.podName.isEmpty {
            text.append(ep.podPath)
        } else if let ip {
            text.appendIP(ip)
        } else {
            text.appendASCII("?")
        }
        text.appendASCII(" (")
        if let reserved = SecurityIdentity(ep.identity).reservedName {
            text.append(reserved)
        } else {
            text.appendASCII("ID:")
            text.appendDecimal(ep.identity)
        }
        if ep.id != 0 {
            text.appendASCII(", endpoint ")
            text.appendDecimal(ep.id)
        }
        text.appendASCII(")")
    }
}

/// Gives one id to the copies of a packet seen at several observation points: a hash of what
/// forwarding does not change (addresses, IP id, L4 header start; not MACs, TTL or checksum),
/// remembered for 100 ms of kernel time in a small direct-mapped table.
struct PacketIdentifier: Sendable {
    private struct Slot { var hash: UInt64 = 0; var id: UInt64 = 0; var time: UInt64 = 0 }
    private var slots = [Slot](repeating: Slot(), count: 4096)
    private var next: UInt64 = 1
    static let window: UInt64 = 100_000_000

    mutating func id(for bytes: ArraySlice<UInt8>, at time: UInt64) -> UInt64 {
        let h = bytes.withUnsafeBytes { Self.invariantHash($0) }
        let i = Int(truncatingIfNeeded: h & UInt64(slots.count - 1))
        if slots[i].hash == h, slots[i].id != 0, time &- slots[i].time < Self.window {
            slots[i].time = time
            return slots[i].id
        }
        let id = next
        next += 1
        slots[i] = Slot(hash: h, id: id, time: time)
        return id
    }

    /// A hash of the bytes that stay the same hop to hop, taken 8 at a time where the packet
    /// has them (byte by byte, FNV-1a, took about 190 instructions a packet) and finished so
    /// that its low bits, the slot, depend on all of them.
    static func invariantHash(_ b: UnsafeRawBufferPointer) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        guard b.count >= 14 else { return finish(mix(h, b, 0, b.count)) }
        let type = Int(b[12]) << 8 | Int(b[13])
        switch type {
        case 0x0800 where b.count >= 34:
            let ihl = Int(b[14] & 0x0f) * 4
            h = fold(h, word(b, 14))            // version, TOS, length, id, fragment: not TTL (22) or checksum (24-25)
            h = fold(h, UInt64(b[23]))          // protocol
            h = fold(h, word(b, 26))            // addresses
            h = words(h, b, 14 + ihl, 16)       // ports, TCP sequence and acknowledgement
        case 0x86dd where b.count >= 54:
            h = fold(h, word(b, 14) & 0x00ff_ffff_ffff_ffff) // version, class, flow label, payload length, next header: not hop limit (21)
            h = words(h, b, 22, 32)             // addresses
            h = words(h, b, 54, 16)
        default:
            h = mix(h, b, 12, b.count)          // not the MAC addresses
        }
        return finish(h)
    }

    /// The 8 bytes at `offset`, which the caller has checked are there.
    @inline(__always)
    private static func word(_ b: UnsafeRawBufferPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: b.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    /// `h` with the `count` bytes from `start` folded in (`count` a multiple of 8), those past
    /// the buffer's end mixed byte by byte or left out.
    @inline(__always)
    private static func words(_ h: UInt64, _ b: UnsafeRawBufferPointer, _ start: Int, _ count: Int) -> UInt64 {
        var h = h
        var i = start
        while i + 8 <= min(start + count, b.count) {
            h = fold(h, word(b, i))
            i += 8
        }
        return mix(h, b, i, start + count)
    }

    @inline(__always)
    private static func finish(_ h: UInt64) -> UInt64 {
        var h = h ^ (h >> 32)
        h &*= 0xd6e8_feb8_6659_fd93
        return h ^ (h >> 29)
    }

    /// `h` with the bytes from `start` up to `end` mixed in, those past the buffer's end left out.
    @inline(__always)
    private static func mix(_ h: UInt64, _ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> UInt64 {
        var h = h
        var i = start
        let end = min(end, b.count)
        while i < end {
            h = (h ^ UInt64(b[i])) &* 0x100_0000_01b3
            i += 1
        }
        return h
    }
}

/// `h` with the word `w` mixed in, by multiplying: each bit reaches the bits above it only, so
/// a hash made of these is finished (`PacketIdentifier`) or read from its top bits
/// (`RecentComments`).
@inline(__always)
private func fold(_ h: UInt64, _ w: UInt64) -> UInt64 {
    (h ^ w) &* 0x9e37_79b9_7f4a_7c15
}

/// Recent comments and what each says, so a packet that says the same gets the string already
/// made. A comment is made of the message's kind and number, the verdict (given by the kind),
/// the trace reason, and each endpoint, which the flow builder names from the datapath's
/// identity and the address alone (its index of the config does not change): so a key holds
/// those numbers and the two addresses, plain values compared where they lie.
///
/// A table of `sets` sets of 4 comments; a key's fingerprint (a hash of all the key holds) picks
/// its set, so a packet compares at most 4 fingerprints and one key: looking through the last 16
/// keys took about 180 instructions a packet. Four ways, not one: two keys that alternate in
/// one slot would make every packet of both format its comment. A new comment replaces the
/// oldest of its set.
struct RecentComments: Sendable {
    /// Plain words, compared as such: an address is its two halves (an IPv4 address in the
    /// low one) with its family beside the kind.
    struct Key: Equatable, Sendable {
        var fingerprint: UInt64
        /// `what` in bits 16-31, the reason in 8-15, each address's family (0 none, 1 IPv4,
        /// 2 IPv6) in bits 2-3 (source) and 0-1.
        var kind: UInt64
        /// The source's identity in the high half, the destination's in the low.
        var identities: UInt64
        var source: (high: UInt64, low: UInt64)
        var destination: (high: UInt64, low: UInt64)

        /// What a packet's message says, with the addresses its flow takes.
        init(_ says: PacketSays, source: IPAddress?, destination: IPAddress?) {
            self.init(what: says.what, reason: says.reason, identities: says.identities,
                      source: source, destination: destination)
        }

        init(what: UInt16, reason: UInt8, identities: UInt64, source: IPAddress?, destination: IPAddress?) {
            let (sourceFamily, sourceWords) = Self.words(source)
            let (destinationFamily, destinationWords) = Self.words(destination)
            kind = UInt64(what) << 16 | UInt64(reason) << 8 | sourceFamily << 2 | destinationFamily
            self.identities = identities
            self.source = sourceWords
            self.destination = destinationWords
            var f = fold(fold(0, identities), kind)
            f = fold(f, sourceWords.high ^ sourceWords.low)
            fingerprint = fold(f, destinationWords.high ^ destinationWords.low)
        }

        /// What `what(_:into:)` writes from.
        var what: UInt16 { UInt16(truncatingIfNeeded: kind >> 16) }

        @inline(__always)
        private static func words(_ address: IPAddress?) -> (UInt64, (high: UInt64, low: UInt64)) {
            switch address {
            case .v4(let a): (1, (0, UInt64(a.value)))
            case .v6(let a): (2, (a.high, a.low))
            case nil: (0, (0, 0))
            }
        }

        static func == (a: Key, b: Key) -> Bool {
            a.fingerprint == b.fingerprint && a.kind == b.kind && a.identities == b.identities
                && a.source == b.source && a.destination == b.destination
        }
    }

    /// Empty ways hold `unused`, which no packet's key equals.
    private var keys: [Key]
    /// A key of what no packet says: `what` 0 is a debug message's, which has no packet.
    static let unused = Key(what: 0, reason: 0, identities: 0, source: nil, destination: nil)
    private var strings: [String]
    /// Per set, the way the next comment takes (the oldest).
    private var next: [Int]
    private static let ways = 4
    /// The set is the fingerprint's top bits: the only ones that every part of a key (folded
    /// in by multiplying, which carries bits upwards only) has reached.
    private let shift: UInt64

    /// `sets` is a power of two.
    init(sets: Int) {
        precondition(sets > 0 && sets & (sets - 1) == 0, "comment sets must be a power of two")
        shift = UInt64(64 - sets.trailingZeroBitCount)
        keys = Array(repeating: Self.unused, count: sets * Self.ways)
        strings = Array(repeating: "", count: sets * Self.ways)
        next = Array(repeating: 0, count: sets)
    }

    @inline(__always)
    private func set(_ key: Key) -> Int {
        Int(truncatingIfNeeded: key.fingerprint >> shift)
    }

    /// The comment made for what `key` says, if it is still kept.
    func string(for key: Key) -> String? {
        let first = set(key) * Self.ways
        // Read where they lie: a key copied out of the array per way cost more than comparing.
        let way = keys.withUnsafeBufferPointer { keys in
            var i = first
            while i < first + Self.ways {
                if keys[i].fingerprint == key.fingerprint && keys[i] == key { return i }
                i += 1
            }
            return -1
        }
        return way < 0 ? nil : strings[way]
    }

    /// Keeps `string` as the comment for `key`, in place of the oldest of its set.
    mutating func remember(_ string: String, for key: Key) {
        let set = set(key)
        let i = set * Self.ways + next[set]
        next[set] = (next[set] + 1) % Self.ways
        keys[i] = key
        strings[i] = string
    }
}
