/// gopacket's `LayerString` form of each layer, one line per layer in `cilium monitor -vv`:
/// `<LayerName>\t{Field=Value ...}` with the layer struct's exported fields in declaration
/// order. Byte slices print as `[..N..]` when longer than 4 bytes and element by element
/// otherwise; enums print their names.
///
/// Differences from gopacket: ports print without IANA service names (gopacket writes
/// `8000(irdmi)`, flowwatch `8000`), and the layers Cilium's parser lacks (Dot1Q, ARP, IPv6
/// routing / fragment / destination headers) print as gopacket would print them if it had them.
extension ByteSink {
    mutating func appendLayerString(_ layer: PacketLayer, _ p: UnsafeRawBufferPointer) {
        switch layer {
        case .ethernet(let h):
            appendASCII("Ethernet\t{")
            appendSpan(h.span, p)
            appendASCII(" SrcMAC=")
            appendMAC(h.source)
            appendASCII(" DstMAC=")
            appendMAC(h.destination)
            appendASCII(" EthernetType=")
            append(h.etherType.name)
            appendASCII(" Length=")
            appendDecimal(h.length)
            appendASCII("}")
        case .dot1Q(let h):
            appendASCII("Dot1Q\t{")
            appendSpan(h.span, p)
            appendASCII(" Priority=")
            appendDecimal(h.priority)
            appendASCII(" DropEligible=")
            appendBool(h.dropEligible)
            appendASCII(" VLANIdentifier=")
            appendDecimal(h.vlanID)
            appendASCII(" Type=")
            append(h.etherType.name)
            appendASCII("}")
        case .arp(let h):
            appendASCII("ARP\t{")
            appendSpan(h.span, p)
            appendASCII(" AddrType=")
            // gopacket stores the 16-bit hardware type in its 8-bit LinkType.
            append(linkTypeName(UInt8(truncatingIfNeeded: h.hardwareType)))
            appendASCII(" Protocol=")
            append(h.protocolType.name)
            appendASCII(" HwAddressSize=")
            appendDecimal(h.hardwareSize)
            appendASCII(" ProtAddressSize=")
            appendDecimal(h.protocolSize)
            appendASCII(" Operation=")
            appendDecimal(h.operation)
            appendASCII(" SourceHwAddress=")
            appendByteSlice(h.senderHardwareAddress, p)
            appendASCII(" SourceProtAddress=")
            appendByteSlice(h.senderProtocolAddress, p)
            appendASCII(" DstHwAddress=")
            appendByteSlice(h.targetHardwareAddress, p)
            appendASCII(" DstProtAddress=")
            appendByteSlice(h.targetProtocolAddress, p)
            appendASCII("}")
        case .ipv4(let h):
            appendIPv4Layer(h, p)
        case .ipv6(let h):
            appendASCII("IPv6\t{")
            appendSpan(h.span, p)
            appendASCII(" Version=")
            appendDecimal(h.version)
            appendASCII(" TrafficClass=")
            appendDecimal(h.trafficClass)
            appendASCII(" FlowLabel=")
            appendDecimal(h.flowLabel)
            appendASCII(" Length=")
            appendDecimal(h.length)
            appendASCII(" NextHeader=")
            append(h.nextHeader.name)
            appendASCII(" HopLimit=")
            appendDecimal(h.hopLimit)
            appendASCII(" SrcIP=")
            appendIPv6(h.source)
            appendASCII(" DstIP=")
            appendIPv6(h.destination)
            appendASCII(" HopByHop=")
            if let hbh = h.hopByHop {
                appendASCII("{")
                appendOptionsHeaderFields(hbh, p)
                appendASCII("}")
            } else {
                appendASCII("nil")
            }
            appendASCII("}")
        case .ipv6Destination(let h):
            appendASCII("IPv6Destination\t{")
            appendOptionsHeaderFields(h, p)
            appendASCII("}")
        case .ipv6Routing(let h):
            appendASCII("IPv6Routing\t{")
            appendSpan(h.span, p)
            appendExtensionBase(h.nextHeader, h.headerLength, h.actualLength)
            appendASCII(" RoutingType=")
            appendDecimal(h.routingType)
            appendASCII(" SegmentsLeft=")
            appendDecimal(h.segmentsLeft)
            appendASCII(" Reserved=")
            appendByteSlice(h.reserved, p)
            appendASCII(" SourceRoutingIPs=")
            if h.addresses.count > 4 {
                appendSliceCount(h.addresses.count)
            } else {
                appendASCII("[")
                for (i, address) in h.addresses.enumerated() {
                    if i > 0 { appendASCII(", ") }
                    appendIPv6(address)
                }
                appendASCII("]")
            }
            appendASCII("}")
        case .ipv6Fragment(let h):
            appendASCII("IPv6Fragment\t{")
            appendSpan(h.span, p)
            appendASCII(" NextHeader=")
            append(h.nextHeader.name)
            appendASCII(" Reserved1=")
            appendDecimal(h.reserved1)
            appendASCII(" FragmentOffset=")
            appendDecimal(h.fragmentOffset)
            appendASCII(" Reserved2=")
            appendDecimal(h.reserved2)
            appendASCII(" MoreFragments=")
            appendBool(h.moreFragments)
            appendASCII(" Identification=")
            appendDecimal(h.identification)
            appendASCII("}")
        case .tcp(let h):
            appendTCPLayer(h, p)
        case .udp(let h):
            appendASCII("UDP\t{")
            appendSpan(h.span, p)
            appendASCII(" SrcPort=")
            appendDecimal(h.sourcePort)
            appendASCII(" DstPort=")
            appendDecimal(h.destinationPort)
            appendASCII(" Length=")
            appendDecimal(h.length)
            appendASCII(" Checksum=")
            appendDecimal(h.checksum)
            appendASCII("}")
        case .icmpv4(let h):
            appendASCII("ICMPv4\t{")
            appendSpan(h.span, p)
            appendASCII(" TypeCode=")
            appendICMPTypeCode(icmpv4Names(type: h.type, code: h.code), type: h.type, code: h.code)
            appendASCII(" Checksum=")
            appendDecimal(h.checksum)
            appendASCII(" Id=")
            appendDecimal(h.identifier)
            appendASCII(" Seq=")
            appendDecimal(h.sequence)
            appendASCII("}")
        case .icmpv6(let h):
            appendASCII("ICMPv6\t{")
            appendSpan(h.span, p)
            appendASCII(" TypeCode=")
            appendICMPTypeCode(icmpv6Names(type: h.type, code: h.code), type: h.type, code: h.code)
            appendASCII(" Checksum=")
            appendDecimal(h.checksum)
            appendASCII(" TypeBytes=[]}")
        }
    }

