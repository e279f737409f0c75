import CPcap
import FlowwatchPcap
import Foundation
import Testing

/// The external readers the files must satisfy. tcpdump is a build dependency of the tests;
/// tshark is skipped (with this reason) only outside CI, so CI=true without tshark fails.
enum Tools {
    static let inCI = ProcessInfo.processInfo.environment["CI"] == "true"
    static let tcpdump = find("tcpdump")
    static let tshark = find("tshark")
    static var tsharkEnabled: Bool { tshark != nil || inCI }
    static let tsharkReason: Comment = "tshark is not installed (apt-get install tshark); skipped outside CI"
    static var isRoot: Bool { getuid() == 0 }
    static var privilegedEnabled: Bool { isRoot || inCI }
    static let privilegedReason: Comment = "mounting a small tmpfs needs root; skipped outside CI"

    private static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return (path.split(separator: ":") + ["/usr/sbin", "/usr/bin"])
            .map { "\($0)/\(name)" }
            .first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    struct Output {
        let status: Int32
        let stdout: String
        let stderr: String

        /// stderr without the lines the tools print on every run: tcpdump's "reading from file"
        /// banner and tshark's notice that it runs as root. Anything else is a warning.
        var warnings: [String] {
            stderr.split(separator: "\n").map(String.init).filter {
                !$0.hasPrefix("reading from file ") && !$0.hasPrefix("Running as user \"root\"")
            }
        }
    }

    /// Runs a tool to completion; output goes through files so neither pipe can fill and block it.
    static func run(_ executable: String, _ arguments: [String], stdin: String? = nil) throws -> Output {
        let scratch = try TemporaryDirectory()
        let outURL = URL(fileURLWithPath: scratch.path + "/stdout")
        let errURL = URL(fileURLWithPath: scratch.path + "/stderr")
        _ = FileManager.default.createFile(atPath: outURL.path, contents: nil)
        _ = FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.standardOutput = try FileHandle(forWritingTo: outURL)
        process.standardError = try FileHandle(forWritingTo: errURL)
        if let stdin { process.standardInput = FileHandle(forReadingAtPath: stdin) }
        try process.run()
        process.waitUntilExit()
        return Output(
            status: process.terminationStatus,
            stdout: try String(contentsOf: outURL, encoding: .utf8),
            stderr: try String(contentsOf: errURL, encoding: .utf8))
    }

    /// `gzip -dc file` into a new file, for tcpdump, which libpcap cannot feed gzip.
    static func gunzip(_ path: String, into directory: TemporaryDirectory) throws -> String {
        let plain = directory.path + "/" + (path.split(separator: "/").last ?? "x") + ".unzipped"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/gzip")
        process.arguments = ["-dc", path]
        _ = FileManager.default.createFile(atPath: plain, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: plain))
        try process.run()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "gzip -dc \(path)")
        return plain
    }
}

/// A directory removed with everything in it when the value goes away.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array("/tmp/flowwatch-pcap-test.XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        path = String(cString: made)
    }

    func file(_ name: String) -> String { path + "/" + name }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

/// Test packets: Ethernet + IPv4 + UDP between unassigned ports (no dissector guesses at the
/// payload), numbered through the payload so every packet is distinct.
enum Packets {
    static let lxcClient = CaptureInterface(
        index: 17, name: "lxc1a2b3c4d", description: "endpoint 2073 pod default/client")
    static let lxcServer = CaptureInterface(
        index: 19, name: "lxc5e6f7a8b", description: "endpoint 149 pod default/server")
    static let baseTime: UInt64 = 1_700_000_000_123_456_789

    static func udp(_ number: Int, length: Int = 200) -> [UInt8] {
        var bytes: [UInt8] = [0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02, 0x08, 0x00]
        let ipLength = length - 14
        // Lengths past 65535 (a whole-packet capture test) keep their low 16 bits.
        let ipHigh = UInt8(truncatingIfNeeded: ipLength >> 8), ipLow = UInt8(truncatingIfNeeded: ipLength)
        bytes += [0x45, 0, ipHigh, ipLow, 0, 1, 0x40, 0, 64, 17, 0, 0, 10, 244, 0, 102, 10, 244, 0, 25]
        let udpLength = ipLength - 20
        let udpHigh = UInt8(truncatingIfNeeded: udpLength >> 8), udpLow = UInt8(truncatingIfNeeded: udpLength)
        bytes += [0x9c, 0x41, 0x9c, 0x42, udpHigh, udpLow, 0, 0]
        bytes += withUnsafeBytes(of: UInt32(number).bigEndian, Array.init)
        while bytes.count < length { bytes.append(UInt8(truncatingIfNeeded: bytes.count &* 7 &+ number)) }
        return bytes
    }

