/// Dissects the packet bytes appended to trace, drop and capture messages into protocol layers.
///
/// The rules follow gopacket's `DecodingLayerParser` as `cilium monitor` uses it, so the text
/// output matches: each layer bounds the next by its own length, dissection stops at the first
/// payload it has no decoder for (application data, fragments, tunnels), and a layer that cannot
/// be decoded ends the dissection with a `DissectionFailure`. Beyond Cilium's set (Ethernet,
/// IPv4, IPv6, TCP, UDP, ICMPv4, ICMPv6) it decodes 802.1Q/802.1ad tags, ARP and the IPv6
/// routing, fragment and destination options headers. Every read is bounds-checked.
public enum PacketDissector {
    /// What the first captured byte belongs to.
    public enum FirstLayer: Sendable, Hashable {
        case ethernet, ipv4, ipv6

        /// L3 devices (`CLS_FLAG_L3_DEV`) carry no Ethernet header; the IPv6 flag tells the
        /// family, as in Cilium's L3 dissection.
        public init(flags: TraceFlags) {
            if flags.contains(.l3Device) {
                self = flags.contains(.ipv6) ? .ipv6 : .ipv4
            } else {
                self = .ethernet
            }
        }
    }

    public static func dissect(_ packet: [UInt8], from first: FirstLayer = .ethernet) -> PacketDissection {
        packet.withUnsafeBytes { dissect($0, from: first) }
    }

    /// Dissects borrowed bytes; the layers' ranges index `bytes`.
    public static func dissect(_ bytes: UnsafeRawBufferPointer, from first: FirstLayer = .ethernet) -> PacketDissection {
        var result = PacketDissection()
        guard !bytes.isEmpty else { return result }
        result.layers.reserveCapacity(4)  // one allocation for the usual link + network + transport
        var layers = result.layers
        result.layers = []
        let end = forEachLayer(bytes, from: first) { layers.append($0) }
        result.layers = layers
        result.truncated = end.truncated
        result.failure = end.failure
        return result
    }

    /// Dissects borrowed bytes as `dissect` does, handing each layer to `body` instead of
    /// collecting them: no allocation for a caller that keeps only what it needs (the flow
    /// builder). Returns whether the capture was truncated and where dissection failed.
    @inline(__always)
    static func forEachLayer(_ bytes: UnsafeRawBufferPointer, from first: FirstLayer,
                             _ body: (PacketLayer) -> Void) -> (truncated: Bool, failure: DissectionFailure?) {
        var truncated = false
        var next: Next? = Next(first)
        var range = 0..<bytes.count
        while let kind = next, !range.isEmpty {
            let data = LayerBytes(bytes: bytes, start: range.lowerBound, end: range.upperBound)
            switch kind.decode(data, &truncated) {
            case .failed(let message):
                return (truncated, DissectionFailure(offset: range.lowerBound, message: message))
            case .layer(let layer, let payload, let following):
                body(layer)
                range = payload
                next = following
            }
        }
        return (truncated, nil)
    }
}

/// The bytes one layer may use: `bytes[start..<end]`.
private struct LayerBytes {
    let bytes: UnsafeRawBufferPointer
    let start: Int
    let end: Int

    var count: Int { end - start }
    /// Out-of-range reads give 0 instead of trapping; the decoders check lengths before
    /// reading, so this only guards against a mistake in those checks.
    subscript(_ i: Int) -> UInt8 { bytes.u8(at: start + i) ?? 0 }
    func be16(_ i: Int) -> UInt16 { bytes.be(UInt16.self, at: start + i) ?? 0 }
    func be32(_ i: Int) -> UInt32 { bytes.be(UInt32.self, at: start + i) ?? 0 }
    func range(_ from: Int, _ to: Int) -> Range<Int> { (start + from)..<(start + to) }
}

private enum Step {
    case layer(PacketLayer, payload: Range<Int>, next: Next?)
    case failed(String)
}

private enum Next {
    case ethernet, dot1Q, arp, ipv4, ipv6, ipv6Routing, ipv6Fragment, ipv6Destination
    case tcp, udp, icmpv4, icmpv6

    init(_ first: PacketDissector.FirstLayer) {
        switch first {
        case .ethernet: self = .ethernet
        case .ipv4: self = .ipv4
        case .ipv6: self = .ipv6
        }
    }

    init?(_ type: EtherType) {
        switch type {
        case .ipv4: self = .ipv4
        case .ipv6: self = .ipv6
        case .arp: self = .arp
        case .dot1Q, .qinQ: self = .dot1Q
        default: return nil
        }
    }

