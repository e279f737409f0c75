/// The text of debug messages, as Cilium's `DebugMsg.Message()` (`pkg/monitor/datapath_debug.go`)
/// renders each `DBG_*` subtype.
///
/// Argument conventions: addresses are network-order u32s stored in host (little-endian)
/// memory, so their bytes in memory order are the address in text order; revnat indexes and
/// some ports are network-order u16s. Differences from Cilium: `Socket assign` prints a
/// failure as `errno N` rather than the C library's message.
extension ByteSink {
    mutating func appendDebugText(_ m: DebugMessage, interfaceName: (UInt32) -> String?) {
        let a1 = m.arg1, a2 = m.arg2, a3 = m.arg3
        switch m.subtype.rawValue {
        case 1:
            appendASCII("No message, arg1=")
            appendDecimal(a1)
            appendASCII(" (")
            appendHexPrefixed(a1)
            appendASCII(") arg2=")
            appendDecimal(a2)
            appendASCII(" (")
            appendHexPrefixed(a2)
            appendASCII(")")
        case 2:
            appendASCII("Attempting local delivery for container id ")
            appendDecimal(a1)
            appendASCII(" from seclabel ")
            appendDecimal(a2)
        case 3:
            appendASCII("Encapsulating to node ")
            appendDecimal(a1)
            appendASCII(" (")
            appendHexPrefixed(a1)
            appendASCII(") from seclabel ")
            appendDecimal(a2)
        case 4:
            appendASCII("Local container found ifindex ")
            appendInterface(a1, interfaceName)
            appendASCII(" seclabel ")
            appendDecimal(networkU16(a2))
        case 5:
            appendASCII("Policy evaluation would deny packet from ")
            appendDecimal(a1)
            appendASCII(" to ")
            appendDecimal(a2)
        case 6:
            appendASCII("CT lookup: ")
            appendConntrackInfo(a1, a2)
        case 7:
            appendASCII("CT reverse lookup: ")
            appendConntrackInfo(a1, a2)
        case 8:
            appendASCII("CT entry found lifetime=")
            appendDecimal(a1)
            appendASCII(", revnat=")
            appendDecimal(networkU16(a2))
        case 9:
            appendASCII("CT created 1/2: ")
            appendConntrackInfo(a1, a2)
            appendASCII(" revnat=")
            appendDecimal(networkU16(a3))
        case 10:
            appendASCII("CT created 2/2: ")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" revnat=")
            appendDecimal(networkU16(a2))
        case 11:
            appendASCII("Handling ICMPv6 type=")
            appendDecimal(a1)
        case 12:
            appendASCII("ICMPv6 echo request for router offset=")
            appendDecimal(a1)
        case 13:
            appendASCII("ICMPv6 neighbour soliciation for address ")
            appendHex(a1)
            appendASCII(":")
            appendHex(a2)
        case 14:
            appendASCII("Sending ICMPv6 time exceeded")
        case 15:
            appendASCII("CT verdict: ")
            appendConntrackState(a1)
            appendASCII(", revnat=")
            appendDecimal(networkU16(a2))
        case 16:
            appendASCII("Tunnel decap: id=")
            appendDecimal(a1)
            appendASCII(" flowlabel=")
            appendHex(a2)
        case 17:
            appendASCII("Mapping port from=")
            appendDecimal(a1)
            appendASCII(" to=")
            appendDecimal(a2)
        case 18:
            appendASCII("BPF function ")
            appendDecimal(a1)
            appendASCII(" returned error ")
            appendDecimal(a2)
        case 19:
            appendASCII("Going to host, policy-skip=")
            appendDecimal(a1)
        case 20:
            appendASCII("Going to the stack, policy-skip=")
            appendDecimal(a1)
        case 21:
            appendASCII("Packet hash=")
            appendDecimal(a1)
            appendASCII(" (")
            appendHexPrefixed(a1)
            appendASCII("), selected_service=")
            appendDecimal(a2)
        case 22:
            appendASCII("Frontend service lookup, addr.p4=")
            appendHex(a1)
            appendASCII(" key.dport=")
            appendDecimal(networkU16(a2))
        case 23:
            appendASCII("Frontend service lookup failed, addr.p2=")
            appendHex(a1)
            appendASCII(" addr.p3=")
            appendHex(a2)
        case 24, 32:
            appendASCII("Service backend slot lookup: slot=")
            appendDecimal(a1)
            appendASCII(", dport=")
            appendDecimal(networkU16(a2))
        case 25:
            appendASCII("Service backend slot lookup result: target.p4=")
            appendHex(a1)
            appendASCII(" port=")
            appendDecimal(networkU16(a2))
        case 26, 34:
            appendASCII("Service backend slot lookup failed: slot=")
            appendDecimal(a1)
            appendASCII(", dport=")
            appendDecimal(networkU16(a2))
        case 27, 35:
            appendASCII("Backend service lookup failed: backend_id=")
            appendDecimal(a1)
        case 28, 36:
            appendASCII("Reverse NAT lookup, index=")
            appendDecimal(networkU16(a1))
        case 29:
            appendASCII("Performing reverse NAT, address.p4=")
            appendHex(a1)
            appendASCII(" port=")
            appendDecimal(networkU16(a2))
        case 30:
            appendASCII("Frontend service lookup, addr=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" key.dport=")
            appendDecimal(networkU16(a2))
        case 31:
            appendASCII("Frontend service lookup failed")
        case 33:
            appendASCII("Service backend slot lookup result: target=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" port=")
            appendDecimal(networkU16(a2))
        case 37:
            appendASCII("Performing reverse NAT, address=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" port=")
            appendDecimal(networkU16(a2))
        case 38:
            appendASCII("Loopback SNAT from=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" to=")
            appendIPv4(memoryOrderIPv4(a2))
        case 39:
            appendASCII("Loopback reverse SNAT from=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" to=")
            appendIPv4(memoryOrderIPv4(a2))
        case 40:
            appendASCII("CT lookup address: ")
            appendIPv4(memoryOrderIPv4(a1))
        case 41:
            appendASCII("RR backend slot selection hash=")
            appendDecimal(a1)
            appendASCII(" (")
            appendHexPrefixed(a1)
            appendASCII("), selected_service=")
            appendDecimal(a2)
        case 42:
            appendASCII("Reverse proxy lookup ")
            appendProxyInfo(a1, a2)
            appendASCII(" nexthdr=")
            appendDecimal(a3)
        case 43:
            appendASCII("Reverse proxy entry found, orig-daddr=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" orig-dport=")
            appendDecimal(a2)
        case 44:
            appendASCII("Reverse proxy updated ")
            appendProxyInfo(a1, a2)
            appendASCII(" nexthdr=")
            appendDecimal(a3)
        case 45:
            appendASCII("Resolved L4 policy to: ")
            appendDecimal(networkU16(a1))
            appendASCII(" / ")
            switch a2 {
            case 0: appendASCII("egress")
            case 1: appendASCII("ingress")
            default: break  // Go's map lookup yields ""
            }
        case 46:
            appendASCII("Destination is inside cluster prefix, source identity: ")
            appendDecimal(a1)
        case 47:
            appendASCII("Attempting encapsulation, lookup key: ")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(", identity: ")
            appendDecimal(a2)
        case 48:
            appendASCII("Conntrack lookup 1/2: ")
            appendLookup4(m)
        case 49, 52:
            appendASCII("Conntrack lookup 2/2: nexthdr=")
            appendDecimal(a1 >> 8)
            appendASCII(" flags=")
            appendDecimal(a1 & 0xFF)
            appendASCII(" dir=")
            appendDecimal(a2)
            appendASCII(" scope=")
            appendDecimal(a3)
        case 50:
            appendASCII("Conntrack create: ")
            appendCreateInfo(m)
            appendASCII(" lb=")
            appendIPv4(memoryOrderIPv4(a3))
        case 51:
            appendASCII("Conntrack lookup 1/2: ")
            appendLookup6(m)
        case 53:
            appendASCII("Conntrack create: ")
            appendCreateInfo(m)
        case 54:
            appendASCII("Skipping proxy, tc_index is set=")
            appendHex(a1)
        case 55:
            appendASCII("Matched L4 policy; creating conntrack src=")
            appendDecimal(a1)
            appendASCII(" dst=")
            appendDecimal(a2)
            appendASCII(" dport=")
            appendDecimal(networkU16(a3 >> 16))
            appendASCII(" proto=")
            appendDecimal(a3 & 0xFF)
        case 56:
            appendASCII("Failed to map addr=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" to identity")
        case 57:
            appendASCII("Failed to map addr.p4=[::")
            appendIPv6Tail(a1)
            appendASCII("] to identity")
        case 58:
            appendASCII("Successfully mapped addr=")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" to identity=")
            appendDecimal(a2)
        case 59:
            appendASCII("Successfully mapped addr.p4=[::")
            appendIPv6Tail(a1)
            appendASCII("] to identity=")
            appendDecimal(a2)
        case 60:
            appendASCII("Stale CT entry found stale_ct.rev_nat_id=")
            appendDecimal(a2)
            appendASCII(", svc.rev_nat_id=")
            appendDecimal(a1)
        case 61:
            appendASCII("Inheriting identity=")
            appendDecimal(a1)
            appendASCII(" from stack")
        case 62:
            appendASCII("Socket lookup: ")
            appendLookup4(m)
        case 63:
            appendASCII("Socket lookup: ")
            appendLookup6(m)
        case 64:
            appendASCII("Socket assign: ")
            if a1 == 0 {
                appendASCII("Success")
            } else {
                appendASCII("errno ")
                appendDecimal(a1)
            }
        case 65:
            appendASCII("L7 LB from ")
            appendIPv4(memoryOrderIPv4(a1))
            appendASCII(" to ")
            appendIPv4(memoryOrderIPv4(a2))
            appendASCII(": proxy port ")
            appendDecimal(a3)
        default:
            appendASCII("Unknown message type=")
            appendDecimal(m.subtype.rawValue)
            appendASCII(" arg1=")
            appendDecimal(a1)
            appendASCII(" arg2=")
            appendDecimal(a2)
        }
    }

    /// `src=ip(a1):(a3 & 0xFFFF) dst=ip(a2):(a3 >> 16)`. For ICMP echo the tuple carries the echo
    /// identifier in a port slot, so it prints as a port.
    private mutating func appendLookup4(_ m: DebugMessage) {
        appendASCII("src=")
        appendIPv4(memoryOrderIPv4(m.arg1))
        appendASCII(":")
        appendDecimal(m.arg3 & 0xFFFF)
        appendASCII(" dst=")
        appendIPv4(memoryOrderIPv4(m.arg2))
        appendASCII(":")
        appendDecimal(m.arg3 >> 16)
    }

    /// IPv6 lookups carry only the last 4 bytes of each address.
    private mutating func appendLookup6(_ m: DebugMessage) {
        appendASCII("src=[::")
        appendIPv6Tail(m.arg1)
        appendASCII("]:")
        appendDecimal(m.arg3 & 0xFFFF)
        appendASCII(" dst=[::")
        appendIPv6Tail(m.arg2)
        appendASCII("]:")
        appendDecimal(m.arg3 >> 16)
    }

    /// `proxy-port=%d revnat=%d src-identity=%d`: the high half of arg1 is the (former) proxy
    /// port, the low half the network-order revnat index.
    private mutating func appendCreateInfo(_ m: DebugMessage) {
        appendASCII("proxy-port=")
        appendDecimal(m.arg1 >> 16)
        appendASCII(" revnat=")
        appendDecimal(networkU16(m.arg1))
        appendASCII(" src-identity=")
        appendDecimal(m.arg2)
    }

    /// `sport=%d dport=%d nexthdr=%d flags=<OUT, RELATED>` of the unused early CT messages.
    private mutating func appendConntrackInfo(_ a1: UInt32, _ a2: UInt32) {
        appendASCII("sport=")
        appendDecimal(a1 >> 16)
        appendASCII(" dport=")
        appendDecimal(a1 & 0xFFFF)
        appendASCII(" nexthdr=")
        appendDecimal(a2 >> 8)
        appendASCII(" flags=")
        let flags = a2 & 0xFF
        if flags & 1 != 0 { appendASCII("OUT") }
        if flags & 2 != 0 {
            if flags & 1 != 0 { appendASCII(", ") }
            appendASCII("RELATED")
        }
    }

    private mutating func appendProxyInfo(_ a1: UInt32, _ a2: UInt32) {
        appendASCII("sport=")
        appendDecimal(networkU16(a1 >> 16))
        appendASCII(" dport=")
        appendDecimal(networkU16(a1))
        appendASCII(" saddr=")
        appendIPv4(memoryOrderIPv4(a2))
    }

    /// Cilium's `ctState`: the verdict's name, or the drop reason text for other values.
    private mutating func appendConntrackState(_ state: UInt32) {
        switch state {
        case 0: appendASCII("New")
        case 1: appendASCII("Established")
        case 2: appendASCII("Reply")
        case 3: appendASCII("Related")
        default: appendDropReason(DropReason(rawValue: UInt8(truncatingIfNeeded: state)), extError: 0)
        }
    }

    /// `%x:%x` of the network-order u32 holding the last 4 bytes of an IPv6 address.
    private mutating func appendIPv6Tail(_ value: UInt32) {
        let v = value.byteSwapped
        appendHex(v >> 16)
        appendASCII(":")
        appendHex(v & 0xFFFF)
    }

    /// Cilium's `DropReasonExt`: the reason's text, `, <ext>` if an extended error is set, or
    /// both numbers for reasons it does not know.
    mutating func appendDropReason(_ reason: DropReason, extError: Int8) {
        if let text = reason.text {
            append(text)
            if extError != 0 {
                appendASCII(", ")
                appendDecimal(extError)
            }
        } else {
            appendDecimal(reason.rawValue)
            appendASCII(", ")
            appendDecimal(extError)
        }
    }
}

/// A network-order u16 held in the low half of an argument (`NetworkToHost16`).
@inline(__always)
private func networkU16(_ arg: UInt32) -> UInt16 {
    UInt16(truncatingIfNeeded: arg).byteSwapped
}

/// A network-order address held in a host-order u32: its bytes in little-endian memory order
/// are the address in text order (Cilium's `ip4Str`).
@inline(__always)
func memoryOrderIPv4(_ arg: UInt32) -> IPv4Address {
    IPv4Address(value: arg.byteSwapped)
}
