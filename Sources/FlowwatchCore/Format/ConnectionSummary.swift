/// Cilium's `GetConnectionSummary` (`pkg/monitor/dissect.go`): the one-line packet summary that
/// ends every INFO line.
///
/// Later layers override earlier ones (an inner IP header wins over an outer one), then the most
/// specific form that applies is printed:
/// - ICMP: `10.244.0.102 -> 10.244.0.25 icmp EchoRequest`
/// - TCP/UDP: `10.0.0.1:1234 -> 10.0.0.2:80 tcp SYN, ACK`, IPv6 hosts bracketed `[fd00::1]:53`
/// - IP only: `10.0.0.1 -> 10.0.0.2`
/// - Ethernet only: `c6:dc:81:06:fc:cb -> 1e:ea:b6:69:74:23 ARP`
/// - nothing captured: `[unknown]`; bytes present but the first layer undecodable: `[error]`.
///
/// A TCP segment without SYN, ACK, RST or FIN prints no trailing space (Cilium's does).
extension ByteSink {
    mutating func appendConnectionSummary(_ dissection: PacketDissection, packetLength: Int) {
        var source: IPAddress?
        var destination: IPAddress?
        var ethernet: EthernetHeader?
        var ports: (UInt16, UInt16) = (0, 0)
        var transport: StaticString?
        var tcpFlags: TCPFlags?
        var icmp: (names: (type: StaticString?, hasCodes: Bool, code: StaticString?), type: UInt8, code: UInt8)?
        for layer in dissection.layers {
            switch layer {
            case .ethernet(let h):
                ethernet = h
            case .ipv4(let h):
                source = .v4(h.source)
                destination = .v4(h.destination)
            case .ipv6(let h):
                source = .v6(h.source)
                destination = .v6(h.destination)
            case .tcp(let h):
                transport = "tcp"
                ports = (h.sourcePort, h.destinationPort)
                tcpFlags = h.flags
            case .udp(let h):
                transport = "udp"
                ports = (h.sourcePort, h.destinationPort)
                tcpFlags = nil
            case .icmpv4(let h):
                icmp = (icmpv4Names(type: h.type, code: h.code), h.type, h.code)
            case .icmpv6(let h):
                icmp = (icmpv6Names(type: h.type, code: h.code), h.type, h.code)
            case .dot1Q, .arp, .ipv6Routing, .ipv6Fragment, .ipv6Destination:
                break
            }
        }
        if let source, let destination {
            if let icmp {
                appendIP(source)
                appendASCII(" -> ")
                appendIP(destination)
                appendASCII(" icmp ")
                appendICMPTypeCode(icmp.names, type: icmp.type, code: icmp.code)
            } else if let transport {
                appendHostPort(source, ports.0)
                appendASCII(" -> ")
                appendHostPort(destination, ports.1)
                appendASCII(" ")
                appendASCII(transport)
                if let tcpFlags {
                    appendTCPSummaryFlags(tcpFlags)
                }
            } else {
                appendIP(source)
                appendASCII(" -> ")
                appendIP(destination)
            }
        } else if let ethernet {
            appendMAC(ethernet.source)
            appendASCII(" -> ")
            appendMAC(ethernet.destination)
            appendASCII(" ")
            append(ethernet.etherType.name)
        } else if packetLength == 0 || dissection.failure == nil {
            appendASCII("[unknown]")
        } else {
            appendASCII("[error]")
        }
    }

    /// ` SYN, ACK, RST, FIN` (the set ones, in that order).
    private mutating func appendTCPSummaryFlags(_ flags: TCPFlags) {
        var first = true
        if flags.contains(.syn) { appendSummaryFlag("SYN", &first) }
        if flags.contains(.ack) { appendSummaryFlag("ACK", &first) }
        if flags.contains(.rst) { appendSummaryFlag("RST", &first) }
        if flags.contains(.fin) { appendSummaryFlag("FIN", &first) }
    }

    private mutating func appendSummaryFlag(_ name: StaticString, _ first: inout Bool) {
        appendASCII(first ? " " : ", ")
        appendASCII(name)
        first = false
    }
}