    /// The decoder for an IP protocol number. Hop-by-hop options are only valid right after the
    /// IPv6 header, which decodes them itself.
    init?(_ proto: IPProtocol) {
        switch proto {
        case .icmpv4: self = .icmpv4
        case .tcp: self = .tcp
        case .udp: self = .udp
        case .icmpv6: self = .icmpv6
        case .ipv4, .ipip: self = .ipv4
        case .ipv6: self = .ipv6
        case .ipv6Routing: self = .ipv6Routing
        case .ipv6Fragment: self = .ipv6Fragment
        case .ipv6Destination: self = .ipv6Destination
        default: return nil
        }
    }

    func decode(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
        switch self {
        case .ethernet: decodeEthernet(d, &truncated)
        case .dot1Q: decodeDot1Q(d, &truncated)
        case .arp: decodeARP(d, &truncated)
        case .ipv4: decodeIPv4(d, &truncated)
        case .ipv6: decodeIPv6(d, &truncated)
        case .ipv6Routing: decodeIPv6Routing(d, &truncated)
        case .ipv6Fragment: decodeIPv6Fragment(d, &truncated)
        case .ipv6Destination: decodeIPv6Destination(d, &truncated)
        case .tcp: decodeTCP(d, &truncated)
        case .udp: decodeUDP(d, &truncated)
        case .icmpv4: decodeICMPv4(d, &truncated)
        case .icmpv6: decodeICMPv6(d, &truncated)
        }
    }
}

// MARK: - Link layer

private func decodeEthernet(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 14 else { return .failed("Ethernet packet too small") }
    var etherType = EtherType(rawValue: d.be16(12))
    var length: UInt16 = 0
    var payloadEnd = d.count
    if etherType.rawValue < 0x0600 {
        // 802.3: the field is the payload length; extra bytes are padding.
        length = etherType.rawValue
        etherType = .llc
        if d.count - 14 < Int(length) {
            truncated = true
        } else {
            payloadEnd = 14 + Int(length)
        }
    }
    let header = EthernetHeader(
        span: LayerSpan(contents: d.range(0, 14), payload: d.range(14, payloadEnd)),
        source: MACAddress(loading: d.bytes, at: d.start + 6),
        destination: MACAddress(loading: d.bytes, at: d.start),
        etherType: etherType, length: length)
    return .layer(.ethernet(header), payload: header.span.payload, next: Next(etherType))
}

private func decodeDot1Q(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 4 else {
        truncated = true
        return .failed("802.1Q tag length \(d.count) too short")
    }
    let tag = VLANTag(
        span: LayerSpan(contents: d.range(0, 4), payload: d.range(4, d.count)),
        priority: (d[0] & 0xE0) >> 5,
        dropEligible: d[0] & 0x10 != 0,
        vlanID: d.be16(0) & 0x0FFF,
        etherType: EtherType(rawValue: d.be16(2)))
    return .layer(.dot1Q(tag), payload: tag.span.payload, next: Next(tag.etherType))
}

private func decodeARP(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 8 else {
        truncated = true
        return .failed("ARP length \(d.count) too short")
    }
    let hardwareSize = Int(d[4])
    let protocolSize = Int(d[5])
    let length = 8 + 2 * hardwareSize + 2 * protocolSize
    guard d.count >= length else {
        truncated = true
        return .failed("ARP length \(d.count) too short, \(length) expected")
    }
    let senderProtocol = 8 + hardwareSize
    let targetHardware = senderProtocol + protocolSize
    let targetProtocol = targetHardware + hardwareSize
    let packet = ARPPacket(
        span: LayerSpan(contents: d.range(0, length), payload: d.range(length, d.count)),
        hardwareType: d.be16(0),
        protocolType: EtherType(rawValue: d.be16(2)),
        hardwareSize: d[4], protocolSize: d[5],
        operation: d.be16(6),
        senderHardwareAddress: d.range(8, senderProtocol),
        senderProtocolAddress: d.range(senderProtocol, targetHardware),
        targetHardwareAddress: d.range(targetHardware, targetProtocol),
        targetProtocolAddress: d.range(targetProtocol, length))
    return .layer(.arp(packet), payload: packet.span.payload, next: nil)
}

// MARK: - IPv4

