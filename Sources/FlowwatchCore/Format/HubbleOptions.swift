/// The `hubble observe` printer options every flowwatch Hubble output shares.
public struct HubbleOptions: Sendable, Hashable {
    /// `--time-format`.
    public var timeFormat: HubbleTimeFormat
    /// Print every identity as `(ID:n)`, reserved ones included (flowwatch's `--numeric`; Hubble
    /// always names reserved identities).
    public var numericIdentities: Bool
    /// `--print-node-name`: ` [node]` in compact lines, a NODE column or key elsewhere.
    public var printNodeName: Bool
    /// `--ip-translation` (Hubble's default: on): show `namespace/pod` instead of the address of
    /// a known pod.
    public var translateIPs: Bool

    public init(timeFormat: HubbleTimeFormat = .stampMilli, numericIdentities: Bool = false,
                printNodeName: Bool = false, translateIPs: Bool = true) {
        self.timeFormat = timeFormat
        self.numericIdentities = numericIdentities
        self.printNodeName = printNodeName
        self.translateIPs = translateIPs
    }
}
