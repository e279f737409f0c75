import FlowwatchAPI
import GRPCCore
import SwiftProtobuf

/// GetFlowsRequest's `field_mask` (Hubble's experimental field mask): responses carry only the
/// listed fields of each Flow, as Hubble's `fieldmask.Copy` fills them. Paths are proto field
/// names joined by dots (`source.pod_name`, `l4`, `IP.source`); a field named whole is copied
/// whole. Lost events, node name and time are untouched. An empty mask sends flows whole.
struct FlowFieldMask: Sendable {
    let mask: Google_Protobuf_FieldMask

    /// nil when the request has no paths; a path that names no Flow field is INVALID_ARGUMENT
    /// naming it (Hubble answers "invalid fieldmask").
    init?(_ request: Observer_GetFlowsRequest) throws(RPCError) {
        guard request.hasFieldMask, !request.fieldMask.paths.isEmpty else { return nil }
        for path in request.fieldMask.paths where !Self.isValid(path) {
            throw RPCError(code: .invalidArgument, message: "field_mask: '\(path)' is not a field of flow.Flow")
        }
        // Paths into fields flowwatch never fills select nothing, and swift-protobuf's trim
        // refuses a mask with paths it does not know.
        mask = Google_Protobuf_FieldMask(protoPaths: request.fieldMask.paths.filter { Flow_Flow.isPathValid($0) }).canonical
    }

    /// Hubble's Flow fields that flowwatch's proto leaves out because it never fills them. A mask
    /// may name them (Hubble UI asks for `uuid` and `l7`, say): they select nothing here, as an
    /// empty field selects nothing in Hubble.
    static let hubbleOnly: Set<String> = [
        "uuid", "emitter", "auth_type", "tunnel", "node_labels", "source_names", "destination_names", "l7",
        "source_service", "destination_service", "policy_match_type", "trace_context", "sock_xlate_point",
        "socket_cookie", "cgroup_id", "egress_allowed_by", "ingress_allowed_by", "egress_denied_by",
        "ingress_denied_by", "policy_log", "aggregate", "extensions",
        "source.cluster_name", "source.workloads", "destination.cluster_name", "destination.workloads",
        "IP.source_xlated", "l4.SCTP", "l4.VRRP", "l4.IGMP",
    ]

    /// As protobuf-go's `FieldMask.IsValid` against Hubble's Flow: every name is a field of the
    /// message before it, and only the last may be a scalar, a repeated field or a map.
    static func isValid(_ path: String) -> Bool {
        let names = path.split(separator: ".", omittingEmptySubsequences: false)
        guard !names.contains(where: \.isEmpty) else { return false }
        for end in 1...min(2, names.count) where hubbleOnly.contains(names[..<end].joined(separator: ".")) { return true }
        // swift-protobuf walks the path; every prefix must reach a singular message.
        for end in 1...names.count {
            let prefix = names[..<end].joined(separator: ".")
            guard Flow_Flow.isPathValid(prefix) else { return false }
        }
        return true
    }

    func apply(_ flow: Flow_Flow) -> Flow_Flow {
        guard !mask.paths.isEmpty else { return Flow_Flow() }
        var f = flow
        f.trim(keeping: mask)
        return f
    }
}
