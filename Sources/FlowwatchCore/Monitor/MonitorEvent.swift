/// The message types of byte 0 (Cilium `pkg/monitor/api/types.go`, `enum fw_notify_type` in
/// bpf/events.h). Only the types a datapath notify message can carry are decoded.
public enum MonitorMessageType: UInt8, Sendable, CaseIterable {
    case drop = 1
    case debug = 2
    case capture = 3
    case trace = 4
}

/// One decoded datapath message, without its packet bytes: what the borrowed-bytes decoder
/// returns so a caller can inspect headers without copying the packet.
public enum MonitorMessage: Sendable, Hashable {
    case trace(TraceNotify)
    case debug(DebugMessage)
    case capture(DebugCapture)
    case drop(DropNotify)

    /// The message type byte the message was decoded from, for filtering by type.
    public var type: MonitorMessageType {
        switch self {
        case .trace: .trace
        case .debug: .debug
        case .capture: .capture
        case .drop: .drop
        }
    }
}

/// One record from a perf ring, decoded: a datapath message with the packet bytes it carried,
/// or a count of records the ring lost.
public struct MonitorEvent: Sendable, Hashable {
    /// What the record held.
    public enum Payload: Sendable, Hashable {
        /// A message; `packet` is the `len_cap` bytes appended after it (empty for debug
        /// messages).
        case message(MonitorMessage, packet: [UInt8])
        /// The ring was full and this many records were dropped (`PERF_RECORD_LOST`).
        case lost(count: UInt64)
    }

    /// CPU whose ring delivered the record.
    public var cpu: UInt32
    /// Kernel time in nanoseconds of CLOCK_BOOTTIME (the perf sample's, not the message's).
    public var timestamp: UInt64
    public var payload: Payload

    public init(cpu: UInt32, timestamp: UInt64, payload: Payload) {
        self.cpu = cpu
        self.timestamp = timestamp
        self.payload = payload
    }
}