    /// Packet `i` of a flow as flowwatch would see it: even ones at from-endpoint (client lxc
    /// ingress), odd ones at to-endpoint (server lxc egress), the pair sharing a packet id.
    /// `capture` bytes of `length` are kept.
    static func flowPacket(_ i: Int, capture: Int = 128, length: Int = 200, spacing: UInt64 = 1_000) -> CapturedPacket {
        let fromEndpoint = i % 2 == 0
        return CapturedPacket(
            timestampNanos: baseTime + UInt64(i) * spacing,
            bytes: udp(i / 2, length: length).prefix(capture),
            originalLength: UInt32(length),
            interface: fromEndpoint ? lxcClient : lxcServer,
            direction: fromEndpoint ? .inbound : .outbound,
            packetID: UInt64(1000 + i / 2),
            tcVerdict: -1,
            comment: fromEndpoint
                ? "from-endpoint: identity 22099->11575 endpoint 2073 pod default/client ct new verdict forwarded"
                : "to-endpoint: identity 22099->11575 endpoint 149 pod default/server ct new verdict forwarded")
    }

    static func flow(_ count: Int, capture: Int = 128, length: Int = 200, spacing: UInt64 = 1_000) -> [CapturedPacket] {
        (0..<count).map { flowPacket($0, capture: capture, length: length, spacing: spacing) }
    }
}

/// A pcapng file cut into blocks, checking that every block's two length fields agree and the
/// file ends at a block boundary.
struct PcapngBlocks {
    struct Block {
        let type: UInt32
        let body: [UInt8]
    }
    let blocks: [Block]

    init(_ bytes: [UInt8]) {
        var blocks: [Block] = []
        var offset = 0
        while offset < bytes.count {
            guard offset + 12 <= bytes.count else {
                Issue.record("\(bytes.count - offset) trailing bytes at \(offset)")
                break
            }
            let type = Self.u32(bytes, offset)
            let length = Int(Self.u32(bytes, offset + 4))
            guard length >= 12, length % 4 == 0, offset + length <= bytes.count,
                Self.u32(bytes, offset + length - 4) == UInt32(length)
            else {
                Issue.record("bad block at \(offset): type \(type) length \(length)")
                break
            }
            blocks.append(Block(type: type, body: Array(bytes[offset + 8..<offset + length - 4])))
            offset += length
        }
        self.blocks = blocks
    }

    /// The `if_name` of every interface block, in order.
    var interfaceNames: [String] {
        blocks.filter { $0.type == 1 }.map { block -> String in
            let name: [UInt8] = Self.options(block.body, from: 8).first(where: { $0.code == 2 }).map { $0.value } ?? []
            return String(decoding: name, as: UTF8.self)
        }
    }

    /// The options of every packet block (they start after the 20 fixed bytes and the data).
    var packetOptions: [[(code: UInt16, value: [UInt8])]] {
        blocks.filter { $0.type == 6 }.map { block in
            let captured = Int(Self.u32(block.body, 12))
            return Self.options(block.body, from: 20 + (captured + 3) & ~3)
        }
    }

    static func options(_ body: [UInt8], from start: Int) -> [(code: UInt16, value: [UInt8])] {
        var options: [(code: UInt16, value: [UInt8])] = []
        var offset = start
        while offset + 4 <= body.count {
            let code = UInt16(body[offset]) | UInt16(body[offset + 1]) << 8
            let length = Int(body[offset + 2]) | Int(body[offset + 3]) << 8
            if code == 0 { break }
            options.append((code, Array(body[offset + 4..<offset + 4 + length])))
            offset += 4 + (length + 3) & ~3
        }
        return options
    }

    static func u32(_ bytes: [UInt8], _ offset: Int) -> UInt32 {
        (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * $1) }
    }
}

/// One record as libpcap reads it back: an independent reader of both formats.
struct ReadPacket: Equatable {
    let seconds: Int
    let nanoseconds: Int
    let capturedLength: Int
    let originalLength: Int
    let bytes: [UInt8]

