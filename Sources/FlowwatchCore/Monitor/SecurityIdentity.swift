/// A numeric security identity as the datapath labels packets with it (`src_label`,
/// `dst_label`). Bits 0–15 are the identity, 16–23 the cluster, bit 24 the local scope (CIDR
/// identities such as 16777217).
public struct SecurityIdentity: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    public var rawValue: UInt32

    public init(rawValue: UInt32) { self.rawValue = rawValue }
    public init(_ rawValue: UInt32) { self.rawValue = rawValue }

    public static let host = SecurityIdentity(1)
    public static let world = SecurityIdentity(2)

    /// The label name of a reserved identity (Cilium `pkg/identity/numericidentity.go`), which
    /// `cilium monitor` prints instead of the number unless `-n` is given. Identity 0 has no
    /// printed name: monitor shows it as `0`.
    public var reservedName: String? {
        switch rawValue {
        case 1: "host"
        case 2: "world"
        case 3: "unmanaged"
        case 4: "health"
        case 5: "init"
        case 6: "remote-node"
        case 7: "kube-apiserver"
        case 8: "ingress"
        case 9: "world-ipv4"
        case 10: "world-ipv6"
        case 11: "overlay-to-encrypt"
        default: nil
        }
    }

    public var description: String { reservedName ?? String(rawValue) }
}