private func decodeIPv4(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 20 else {
        truncated = true
        return .failed("Invalid ip4 header. Length \(d.count) less than 20")
    }
    let ihl = d[0] & 0x0F
    var length = d.be16(2)
    if length == 0 {
        // TSO: the kernel leaves the length 0; the captured length stands in, as in gopacket.
        length = UInt16(truncatingIfNeeded: d.count)
    }
    if length < 20 {
        return .failed("Invalid (too small) IP length (\(length) < 20)")
    } else if ihl < 5 {
        return .failed("Invalid (too small) IP header length (\(ihl) < 5)")
    } else if Int(ihl) * 4 > Int(length) {
        return .failed("Invalid IP header length > IP length (\(ihl) > \(length))")
    }
    let headerEnd = Int(ihl) * 4
    var dataEnd = d.count
    if d.count > Int(length) {
        dataEnd = Int(length)  // Ethernet padding
    } else if d.count < Int(length) {
        truncated = true
        if headerEnd > d.count { return .failed("Not all IP header bytes available") }
    }
    var options: [IPv4Option] = []
    var padding = d.range(headerEnd, headerEnd)
    var o = 20
    options: while o < headerEnd {
        let type = d[o]
        switch type {
        case 0:  // end of options; the rest is padding
            options.append(IPv4Option(type: 0, length: 1, data: d.range(o, o)))
            padding = d.range(o + 1, headerEnd)
            break options
        case 1:  // no-op
            options.append(IPv4Option(type: 1, length: 1, data: d.range(o, o)))
            o += 1
        default:
            guard headerEnd - o >= 2 else {
                truncated = true
                return .failed("Invalid ip4 option length. Length \(headerEnd - o) less than 2")
            }
            let optionLength = d[o + 1]
            guard headerEnd - o >= Int(optionLength) else {
                truncated = true
                return .failed("IP option length exceeds remaining IP header size, option type \(type) length \(optionLength)")
            }
            guard optionLength > 2 else {
                return .failed("Invalid IP option type \(type) length \(optionLength). Must be greater than 2")
            }
            options.append(IPv4Option(type: type, length: optionLength, data: d.range(o + 2, o + Int(optionLength))))
            o += Int(optionLength)
        }
    }
    let fragment = d.be16(6)
    let header = IPv4Header(
        span: LayerSpan(contents: d.range(0, headerEnd), payload: d.range(headerEnd, dataEnd)),
        version: d[0] >> 4, ihl: ihl, tos: d[1], length: length,
        identification: d.be16(4),
        flags: IPv4Header.Flags(rawValue: UInt8(fragment >> 13)),
        fragmentOffset: fragment & 0x1FFF,
        ttl: d[8], protocol: IPProtocol(rawValue: d[9]), checksum: d.be16(10),
        source: IPv4Address(value: d.be32(12)), destination: IPv4Address(value: d.be32(16)),
        options: options, padding: padding)
    let next = header.isFragment ? nil : Next(header.protocol)
    return .layer(.ipv4(header), payload: header.span.payload, next: next)
}

// MARK: - IPv6

private func decodeIPv6(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 40 else {
        truncated = true
        return .failed("Invalid ip6 header. Length \(d.count) less than 40")
    }
    let nextHeader = IPProtocol(rawValue: d[6])
    let length = d.be16(4)
    var hopByHop: IPv6OptionsHeader?
    if nextHeader == .hopByHop {
        let rest = LayerBytes(bytes: d.bytes, start: d.start + 40, end: d.end)
        switch optionsHeader(rest, &truncated) {
        case .failure(let message): return .failed(message.text)
        case .success(let header): hopByHop = header
        }
    }
    guard length != 0 else {
        // A jumbogram (RFC 2675) is not decoded.
        return .failed(hopByHop == nil
            ? "IPv6 length 0, but next header is \(nextHeader.name), not HopByHop"
            : "IPv6 length 0, but HopByHop header does not have jumbogram option")
    }
    var payloadEnd = 40 + Int(length)
    if payloadEnd > d.count {
        truncated = true
        payloadEnd = d.count
    }
    let payloadStart = min(40 + (hopByHop?.actualLength ?? 0), payloadEnd)
    if var hbh = hopByHop {
        hbh.span.payload = d.range(payloadStart, payloadEnd)
        hopByHop = hbh
    }
    let header = IPv6Header(
        span: LayerSpan(contents: d.range(0, 40), payload: d.range(payloadStart, payloadEnd)),
        version: d[0] >> 4,
        trafficClass: UInt8(truncatingIfNeeded: d.be16(0) >> 4),
        flowLabel: d.be32(0) & 0x000F_FFFF,
        length: length, nextHeader: nextHeader, hopLimit: d[7],
        source: IPv6Address(loading: d.bytes, at: d.start + 8),
        destination: IPv6Address(loading: d.bytes, at: d.start + 24),
        hopByHop: hopByHop)
    return .layer(.ipv6(header), payload: header.span.payload, next: Next(hopByHop?.nextHeader ?? nextHeader))
}

