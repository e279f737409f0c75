/// Builds the frames the datapath tests feed to the program: Ethernet + IPv4/IPv6 + L4, with
/// correct lengths (checksums are not checked by the program, so they are left zero).
enum Packets {
    static let podMAC: [UInt8] = [0xc6, 0xdc, 0x81, 0x06, 0xfc, 0xcb]
    static let lxcMAC: [UInt8] = [0x1e, 0xea, 0xb6, 0x69, 0x74, 0x23]

    static func ethernet(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        lxcMAC + podMAC + be16(type) + payload
    }

    static func be16(_ v: UInt16) -> [UInt8] { [UInt8(v >> 8), UInt8(v & 0xff)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    static func v4(_ s: String) -> [UInt8] { s.split(separator: ".").map { UInt8($0)! } }

    static func ipv4(_ src: String, _ dst: String, proto: UInt8, _ l4: [UInt8], fragment: UInt16 = 0x4000, options: [UInt8] = []) -> [UInt8] {
        let ihl = UInt8(5 + options.count / 4)
        let total = UInt16(Int(ihl) * 4 + l4.count)
        return [0x40 | ihl, 0] + be16(total) + be16(0x1234) + be16(fragment) + [64, proto] + [0, 0]
            + v4(src) + v4(dst) + options + l4
    }

    static func ipv6(_ src: [UInt8], _ dst: [UInt8], next: UInt8, _ payload: [UInt8]) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(UInt16(payload.count)) + [next, 64] + src + dst + payload
    }

    static func icmpEcho(request: Bool, id: UInt16, seq: UInt16, v6: Bool = false) -> [UInt8] {
        let type: UInt8 = v6 ? (request ? 128 : 129) : (request ? 8 : 0)
        return [type, 0, 0, 0] + be16(id) + be16(seq) + [UInt8](repeating: 0xab, count: 56)
    }

    static func tcp(_ sport: UInt16, _ dport: UInt16, flags: UInt8) -> [UInt8] {
        be16(sport) + be16(dport) + be32(1000) + be32(0) + [0x50, flags] + be16(65535) + [0, 0, 0, 0]
    }

    static func udp(_ sport: UInt16, _ dport: UInt16, _ payload: [UInt8] = [1, 2, 3, 4]) -> [UInt8] {
        be16(sport) + be16(dport) + be16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    static let ip6Client: [UInt8] = [0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x66]
    static let ip6Server: [UInt8] = [0xfd, 0, 0, 0x10, 0x02, 0x44, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x19]

    static let tcpSYN: UInt8 = 0x02, tcpACK: UInt8 = 0x10, tcpFIN: UInt8 = 0x01, tcpRST: UInt8 = 0x04
}
