/// Version of the recording format: a reader refuses a major version it does not know, and reads
/// any minor version of a major it knows, because minor versions only add header fields that
/// older readers skip. docs/recording-format.md is the specification.
public struct RecordingVersion: Sendable, Hashable, CustomStringConvertible {
    public var major: UInt16
    public var minor: UInt16

    public init(major: UInt16, minor: UInt16) {
        self.major = major
        self.minor = minor
    }

    /// The version this flowwatch writes.
    public static let current = RecordingVersion(major: 1, minor: 0)

    public var description: String { "\(major).\(minor)" }
}

/// What a recording says about the capture it holds, so a replay elsewhere shows the same names
/// and times as the live capture did.
public struct RecordingHeader: Sendable, Equatable {
    /// The node the capture ran on.
    public var nodeName: String
    /// Nanoseconds to add to a CLOCK_BOOTTIME timestamp to get Unix time (`KernelClock`), as
    /// measured when recording started: sample timestamps stay in kernel time, exactly as captured.
    public var wallClockOffset: Int64
    /// CLOCK_BOOTTIME when recording started, in nanoseconds.
    public var startBoottime: UInt64
    /// CLOCK_REALTIME when recording started, in nanoseconds since the Unix epoch.
    public var startWallClock: Int64
    /// Possible CPUs on the node: the number of perf rings, so a CPU number can be checked.
    public var cpuCount: UInt32
    /// The flowwatch that wrote the recording, for bug reports.
    public var flowwatchVersion: String
    /// Packet bytes the datapath copied per event (0: whole packets), which explains short packets.
    public var captureLength: UInt32
    /// Whether the datapath emitted debug messages (`-v`): a replay without them has none to show.
    public var debugMessages: Bool
    /// The node config's text exactly as read (empty if there was none): replay parses it again
    /// with `NodeConfig.parse`, so endpoints and identities get the names they had live.
    public var configText: String
    /// The path the config was read from (empty if none), to name it in messages.
    public var configPath: String

    public init(nodeName: String, wallClockOffset: Int64, startBoottime: UInt64, startWallClock: Int64,
                cpuCount: UInt32, flowwatchVersion: String, captureLength: UInt32, debugMessages: Bool,
                configText: String = "", configPath: String = "") {
        self.nodeName = nodeName
        self.wallClockOffset = wallClockOffset
        self.startBoottime = startBoottime
        self.startWallClock = startWallClock
        self.cpuCount = cpuCount
        self.flowwatchVersion = flowwatchVersion
        self.captureLength = captureLength
        self.debugMessages = debugMessages
        self.configText = configText
        self.configPath = configPath
    }

    /// The recorded config, parsed as live capture parsed it; nil if the capture had none.
    /// Errors name the config as a snapshot, since the file at `configPath` may have changed.
    public func config() throws(ConfigError) -> NodeConfig? {
        guard !configText.isEmpty else { return nil }
        let name = configPath.isEmpty ? "recorded config" : "recorded config (\(configPath))"
        return try NodeConfig.parse(configText, file: name)
    }

    /// Unix time in nanoseconds of a sample timestamp (wrapping, as a garbage timestamp must
    /// not trap).
    public func wallClock(boottime: UInt64) -> Int64 {
        Int64(bitPattern: boottime) &+ wallClockOffset
    }
}

/// Layout constants and the encoder. Everything is little-endian; docs/recording-format.md
/// has the byte tables.
enum RecordingFormat {
    /// PNG's trick: a non-ASCII first byte, CR LF, ^Z and LF, so a file mangled by a text-mode
    /// transfer or truncated to 7 bits fails the magic check instead of decoding as garbage.
    static let magic: [UInt8] = [0x89, 0x46, 0x57, 0x52, 0x0D, 0x0A, 0x1A, 0x0A]  // \x89 F W R \r \n ^Z \n

    /// Magic, major, minor, fields length, preamble CRC.
    static let preambleSize = 20
    /// Before the fields, the reader can check the version; the rest of the preamble is specific
    /// to the major version.
    static let versionEnd = 12
    /// A bound for a length that is checksummed but may come from a hostile file: the fields hold
    /// short strings and a config file, far below this.
    static let maxFieldsLength = 16 << 20
    /// Bytes of a field's tag and length.
    static let fieldHeaderSize = 6

    /// Length, kind, reserved, CPU, timestamp, header CRC.
    static let recordHeaderSize = 24
    /// The payload CRC after the payload.
    static let recordTrailerSize = 4
    /// Perf samples are below 64 KiB; the bound only keeps a hostile length from asking for
    /// gigabytes of buffer.
    static let maxPayloadLength = 16 << 20
    /// The payload of a lost record: the u64 count.
    static let lostPayloadLength = 8

    enum Kind: UInt8 {
        case sample = 1
        case lost = 2
        /// A device's name, so that replay elsewhere prints the names the live capture did.
        case interface = 3
    }

    /// An interface record's payload: u32 ifindex and the name, 1 to IFNAMSIZ - 1 bytes.
    static let interfacePayloadRange = 5...(4 + 15)

