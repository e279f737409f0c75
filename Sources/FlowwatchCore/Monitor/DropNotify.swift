/// A drop reason: the drop message's subtype, `-DROP_*` as a positive byte (Cilium
/// `bpf/lib/common.h`; the same numbers as Hubble's `DropReason`, e.g. 133 `POLICY_DENIED`).
public struct DropReason: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let policyDenied = Self(rawValue: 133)

    /// Cilium's text for the reason (`pkg/monitor/api/drop.go`); nil if unknown.
    public var text: String? {
        switch rawValue {
        case 0: "Success"
        case 2: "Invalid packet"
        case 3: "Interface"
        case 4: "Interface Decrypted"
        case 5: "LB, sock cgroup: No backend slot entry found"
        case 6: "LB, sock cgroup: No backend entry found"
        case 7: "LB, sock cgroup: Reverse entry update failed"
        case 8: "LB, sock cgroup: Reverse entry stale"
        case 9: "Fragmented packet"
        case 10: "Fragmented packet entry update failed"
        case 11: "Missed tail call to custom program"
        case 130: "Invalid source mac"
        case 131: "Invalid destination mac"
        case 132: "Invalid source ip"
        case 133: "Policy denied"
        case 134: "Invalid packet"
        case 135: "CT: Truncated or invalid header"
        case 136: "Fragmentation needed"
        case 137: "CT: Unknown L4 protocol"
        case 138: "CT: Can't create entry from packet"
        case 139: "Unsupported L3 protocol"
        case 140: "Missed tail call"
        case 141: "Error writing to packet"
        case 142: "Unknown L4 protocol"
        case 143: "Unknown ICMPv4 code"
        case 144: "Unknown ICMPv4 type"
        case 145: "Unknown ICMPv6 code"
        case 146: "Unknown ICMPv6 type"
        case 147: "Error retrieving tunnel key"
        case 148: "Error retrieving tunnel options"
        case 149: "Invalid Geneve option"
        case 150: "Unknown L3 target address"
        case 151: "Stale or unroutable IP"
        case 152: "No matching local container found"
        case 153: "Error while correcting L3 checksum"
        case 154: "Error while correcting L4 checksum"
        case 155: "CT: Map insertion failed"
        case 156: "Invalid IPv6 extension header"
        case 157: "IP fragmentation not supported"
        case 158: "Service backend not found"
        case 160: "No tunnel/encapsulation endpoint (datapath BUG!)"
        case 161: "NAT 46/64 not enabled"
        case 162: "Reached EDT rate-limiting drop horizon"
        case 163: "Unknown connection tracking state"
        case 164: "Local host is unreachable"
        case 165: "No configuration available to perform policy decision"
        case 166: "Unsupported L2 protocol"
        case 167: "No mapping for NAT masquerade"
        case 168: "Unsupported protocol for NAT masquerade"
        case 169: "FIB lookup failed"
        case 170: "Encapsulation traffic is prohibited"
        case 171: "Invalid identity"
        case 172: "Unknown sender"
        case 173: "NAT not needed"
        case 174: "Is a ClusterIP"
        case 175: "First logical datagram fragment not found"
        case 176: "Forbidden ICMPv6 message"
        case 177: "Denied by LB src range check"
        case 178: "Socket lookup failed"
        case 179: "Socket assign failed"
        case 180: "Proxy redirection not supported for protocol"
        case 181: "Policy denied by denylist"
        case 182: "VLAN traffic disallowed by VLAN filter"
        case 183: "Incorrect VNI from VTEP"
        case 184: "Failed to update or lookup TC buffer"
        case 185: "No SID was found for the IP address"
        case 186: "SRv6 state was removed during tail call"
        case 187: "L3 translation from IPv4 to IPv6 failed (NAT46)"
        case 188: "L3 translation from IPv6 to IPv4 failed (NAT64)"
        case 189: "Authentication required"
        case 190: "No conntrack map found"
        case 191: "No nat map found"
        case 192: "Invalid ClusterID"
        case 193: "Unsupported packet protocol for DSR encapsulation"
        case 194: "No egress gateway found"
        case 195: "Traffic is unencrypted"
        case 196: "TTL exceeded"
        case 197: "No node ID found"
        case 198: "Rate limited"
        case 199: "IGMP handled"
        case 200: "IGMP subscribed"
        case 201: "Multicast handled"
        case 202: "Host datapath not ready"
        case 203: "Endpoint policy program not available"
        case 204: "No Egress IP configured"
        case 205: "Punt to proxy"
        default: nil
        }
    }
}