    private mutating func appendIPv4Layer(_ h: IPv4Header, _ p: UnsafeRawBufferPointer) {
        appendASCII("IPv4\t{")
        appendSpan(h.span, p)
        appendASCII(" Version=")
        appendDecimal(h.version)
        appendASCII(" IHL=")
        appendDecimal(h.ihl)
        appendASCII(" TOS=")
        appendDecimal(h.tos)
        appendASCII(" Length=")
        appendDecimal(h.length)
        appendASCII(" Id=")
        appendDecimal(h.identification)
        appendASCII(" Flags=")
        // IPv4Flag.String(): the set flags joined by "|".
        var names = 0
        if h.flags.contains(.evil) { appendFlagName("Evil", &names) }
        if h.flags.contains(.dontFragment) { appendFlagName("DF", &names) }
        if h.flags.contains(.moreFragments) { appendFlagName("MF", &names) }
        appendASCII(" FragOffset=")
        appendDecimal(h.fragmentOffset)
        appendASCII(" TTL=")
        appendDecimal(h.ttl)
        appendASCII(" Protocol=")
        append(h.protocol.name)
        appendASCII(" Checksum=")
        appendDecimal(h.checksum)
        appendASCII(" SrcIP=")
        appendIPv4(h.source)
        appendASCII(" DstIP=")
        appendIPv4(h.destination)
        appendASCII(" Options=")
        if h.options.count > 4 {
            appendSliceCount(h.options.count)
        } else {
            appendASCII("[")
            for (i, option) in h.options.enumerated() {
                if i > 0 { appendASCII(", ") }
                // IPv4Option.String(): `IPv4Option(<type>:<data as %v>)`.
                appendASCII("IPv4Option(")
                appendDecimal(option.type)
                appendASCII(":")
                appendGoBytes(option.data, p)
                appendASCII(")")
            }
            appendASCII("]")
        }
        appendASCII(" Padding=")
        appendByteSlice(h.padding, p)
        appendASCII("}")
    }