    /// Header fields of version 1.0, all required. Unknown tags are skipped so minor versions
    /// can add fields.
    enum Field: UInt16, CaseIterable {
        case nodeName = 1
        case wallClockOffset = 2
        case startBoottime = 3
        case startWallClock = 4
        case cpuCount = 5
        case flowwatchVersion = 6
        case captureLength = 7
        case debugMessages = 8
        case configText = 9
        case configPath = 10

        var name: String {
            switch self {
            case .nodeName: "node name"
            case .wallClockOffset: "wall-clock offset"
            case .startBoottime: "start boot time"
            case .startWallClock: "start wall clock"
            case .cpuCount: "CPU count"
            case .flowwatchVersion: "flowwatch version"
            case .captureLength: "capture length"
            case .debugMessages: "debug messages"
            case .configText: "config text"
            case .configPath: "config path"
            }
        }

        /// The value's size for fixed-size fields, nil for UTF-8 strings.
        var fixedSize: Int? {
            switch self {
            case .wallClockOffset, .startBoottime, .startWallClock: 8
            case .cpuCount, .captureLength: 4
            case .debugMessages: 1
            case .nodeName, .flowwatchVersion, .configText, .configPath: nil
            }
        }
    }

    /// The fields area of a header (between preamble and fields CRC), in tag order.
    static func encodeFields(_ header: RecordingHeader) -> [UInt8] {
        var out: [UInt8] = []
        func field(_ tag: Field, _ value: some Collection<UInt8>) {
            appendLE(tag.rawValue, to: &out)
            appendLE(UInt32(value.count), to: &out)
            out.append(contentsOf: value)
        }
        func field<T: FixedWidthInteger>(_ tag: Field, integer: T) {
            withUnsafeBytes(of: integer.littleEndian) { field(tag, $0) }
        }
        field(.nodeName, header.nodeName.utf8)
        field(.wallClockOffset, integer: header.wallClockOffset)
        field(.startBoottime, integer: header.startBoottime)
        field(.startWallClock, integer: header.startWallClock)
        field(.cpuCount, integer: header.cpuCount)
        field(.flowwatchVersion, header.flowwatchVersion.utf8)
        field(.captureLength, integer: header.captureLength)
        field(.debugMessages, integer: UInt8(header.debugMessages ? 1 : 0))
        field(.configText, header.configText.utf8)
        field(.configPath, header.configPath.utf8)
        return out
    }

    /// The whole header: preamble, the encoded fields, their CRC.
    static func encodeHeader(fields: [UInt8], version: RecordingVersion = .current) -> [UInt8] {
        var out = magic
        appendLE(version.major, to: &out)
        appendLE(version.minor, to: &out)
        appendLE(UInt32(fields.count), to: &out)
        appendLE(CRC32.checksum(out), to: &out)
        out += fields
        appendLE(CRC32.checksum(fields), to: &out)
        return out
    }

    /// Appends one record. The caller keeps payloads within `maxPayloadLength`.
    @inline(__always)
    static func appendRecord(_ sample: RawSample, to buffer: inout [UInt8]) {
        switch sample.kind {
        case .event(let bytes):
            bytes.withUnsafeBytes {
                appendRecord(kind: .sample, cpu: sample.cpu, timestamp: sample.timestamp, payload: $0, to: &buffer)
            }
        case .lost(let count):
            withUnsafeBytes(of: count.littleEndian) {
                appendRecord(kind: .lost, cpu: sample.cpu, timestamp: sample.timestamp, payload: $0, to: &buffer)
            }
        }
    }

    /// Appends an interface record: which name an ifindex had from `timestamp` on.
    static func appendInterface(ifindex: UInt32, name: String, timestamp: UInt64, to buffer: inout [UInt8]) {
        let payload = withUnsafeBytes(of: ifindex.littleEndian, Array.init) + Array(name.utf8.prefix(15))
        payload.withUnsafeBytes { appendRecord(kind: .interface, cpu: 0, timestamp: timestamp, payload: $0, to: &buffer) }
    }

    @inline(__always)
    static func appendRecord(kind: Kind, cpu: UInt32, timestamp: UInt64, payload: UnsafeRawBufferPointer,
                             to buffer: inout [UInt8]) {
        // Built on the stack and appended in one copy: this runs once per captured event.
        var head: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &head) { h in
            h.storeBytes(of: UInt32(truncatingIfNeeded: payload.count).littleEndian, toByteOffset: 0, as: UInt32.self)
            h.storeBytes(of: kind.rawValue, toByteOffset: 4, as: UInt8.self)
            h.storeBytes(of: cpu.littleEndian, toByteOffset: 8, as: UInt32.self)
            h.storeBytes(of: timestamp.littleEndian, toByteOffset: 12, as: UInt64.self)
            let crc = CRC32.checksum(UnsafeRawBufferPointer(rebasing: h[0..<20]))
            h.storeBytes(of: crc.littleEndian, toByteOffset: 20, as: UInt32.self)
            buffer.append(contentsOf: UnsafeRawBufferPointer(h))
        }
        buffer.append(contentsOf: payload)
        appendLE(CRC32.checksum(payload), to: &buffer)
    }

    @inline(__always)
    static func appendLE<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { buffer.append(contentsOf: $0) }
    }
}
