/// What the builder knows about addresses and identities, indexed once from the node config so
/// naming an endpoint costs a hash lookup and no allocation per event.
///
/// It plays the part of Hubble's endpoint, ipcache and identity getters
/// (`pkg/hubble/parser/common/endpoint.go: ResolveEndpoint`): a local endpoint is described by
/// the config entry owning the address; any other address by its identity, with labels from the
/// config's `identities` (or the labels of a local endpoint with that identity) or, for
/// reserved identities, `reserved:<name>`.
struct EndpointIndex: Sendable {
    /// Flow endpoints of the local endpoints, labels sorted, ready to copy into flows.
    private let locals: [Flow.Endpoint]
    private let localByIP: AddressSlots
    /// Local endpoints and the host endpoint by endpoint id, for debug messages.
    private let byID: [UInt16: Flow.Endpoint]
    /// The endpoint of an address that is no local endpoint's, by identity: built once, so a
    /// flow shares its names instead of building them per event.
    private let remotes: [UInt32: Flow.Endpoint]
    /// The ipcache prefixes, longest first, so the first match is the most specific.
    private let prefixes: [NodeConfig.PrefixIdentity]

    init(_ config: NodeConfig) {
        var locals: [Flow.Endpoint] = []
        var localByIP: [(IPAddress, Int)] = []
        var byID: [UInt16: Flow.Endpoint] = [:]
        var labels: [UInt32: [String]] = [:]
        for id in 1...11 {
            if let name = SecurityIdentity(UInt32(id)).reservedName {
                labels[UInt32(id)] = ["reserved:" + name]
            }
        }
        // kube-apiserver is also a remote node (Cilium's reservedIdentityLabels).
        labels[7] = ["reserved:kube-apiserver", "reserved:remote-node"]
        for ep in config.endpoints {
            let endpoint = Flow.Endpoint(id: UInt32(ep.id), identity: ep.identity, namespace: ep.namespace ?? "",
                                         labels: ep.labels.sorted(), podName: ep.pod ?? "")
            for ip in ep.ips { localByIP.append((ip, locals.count)) }
            locals.append(endpoint)
            byID[ep.id] = endpoint
            if labels[ep.identity] == nil, !endpoint.labels.isEmpty {
                labels[ep.identity] = endpoint.labels
            }
        }
        for (identity, identityLabels) in config.identityLabels {
            labels[identity] = identityLabels.sorted()
        }
        if config.hostEndpointID != 0, byID[config.hostEndpointID] == nil {
            byID[config.hostEndpointID] = Flow.Endpoint(id: UInt32(config.hostEndpointID),
                                                        identity: SecurityIdentity.host.rawValue,
                                                        labels: labels[SecurityIdentity.host.rawValue] ?? [])
        }
        self.locals = locals
        self.localByIP = AddressSlots(localByIP)
        self.byID = byID
        self.remotes = Dictionary(uniqueKeysWithValues: labels.map { ($0.key, Flow.Endpoint(identity: $0.key, labels: $0.value)) })
        self.prefixes = config.prefixes.sorted { $0.prefix.length > $1.prefix.length }
    }

    /// The endpoint for one side of a packet, written over `endpoint`. The datapath's identity
    /// wins when it has one (it is what policy saw); otherwise the config's. `ip` is nil when
    /// the packet had no IP header, which leaves only the identity to go by.
    func resolve(_ ip: IPAddress?, datapathIdentity: UInt32, into endpoint: inout Flow.Endpoint) {
        if let ip, let i = localByIP[ip] {
            endpoint.assign(locals[i])
            if datapathIdentity != 0 { endpoint.identity = datapathIdentity }
            return
        }
        var identity = datapathIdentity
        if identity == 0, let ip, let entry = prefixes.first(where: { $0.prefix.contains(ip) }) {
            identity = entry.identity
        }
        if let remote = remotes[identity] {
            endpoint.assign(remote)
        } else {
            endpoint.assign(Flow.Endpoint(identity: identity))
        }
    }

    /// The endpoint a debug message came from; only the id is known for ids not in the config.
    func endpoint(id: UInt16) -> Flow.Endpoint {
        byID[id] ?? Flow.Endpoint(id: UInt32(id))
    }
}

extension EndpointIndex {
    /// Every address whose flows `resolve` names after a pod one of `patterns` matches. A flow
    /// endpoint has a pod name (and namespace) only when its address is a local endpoint's in
    /// the config, and `podMatches` never matches an endpoint without both, so this set is
    /// complete: a flow whose side matches a pattern has one of these addresses on that side.
    /// (Where two endpoints list one address, `resolve` names the last; both are included.)
    static func addresses(of patterns: [PodPattern], in config: NodeConfig) -> [IPAddress] {
        var out: [IPAddress] = []
        var seen = Set<IPAddress>()
        for ep in config.endpoints
        where patterns.contains(where: { $0.matches(namespace: ep.namespace ?? "", podName: ep.pod ?? "") }) {
            for ip in ep.ips where seen.insert(ip).inserted { out.append(ip) }
        }
        return out
    }
}
