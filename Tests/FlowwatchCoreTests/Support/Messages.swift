@testable import FlowwatchCore

/// Message builders for tests that are about something other than the byte layout (the
/// layout itself is spelled out field by field in DecoderTests).
enum Message {
    /// A version 2 `trace_notify` followed by `packet`.
    static func traceV2(
        point: UInt8, source: UInt16, hash: UInt32 = 0, originalLength: UInt32? = nil,
        srcIdentity: UInt32, dstIdentity: UInt32, dstID: UInt16, reason: UInt8, flags: UInt8 = 0,
        ifindex: UInt32, origIP: [UInt8], ipTraceID: UInt64 = 0, packet: [UInt8]
    ) -> [UInt8] {
        bytes {
            u8(4)                                              // type: trace
            u8(point)                                          // subtype: observation point
            le16(source)                                       // source endpoint
            le32(hash)                                         // hash
            le32(originalLength ?? UInt32(packet.count))       // len_orig
            le16(UInt16(packet.count))                         // len_cap
            u8(2)                                              // version
            u8(0)                                              // ext_version
            le32(srcIdentity)                                  // src_label
            le32(dstIdentity)                                  // dst_label
            le16(dstID)                                        // dst_id
            u8(reason)                                         // reason
            u8(flags)                                          // flags
            le32(ifindex)                                      // ifindex
            origIP + zeros(16 - origIP.count)                  // orig_ip
            le64(ipTraceID)                                    // ip_trace_id
            packet
        }
    }

    /// A `debug_msg`.
    static func debug(_ subtype: UInt8, source: UInt16, hash: UInt32 = 0,
                      _ arg1: UInt32, _ arg2: UInt32 = 0, _ arg3: UInt32 = 0) -> [UInt8] {
        bytes {
            u8(2)          // type: debug
            u8(subtype)    // DBG_*
            le16(source)   // source endpoint
            le32(hash)     // hash
            le32(arg1)
            le32(arg2)
            le32(arg3)
        }
    }

    /// A version 3 `drop_notify` followed by `packet`.
    static func dropV3(
        reason: UInt8, source: UInt16, hash: UInt32 = 0, srcIdentity: UInt32, dstIdentity: UInt32,
        dstID: UInt32, line: UInt16, file: UInt8, extError: Int8 = 0, ifindex: UInt32,
        flags: UInt8 = 0, ipTraceID: UInt64 = 0, packet: [UInt8]
    ) -> [UInt8] {
        bytes {
            u8(1)                              // type: drop
            u8(reason)                         // subtype: drop reason
            le16(source)                       // source endpoint
            le32(hash)                         // hash
            le32(UInt32(packet.count))         // len_orig
            le16(UInt16(packet.count))         // len_cap
            u8(3)                              // version
            u8(0)                              // ext_version
            le32(srcIdentity)                  // src_label
            le32(dstIdentity)                  // dst_label
            le32(dstID)                        // dst_id
            le16(line)                         // line
            u8(file)                           // file
            u8(UInt8(bitPattern: extError))    // ext_error
            le32(ifindex)                      // ifindex
            u8(flags)                          // flags
            zeros(3)                           // pad
            le64(ipTraceID)                    // ip_trace_id
            packet
        }
    }

    /// A version 1 `debug_capture_msg` followed by `packet`.
    static func capture(point: UInt8, source: UInt16, hash: UInt32 = 0, arg1: UInt32, arg2: UInt32 = 0,
                        packet: [UInt8]) -> [UInt8] {
        bytes {
            u8(3)                          // type: debug capture
            u8(point)                      // subtype: DBG_CAPTURE_*
            le16(source)                   // source endpoint
            le32(hash)                     // hash
            le32(UInt32(packet.count))     // len_orig
            le16(UInt16(packet.count))     // len_cap
            u8(1)                          // version
            u8(0)                          // ext_version
            le32(arg1)
            le32(arg2)
            packet
        }
    }
}

/// Packets used by several tests.
enum Packets {
    /// Ethernet + IPv4 + TCP SYN 10.0.0.1:1234 -> 10.0.0.2:80 with MSS, SACK permitted,
    /// timestamps, NOP and window scale options (74 bytes).
    static let tcpSYN: [UInt8] = bytes {
        mac(0x02, 0, 0, 0, 0, 0x02)            // Ethernet dst
        mac(0x02, 0, 0, 0, 0, 0x01)            // Ethernet src
        be16(0x0800)                           // EtherType IPv4
        u8(0x45)                               // IPv4 version 4, IHL 5
        u8(0)                                  // TOS
        be16(60)                               // total length
        be16(0x1234)                           // id
        be16(0x4000)                           // flags DF, offset 0
        u8(64)                                 // TTL
        u8(6)                                  // protocol TCP
        be16(0xABCD)                           // checksum
        ip4(10, 0, 0, 1)                       // src
        ip4(10, 0, 0, 2)                       // dst
        be16(1234)                             // TCP src port
        be16(80)                               // dst port
        be32(1000)                             // seq
        be32(0)                                // ack
        u8(0xA0)                               // data offset 10 words
        u8(0x02)                               // flags SYN
        be16(64240)                            // window
        be16(0x1111)                           // checksum
        be16(0)                                // urgent
        raw(2, 4, 0x05, 0xB4)                  // MSS 1460
        raw(4, 2)                              // SACK permitted
        raw(8, 10) + be32(3423153553) + be32(1286791)  // timestamps
        raw(1)                                 // NOP
        raw(3, 3, 7)                           // window scale 7
    }

    /// Ethernet + IPv4 + UDP 10.0.0.1:5353 -> 10.0.0.2:53 with 4 payload bytes (46 bytes).
    static let udp: [UInt8] = bytes {
        mac(0x02, 0, 0, 0, 0, 0x02)
        mac(0x02, 0, 0, 0, 0, 0x01)
        be16(0x0800)
        u8(0x45); u8(0); be16(32); be16(7); be16(0); u8(64); u8(17); be16(0)
        ip4(10, 0, 0, 1)
        ip4(10, 0, 0, 2)
        be16(5353); be16(53); be16(12); be16(0)  // UDP ports, length 12, checksum 0
        raw(1, 2, 3, 4)                          // payload
    }
}