/// A failure message as a value, so extension decoders can return `Result`.
private struct FailureText: Error {
    let text: String
}

/// The first two bytes and the length every extension header shares.
private func extensionBase(_ d: LayerBytes, _ truncated: inout Bool) -> Result<(IPProtocol, UInt8, Int), FailureText> {
    guard d.count >= 2 else {
        truncated = true
        return .failure(FailureText(text: "Invalid ip6-extension header. Length \(d.count) less than 2"))
    }
    let actualLength = Int(d[1]) * 8 + 8
    guard d.count >= actualLength else {
        truncated = true
        return .failure(FailureText(
            text: "Invalid ip6-extension header. Length \(d.count) less than specified length \(actualLength)"))
    }
    return .success((IPProtocol(rawValue: d[0]), d[1], actualLength))
}

/// A hop-by-hop or destination options header with its TLV options.
private func optionsHeader(_ d: LayerBytes, _ truncated: inout Bool) -> Result<IPv6OptionsHeader, FailureText> {
    let nextHeader: IPProtocol, headerLength: UInt8, actualLength: Int
    switch extensionBase(d, &truncated) {
    case .failure(let failure): return .failure(failure)
    case .success(let base): (nextHeader, headerLength, actualLength) = base
    }
    var options: [IPv6Option] = []
    var o = 2
    while o < actualLength {
        guard d.count - o >= 2 else {
            truncated = true
            return .failure(FailureText(text: "IPv6 header option too small"))
        }
        if d[o] == 0 {  // Pad1 has no length byte
            options.append(IPv6Option(type: 0, length: 0, actualLength: 1, data: d.range(o, o)))
            o += 1
            continue
        }
        let optionLength = d[o + 1]
        let actual = Int(optionLength) + 2
        guard d.count - o >= actual else {
            truncated = true
            return .failure(FailureText(text: "IPv6 header TLV option too small"))
        }
        options.append(IPv6Option(type: d[o], length: optionLength, actualLength: actual, data: d.range(o + 2, o + actual)))
        o += actual
    }
    return .success(IPv6OptionsHeader(
        span: LayerSpan(contents: d.range(0, actualLength), payload: d.range(actualLength, d.count)),
        nextHeader: nextHeader, headerLength: headerLength, actualLength: actualLength,
        options: options))
}

private func decodeIPv6Destination(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    switch optionsHeader(d, &truncated) {
    case .failure(let failure):
        return .failed(failure.text)
    case .success(let header):
        return .layer(.ipv6Destination(header), payload: header.span.payload, next: Next(header.nextHeader))
    }
}

private func decodeIPv6Routing(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    let nextHeader: IPProtocol, headerLength: UInt8, actualLength: Int
    switch extensionBase(d, &truncated) {
    case .failure(let failure): return .failed(failure.text)
    case .success(let base): (nextHeader, headerLength, actualLength) = base
    }
    let routingType = d[2]
    var addresses: [IPv6Address] = []
    if routingType == 0 {
        guard (actualLength - 8) % 16 == 0 else {
            return .failed("Invalid IPv6 source routing, length of type 0 packet \(actualLength)")
        }
        var o = 8
        while o + 16 <= actualLength {
            addresses.append(IPv6Address(loading: d.bytes, at: d.start + o))
            o += 16
        }
    }
    // Other routing types (segment routing, RPL) are kept without their addresses; gopacket
    // rejects them, which would hide the transport header behind them.
    let header = IPv6RoutingHeader(
        span: LayerSpan(contents: d.range(0, actualLength), payload: d.range(actualLength, d.count)),
        nextHeader: nextHeader, headerLength: headerLength, actualLength: actualLength,
        routingType: routingType, segmentsLeft: d[3], reserved: d.range(4, 8),
        addresses: addresses)
    return .layer(.ipv6Routing(header), payload: header.span.payload, next: Next(nextHeader))
}

private func decodeIPv6Fragment(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 8 else {
        truncated = true
        return .failed("Invalid ip6-fragment header. Length \(d.count) less than 8")
    }
    let header = IPv6FragmentHeader(
        span: LayerSpan(contents: d.range(0, 8), payload: d.range(8, d.count)),
        nextHeader: IPProtocol(rawValue: d[0]),
        reserved1: d[1],
        fragmentOffset: d.be16(2) >> 3,
        reserved2: (d[3] & 0x6) >> 1,
        moreFragments: d[3] & 0x1 != 0,
        identification: d.be32(4))
    // Dissection stops at a fragment, as it does for IPv4 fragments.
    return .layer(.ipv6Fragment(header), payload: header.span.payload, next: nil)
}

