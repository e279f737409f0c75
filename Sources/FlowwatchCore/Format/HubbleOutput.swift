/// A Hubble-style printer for flow events, writing into a caller-owned buffer so a live reader
/// reuses one buffer for every event (like `MonitorFormatter`).
public protocol FlowOutput: Sendable {
    /// Appends the text for one event. Outputs that must see several events before printing
    /// (the table) keep it until `flush(into:)`.
    mutating func write(_ event: FlowEvent, into buffer: inout [UInt8])
    /// `write(.flow(flow))` without wrapping the flow in an event, which copies it.
    mutating func write(flow: Flow, into buffer: inout [UInt8])
    /// Appends whatever `write` held back. Call it when a batch of events has been written
    /// and before exit.
    mutating func flush(into buffer: inout [UInt8])
}

extension FlowOutput {
    /// Outputs that print each event at once hold nothing back.
    public mutating func flush(into buffer: inout [UInt8]) {}

    public mutating func write(flow: Flow, into buffer: inout [UInt8]) {
        write(.flow(flow), into: &buffer)
    }
}

/// `hubble observe -o`: which printer to use.
public enum HubbleOutputFormat: String, Sendable, Hashable, CaseIterable {
    /// One line per event: `Nov 21 09:28:33.123: 10.244.0.102:12544 (ID:22099) -> …`.
    case compact
    /// One `GetFlowsResponse` (or `GetDebugEventsResponse`) JSON object per line.
    case json
    /// The same as `json`, Hubble's name for it.
    case jsonpb
    /// Key/value blocks separated by dashes.
    case dict
    /// Aligned columns under a header.
    case table

    /// A format by its `-o` name, ignoring case.
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }

    /// A fresh printer for this format.
    public func makeOutput(options: HubbleOptions = HubbleOptions()) -> any FlowOutput {
        switch self {
        case .compact: HubbleCompactWriter(options: options)
        case .json, .jsonpb: HubbleJSONWriter()
        case .dict: HubbleDictWriter(options: options)
        case .table: HubbleTableWriter(options: options)
        }
    }
}