    private mutating func appendTCPLayer(_ h: TCPHeader, _ p: UnsafeRawBufferPointer) {
        appendASCII("TCP\t{")
        appendSpan(h.span, p)
        appendASCII(" SrcPort=")
        appendDecimal(h.sourcePort)
        appendASCII(" DstPort=")
        appendDecimal(h.destinationPort)
        appendASCII(" Seq=")
        appendDecimal(h.sequence)
        appendASCII(" Ack=")
        appendDecimal(h.acknowledgment)
        appendASCII(" DataOffset=")
        appendDecimal(h.dataOffset)
        appendASCII(" FIN=")
        appendBool(h.flags.contains(.fin))
        appendASCII(" SYN=")
        appendBool(h.flags.contains(.syn))
        appendASCII(" RST=")
        appendBool(h.flags.contains(.rst))
        appendASCII(" PSH=")
        appendBool(h.flags.contains(.psh))
        appendASCII(" ACK=")
        appendBool(h.flags.contains(.ack))
        appendASCII(" URG=")
        appendBool(h.flags.contains(.urg))
        appendASCII(" ECE=")
        appendBool(h.flags.contains(.ece))
        appendASCII(" CWR=")
        appendBool(h.flags.contains(.cwr))
        appendASCII(" NS=")
        appendBool(h.flags.contains(.ns))
        appendASCII(" Window=")
        appendDecimal(h.window)
        appendASCII(" Checksum=")
        appendDecimal(h.checksum)
        appendASCII(" Urgent=")
        appendDecimal(h.urgent)
        appendASCII(" Options=")
        if h.options.count > 4 {
            appendSliceCount(h.options.count)
        } else {
            appendASCII("[")
            for (i, option) in h.options.enumerated() {
                if i > 0 { appendASCII(", ") }
                appendTCPOption(option, p)
            }
            appendASCII("]")
        }
        appendASCII(" Padding=")
        appendByteSlice(h.padding, p)
        appendASCII("}")
    }

    /// gopacket's `TCPOption.String()`: `TCPOption(<kind>:<value> 0x<data>)`, with MSS and
    /// timestamps decoded.
    private mutating func appendTCPOption(_ option: TCPOption, _ p: UnsafeRawBufferPointer) {
        appendASCII("TCPOption(")
        switch option.kind {
        case 0: appendASCII("EndList")
        case 1: appendASCII("NOP")
        case 2: appendASCII("MSS")
        case 3: appendASCII("WindowScale")
        case 4: appendASCII("SACKPermitted")
        case 5: appendASCII("SACK")
        case 6: appendASCII("Echo")
        case 7: appendASCII("EchoReply")
        case 8: appendASCII("Timestamps")
        case 9: appendASCII("PartialOrderConnectionPermitted")
        case 10: appendASCII("PartialOrderServiceProfile")
        case 11: appendASCII("CC")
        case 12: appendASCII("CCNew")
        case 13: appendASCII("CCEcho")
        case 14: appendASCII("AltChecksum")
        case 15: appendASCII("AltChecksumData")
        default:
            appendASCII("Unknown(")
            appendDecimal(option.kind)
            appendASCII(")")
        }
        appendASCII(":")
        let data = option.data
        if option.kind == 2 && data.count >= 2 {
            appendDecimal(p.be(UInt16.self, at: data.lowerBound) ?? 0)
        } else if option.kind == 8 && data.count == 8 {
            appendDecimal(p.be(UInt32.self, at: data.lowerBound) ?? 0)
            appendASCII("/")
            appendDecimal(p.be(UInt32.self, at: data.lowerBound + 4) ?? 0)
        }
        if !data.isEmpty {
            appendASCII(" 0x")
            for i in data where i < p.count { appendHexByte(p[i]) }
        }
        appendASCII(")")
    }