// MARK: - Transport

private func decodeTCP(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 20 else {
        truncated = true
        return .failed("Invalid TCP header. Length \(d.count) less than 20")
    }
    let dataOffset = d[12] >> 4
    guard dataOffset >= 5 else { return .failed("Invalid TCP data offset \(dataOffset) < 5") }
    let headerEnd = Int(dataOffset) * 4
    guard headerEnd <= d.count else {
        truncated = true
        return .failed("TCP data offset greater than packet length")
    }
    var options: [TCPOption] = []
    var padding = d.range(headerEnd, headerEnd)
    var o = 20
    options: while o < headerEnd {
        let kind = d[o]
        switch kind {
        case 0:  // end of list; the rest is padding
            options.append(TCPOption(kind: 0, length: 1, data: d.range(o, o)))
            padding = d.range(o + 1, headerEnd)
            break options
        case 1:  // no-op
            options.append(TCPOption(kind: 1, length: 1, data: d.range(o, o)))
            o += 1
        default:
            guard headerEnd - o >= 2 else {
                truncated = true
                return .failed("Invalid TCP option length. Length \(headerEnd - o) less than 2")
            }
            let optionLength = d[o + 1]
            if optionLength < 2 {
                return .failed("Invalid TCP option length \(optionLength) < 2")
            } else if Int(optionLength) > headerEnd - o {
                truncated = true
                return .failed("Invalid TCP option length \(optionLength) exceeds remaining \(headerEnd - o) bytes")
            }
            options.append(TCPOption(kind: kind, length: optionLength, data: d.range(o + 2, o + Int(optionLength))))
            o += Int(optionLength)
        }
    }
    let header = TCPHeader(
        span: LayerSpan(contents: d.range(0, headerEnd), payload: d.range(headerEnd, d.count)),
        sourcePort: d.be16(0), destinationPort: d.be16(2),
        sequence: d.be32(4), acknowledgment: d.be32(8),
        dataOffset: dataOffset,
        flags: TCPFlags(rawValue: UInt16(d[13]) | UInt16(d[12] & 0x01) << 8),
        window: d.be16(14), checksum: d.be16(16), urgent: d.be16(18),
        options: options, padding: padding)
    return .layer(.tcp(header), payload: header.span.payload, next: nil)
}

private func decodeUDP(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 8 else {
        truncated = true
        return .failed("Invalid UDP header. Length \(d.count) less than 8")
    }
    let length = d.be16(4)
    var payloadEnd = d.count
    if length >= 8 {
        if Int(length) > d.count {
            truncated = true
        } else {
            payloadEnd = Int(length)
        }
    } else if length != 0 {  // 0: a jumbogram, the payload runs to the end
        return .failed("UDP packet too small: \(length) bytes")
    }
    let header = UDPHeader(
        span: LayerSpan(contents: d.range(0, 8), payload: d.range(8, payloadEnd)),
        sourcePort: d.be16(0), destinationPort: d.be16(2), length: length, checksum: d.be16(6))
    return .layer(.udp(header), payload: header.span.payload, next: nil)
}

private func decodeICMPv4(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 8 else {
        truncated = true
        return .failed("ICMP layer less then 8 bytes for ICMPv4 packet")
    }
    let header = ICMPv4Header(
        span: LayerSpan(contents: d.range(0, 8), payload: d.range(8, d.count)),
        type: d[0], code: d[1], checksum: d.be16(2), identifier: d.be16(4), sequence: d.be16(6))
    return .layer(.icmpv4(header), payload: header.span.payload, next: nil)
}

private func decodeICMPv6(_ d: LayerBytes, _ truncated: inout Bool) -> Step {
    guard d.count >= 4 else {
        truncated = true
        return .failed("ICMP layer less then 4 bytes for ICMPv6 packet")
    }
    let type = d[0]
    var echo: ICMPv6Header.Echo?
    if (type == 128 || type == 129) && d.count >= 8 {
        echo = ICMPv6Header.Echo(identifier: d.be16(4), sequence: d.be16(6))
    }
    let header = ICMPv6Header(
        span: LayerSpan(contents: d.range(0, 4), payload: d.range(4, d.count)),
        type: type, code: d[1], checksum: d.be16(2), echo: echo)
    return .layer(.icmpv6(header), payload: header.span.payload, next: nil)
}