    init(seconds: Int, nanoseconds: Int, capturedLength: Int, originalLength: Int, bytes: [UInt8]) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.capturedLength = capturedLength
        self.originalLength = originalLength
        self.bytes = bytes
    }

    /// What a writer with `snapshotLength` must have stored for `packet`.
    init(expected packet: CapturedPacket, snapshotLength: Int) {
        let captured = min(packet.bytes.count, snapshotLength)
        self.init(
            seconds: Int(packet.timestampNanos / 1_000_000_000),
            nanoseconds: Int(packet.timestampNanos % 1_000_000_000),
            capturedLength: captured, originalLength: max(Int(packet.originalLength), captured),
            bytes: Array(packet.bytes.prefix(captured)))
    }
}

enum LibpcapReader {
    /// Every packet of a pcap or pcapng file through libpcap with nanosecond timestamps; an error
    /// partway (a truncated record) fails the test.
    static func read(_ path: String) throws -> (linkType: Int32, snapshotLength: Int32, packets: [ReadPacket]) {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        let precision = UInt32(PCAP_TSTAMP_PRECISION_NANO)
        guard let handle = pcap_open_offline_with_tstamp_precision(path, precision, &errorBuffer) else {
            let message = String(decoding: errorBuffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            Issue.record("libpcap cannot open \(path): \(message)")
            return (0, 0, [])
        }
        defer { pcap_close(handle) }
        var packets: [ReadPacket] = []
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        while true {
            let status = pcap_next_ex(handle, &header, &data)
            if status == PCAP_ERROR_BREAK { break }
            guard status == 1, let header, let data else {
                Issue.record("libpcap stopped reading \(path): \(String(cString: pcap_geterr(handle)))")
                break
            }
            let h = header.pointee
            packets.append(
                ReadPacket(
                    seconds: Int(h.ts.tv_sec), nanoseconds: Int(h.ts.tv_usec), capturedLength: Int(h.caplen),
                    originalLength: Int(h.len), bytes: Array(UnsafeBufferPointer(start: data, count: Int(h.caplen)))))
        }
        return (pcap_datalink(handle), pcap_snapshot(handle), packets)
    }
}

/// tcpdump's view of a file: per packet its epoch time with nanoseconds and the bytes from `-xx`.
enum TcpdumpReader {
    static func read(_ path: String) throws -> (times: [String], bytes: [[UInt8]], warnings: [String]) {
        let tcpdump = try #require(Tools.tcpdump, "tcpdump is needed (apt-get install tcpdump)")
        let output = try Tools.run(tcpdump, ["-r", path, "-nn", "-tt", "--time-stamp-precision=nano", "-xx"])
        #expect(output.status == 0, "tcpdump -r \(path): \(output.stderr)")
        var times: [String] = []
        var packets: [[UInt8]] = []
        for line in output.stdout.split(separator: "\n") {
            if line.hasPrefix("\t0x") {
                let hex = line.split(separator: ":", maxSplits: 1)[1].split(separator: " ")
                for group in hex {
                    var index = group.startIndex
                    while index < group.endIndex {
                        let next = group.index(index, offsetBy: 2)
                        packets[packets.count - 1].append(UInt8(group[index..<next], radix: 16)!)
                        index = next
                    }
                }
            } else {
                times.append(String(line.split(separator: " ")[0]))
                packets.append([])
            }
        }
        return (times, packets, output.warnings)
    }
}

/// tshark's view: one row of tab-separated fields per packet.
enum TsharkReader {
    static func fields(_ path: String, _ fields: [String]) throws -> (rows: [[String]], warnings: [String]) {
        let tshark = try #require(Tools.tshark, "tshark is needed under CI=true (apt-get install tshark)")
        let arguments = ["-r", path, "-T", "fields", "-E", "occurrence=a"] + fields.flatMap { ["-e", $0] }
        let output = try Tools.run(tshark, arguments)
        #expect(output.status == 0, "tshark -r \(path): \(output.stderr)")
        let rows = output.stdout.split(separator: "\n", omittingEmptySubsequences: true).map {
            $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        }
        return (rows, output.warnings)
    }
}

extension CaptureWriter {
    func write(_ packets: [CapturedPacket]) throws(CaptureError) {
        for packet in packets { try write(packet) }
    }
}

func fileBytes(_ path: String) throws -> [UInt8] {
    Array(try Data(contentsOf: URL(fileURLWithPath: path)))
}

func fileMode(_ path: String) -> mode_t {
    var status = stat()
    guard stat(path, &status) == 0 else { return 0 }
    return status.st_mode & 0o7777
}

func fileSize(_ path: String) -> Int {
    var status = stat()
    guard stat(path, &status) == 0 else { return -1 }
    return Int(status.st_size)
}

func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