    /// The fields of `IPv6HopByHop` / `IPv6Destination`: the extension base, then the options
    /// as pointers to structs (`{OptionType=… OptionAlignment=[0 0]}`).
    private mutating func appendOptionsHeaderFields(_ h: IPv6OptionsHeader, _ p: UnsafeRawBufferPointer) {
        appendSpan(h.span, p)
        appendExtensionBase(h.nextHeader, h.headerLength, h.actualLength)
        appendASCII(" Options=")
        if h.options.count > 4 {
            appendSliceCount(h.options.count)
            return
        }
        appendASCII("[")
        for (i, option) in h.options.enumerated() {
            if i > 0 { appendASCII(", ") }
            appendASCII("{OptionType=")
            appendDecimal(option.type)
            appendASCII(" OptionLength=")
            appendDecimal(option.length)
            appendASCII(" ActualLength=")
            appendDecimal(option.actualLength)
            appendASCII(" OptionData=")
            appendByteSlice(option.data, p)
            appendASCII(" OptionAlignment=[0 0]}")
        }
        appendASCII("]")
    }

    private mutating func appendExtensionBase(_ nextHeader: IPProtocol, _ headerLength: UInt8, _ actualLength: Int) {
        appendASCII(" NextHeader=")
        append(nextHeader.name)
        appendASCII(" HeaderLength=")
        appendDecimal(headerLength)
        appendASCII(" ActualLength=")
        appendDecimal(actualLength)
    }

    private mutating func appendSpan(_ span: LayerSpan, _ p: UnsafeRawBufferPointer) {
        appendASCII("Contents=")
        appendByteSlice(span.contents, p)
        appendASCII(" Payload=")
        appendByteSlice(span.payload, p)
    }

    /// A `[]byte` field: `[..N..]` past 4 bytes, else `[1, 2, 3]`.
    private mutating func appendByteSlice(_ range: Range<Int>, _ p: UnsafeRawBufferPointer) {
        if range.count > 4 {
            appendSliceCount(range.count)
            return
        }
        appendASCII("[")
        for i in range where i < p.count {
            if i > range.lowerBound { appendASCII(", ") }
            appendDecimal(p[i])
        }
        appendASCII("]")
    }

    /// A `[]byte` formatted with `%v` inside a `String()` method: `[1 2 3]`, never shortened.
    private mutating func appendGoBytes(_ range: Range<Int>, _ p: UnsafeRawBufferPointer) {
        appendASCII("[")
        for i in range where i < p.count {
            if i > range.lowerBound { appendASCII(" ") }
            appendDecimal(p[i])
        }
        appendASCII("]")
    }

    private mutating func appendFlagName(_ name: StaticString, _ written: inout Int) {
        if written > 0 { appendASCII("|") }
        appendASCII(name)
        written += 1
    }

    private mutating func appendSliceCount(_ count: Int) {
        appendASCII("[..")
        appendDecimal(count)
        appendASCII("..]")
    }

    private mutating func appendBool(_ value: Bool) {
        if value { appendASCII("true") } else { appendASCII("false") }
    }
}

extension ByteSink {
    /// gopacket's ICMP `TypeCode.String()`: `EchoRequest`, `DestinationUnreachable(Port)`,
    /// `Redirect(Code: 9)` for a code the type's table lacks, `42(0)` for an unknown type.
    mutating func appendICMPTypeCode(_ names: (type: StaticString?, hasCodes: Bool, code: StaticString?),
                                     type: UInt8, code: UInt8) {
        guard let typeName = names.type else {
            appendDecimal(type)
            appendASCII("(")
            appendDecimal(code)
            appendASCII(")")
            return
        }
        appendASCII(typeName)
        if let codeName = names.code {
            appendASCII("(")
            appendASCII(codeName)
            appendASCII(")")
        } else if names.hasCodes || code != 0 {
            appendASCII("(Code: ")
            appendDecimal(code)
            appendASCII(")")
        }
    }
}