/// The BPF source file a drop came from (`__MAGIC_FILE__` ids, Cilium `pkg/monitor/api/files.go`).
public struct BPFSourceFile: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// The file name, or `unknown(<id>)` as Cilium prints unknown ids.
    public var name: String {
        switch rawValue {
        case 1: "bpf_host.c"
        case 2: "bpf_lxc.c"
        case 3: "bpf_overlay.c"
        case 4: "bpf_xdp.c"
        case 5: "bpf_sock.c"
        case 6: "bpf_network.c"
        case 7: "bpf_wireguard.c"
        case 101: "drop.h"
        case 102: "srv6.h"
        case 103: "icmp6.h"
        case 104: "nodeport.h"
        case 105: "lb.h"
        case 106: "mcast.h"
        case 107: "ipv4.h"
        case 108: "conntrack.h"
        case 109: "local_delivery.h"
        case 110: "trace.h"
        case 111: "encap.h"
        case 112: "host_firewall.h"
        case 113: "nodeport_egress.h"
        case 114: "ipv6.h"
        case 115: "classifiers.h"
        default: "unknown(\(rawValue))"
        }
    }
}

/// `struct drop_notify` (Cilium `bpf/lib/drop.h`): the datapath dropped a packet. Versions 0
/// and 1 are 36 bytes, version 2 adds the flags (40 bytes), version 3 the IP trace id (48 bytes,
/// what flowwatch's datapath emits).
public struct DropNotify: Sendable, Hashable {
    public var reason: DropReason
    public var source: UInt16
    public var hash: UInt32
    public var originalLength: UInt32
    public var capturedLength: UInt16
    public var version: UInt8
    public var extVersion: UInt8
    public var sourceIdentity: SecurityIdentity
    public var destinationIdentity: SecurityIdentity
    /// Destination endpoint id, 0 for egress drops.
    public var destinationID: UInt32
    /// Source line and file of the drop in the BPF program.
    public var line: UInt16
    public var file: BPFSourceFile
    /// Extended error code (signed), 0 if none.
    public var extError: Int8
    public var ifindex: UInt32
    /// `CLS_FLAG_*` (version 2 and later; empty before).
    public var flags: TraceFlags
    /// The IP trace id (version 3; 0 before).
    public var ipTraceID: UInt64

    public init(reason: DropReason, source: UInt16, hash: UInt32, originalLength: UInt32,
                capturedLength: UInt16, version: UInt8, extVersion: UInt8 = 0,
                sourceIdentity: SecurityIdentity, destinationIdentity: SecurityIdentity,
                destinationID: UInt32, line: UInt16, file: BPFSourceFile, extError: Int8,
                ifindex: UInt32, flags: TraceFlags, ipTraceID: UInt64) {
        self.reason = reason
        self.source = source
        self.hash = hash
        self.originalLength = originalLength
        self.capturedLength = capturedLength
        self.version = version
        self.extVersion = extVersion
        self.sourceIdentity = sourceIdentity
        self.destinationIdentity = destinationIdentity
        self.destinationID = destinationID
        self.line = line
        self.file = file
        self.extError = extError
        self.ifindex = ifindex
        self.flags = flags
        self.ipTraceID = ipTraceID
    }

    /// Where the captured bytes start: Ethernet, or IPv4/IPv6 on L3 devices.
    public var firstLayer: PacketDissector.FirstLayer {
        PacketDissector.FirstLayer(flags: flags)
    }
}
