/// The `DBG_*` subtype of a debug message (Cilium `bpf/lib/dbg.h`, the same numbers as Hubble's
/// `DebugEventType`). The constants are the ones flowwatch's datapath emits (`enum fw_dbg_type`
/// in bpf/events.h); the formatter knows the text of every subtype Cilium defines.
public struct DebugMessageType: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let localDelivery = Self(rawValue: 2)
    public static let conntrackMatch = Self(rawValue: 8)
    public static let conntrackVerdict = Self(rawValue: 15)
    public static let conntrackLookup4Part1 = Self(rawValue: 48)
    public static let conntrackLookup4Part2 = Self(rawValue: 49)
    public static let conntrackCreated4 = Self(rawValue: 50)
    public static let conntrackLookup6Part1 = Self(rawValue: 51)
    public static let conntrackLookup6Part2 = Self(rawValue: 52)
    public static let conntrackCreated6 = Self(rawValue: 53)
    public static let identityMapFailed4 = Self(rawValue: 56)
    public static let identityMapFailed6 = Self(rawValue: 57)
    public static let identityMapSucceeded4 = Self(rawValue: 58)
    public static let identityMapSucceeded6 = Self(rawValue: 59)
}

/// `struct debug_msg` (20 bytes, no packet): a datapath decision, shown by `cilium monitor -v`.
/// What the three arguments mean depends on the subtype; `MonitorFormatter` renders them.
public struct DebugMessage: Sendable, Hashable {
    public var subtype: DebugMessageType
    /// Endpoint id of the emitting program, 0 if none.
    public var source: UInt16
    public var hash: UInt32
    public var arg1: UInt32
    public var arg2: UInt32
    public var arg3: UInt32

    public init(subtype: DebugMessageType, source: UInt16, hash: UInt32,
                arg1: UInt32, arg2: UInt32, arg3: UInt32 = 0) {
        self.subtype = subtype
        self.source = source
        self.hash = hash
        self.arg1 = arg1
        self.arg2 = arg2
        self.arg3 = arg3
    }
}

/// Where a debug capture was taken (`DBG_CAPTURE_*`, Hubble's `DebugCapturePoint`).
public struct DebugCapturePoint: RawRepresentable, Sendable, Hashable {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    public static let delivery = Self(rawValue: 4)
    public static let fromLoadBalancer = Self(rawValue: 5)
    public static let afterNAT46 = Self(rawValue: 6)
    public static let afterNAT64 = Self(rawValue: 7)
    public static let proxyPre = Self(rawValue: 8)
    public static let proxyPost = Self(rawValue: 9)
    public static let snatPre = Self(rawValue: 10)
    public static let snatPost = Self(rawValue: 11)
}

/// `struct debug_capture_msg` (24 bytes + packet): a packet snapshot at a debug point.
public struct DebugCapture: Sendable, Hashable {
    public var point: DebugCapturePoint
    public var source: UInt16
    public var hash: UInt32
    public var originalLength: UInt32
    public var capturedLength: UInt16
    public var version: UInt8
    public var extVersion: UInt8
    /// An ifindex or a network-order proxy port, depending on `point`.
    public var arg1: UInt32
    public var arg2: UInt32

    public init(point: DebugCapturePoint, source: UInt16, hash: UInt32, originalLength: UInt32,
                capturedLength: UInt16, version: UInt8, extVersion: UInt8 = 0,
                arg1: UInt32, arg2: UInt32) {
        self.point = point
        self.source = source
        self.hash = hash
        self.originalLength = originalLength
        self.capturedLength = capturedLength
        self.version = version
        self.extVersion = extVersion
        self.arg1 = arg1
        self.arg2 = arg2
    }
}
