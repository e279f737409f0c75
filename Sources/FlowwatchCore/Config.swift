import Yams

/// What the datapath and the decoder know about this node: its endpoints (pods) and which
/// security identity each address prefix has. The same value fills the BPF maps and names the
/// flows, so live capture and replay agree.
///
/// The file is YAML (JSON is YAML too); `samples/config.yaml` documents every key.
public struct NodeConfig: Sendable, Equatable {
    /// One pod (or any workload) with its lxc device.
    public struct Endpoint: Sendable, Equatable {
        public var id: UInt16
        public var interface: String?
        public var identity: UInt32
        public var pod: String?
        public var namespace: String?
        public var labels: [String]
        public var ips: [IPAddress]

        public init(id: UInt16, interface: String? = nil, identity: UInt32, pod: String? = nil,
                    namespace: String? = nil, labels: [String] = [], ips: [IPAddress] = []) {
            self.id = id
            self.interface = interface
            self.identity = identity
            self.pod = pod
            self.namespace = namespace
            self.labels = labels
            self.ips = ips
        }
    }

    /// An ipcache entry: every address in `prefix` has `identity` unless a longer prefix says
    /// otherwise.
    public struct PrefixIdentity: Sendable, Equatable {
        public var prefix: IPPrefix
        public var identity: UInt32

        public init(prefix: IPPrefix, identity: UInt32) {
            self.prefix = prefix
            self.identity = identity
        }
    }

    public var nodeName: String
    /// Endpoint id of the host (`cilium_host`'s events carry it as their source).
    public var hostEndpointID: UInt16
    public var endpoints: [Endpoint]
    public var prefixes: [PrefixIdentity]
    /// Labels of identities that no endpoint carries (remote pods, CIDR identities).
    public var identityLabels: [UInt32: [String]]

    public init(nodeName: String = "", hostEndpointID: UInt16 = 0, endpoints: [Endpoint] = [],
                prefixes: [PrefixIdentity] = [], identityLabels: [UInt32: [String]] = [:]) {
        self.nodeName = nodeName
        self.hostEndpointID = hostEndpointID
        self.endpoints = endpoints
        self.prefixes = prefixes
        self.identityLabels = identityLabels
    }

    /// Every ipcache entry the datapath needs: the configured prefixes plus one host prefix per
    /// endpoint address (an endpoint's own identity wins over a covering prefix).
    public var ipcacheEntries: [PrefixIdentity] {
        var entries = prefixes
        for ep in endpoints {
            for ip in ep.ips {
                entries.append(PrefixIdentity(prefix: IPPrefix(address: ip, length: ip.bitWidth), identity: ep.identity))
            }
        }
        return entries
    }

    /// The endpoint owning an address, if it is local.
    public func endpoint(for ip: IPAddress) -> Endpoint? {
        endpoints.first { $0.ips.contains(ip) }
    }

    /// The endpoint behind an lxc device.
    public func endpoint(interface name: String) -> Endpoint? {
        endpoints.first { $0.interface == name }
    }
}

/// A config file that cannot be used, with where and why.
public struct ConfigError: Error, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int?
    public var column: Int?
    /// The key path, e.g. `endpoints[1].ips[0]`.
    public var path: String
    public var message: String

    public var description: String {
        var s = file
        if let line { s += ":\(line)" }
        if let column { s += ":\(column)" }
        s += ": "
        if !path.isEmpty { s += "\(path): " }
        return s + message
    }
}

extension NodeConfig {
    /// Parses a config file's text; `file` only names it in errors.
    public static func parse(_ text: String, file: String = "config") throws(ConfigError) -> NodeConfig {
        let root: Node?
        do {
            // No tag resolution: the reader takes every scalar as text and converts it itself,
            // and Yams' default resolver compiles a set of regular expressions on first use
            // (9M instructions, most of reading a recording's config at the start of a replay).
            // UTF-8 named: Yams' default encoding reads the environment through Foundation's
            // ProcessInfo first (0.5M instructions of a replay's start).
            root = try Yams.compose(yaml: text, .basic, .default, .utf8)
        } catch let error as YamlError {
            throw ConfigError.syntax(error, file: file)
        } catch {
            throw ConfigError(file: file, path: "", message: "\(error)")
        }
        guard let root else { return NodeConfig() }
        var reader = ConfigReader(file: file)
        return try reader.config(root)
    }
}

extension ConfigError {
    static func syntax(_ error: YamlError, file: String) -> ConfigError {
        switch error {
        case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
             .composer(_, let problem, let mark, _):
            return ConfigError(file: file, line: mark.line, column: mark.column, path: "", message: "not valid YAML: \(problem)")
        case .reader(let problem, _, _, _):
            return ConfigError(file: file, path: "", message: "cannot be read: \(problem)")
        default:
            return ConfigError(file: file, path: "", message: "not valid YAML: \(error)")
        }
    }
}

/// Walks the YAML node tree so every error can name the line and key it came from.
private struct ConfigReader {
    let file: String

    func fail(_ node: Node?, _ path: String, _ message: String) -> ConfigError {
        ConfigError(file: file, line: node?.mark?.line, column: node?.mark?.column, path: path, message: message)
    }

    func mapping(_ node: Node, _ path: String, allowed: Set<String>) throws(ConfigError) -> [(String, Node, Node)] {
        guard case .mapping(let m) = node else { throw fail(node, path, "expected a mapping of keys") }
        var out: [(String, Node, Node)] = []
        var seen = Set<String>()
        for (k, v) in m {
            guard let key = k.scalar?.string else { throw fail(k, path, "keys must be plain strings") }
            let p = path.isEmpty ? key : "\(path).\(key)"
            guard allowed.contains(key) else {
                throw fail(k, p, "unknown key (expected one of: \(allowed.sorted().joined(separator: ", ")))")
            }
            guard seen.insert(key).inserted else { throw fail(k, p, "key given twice") }
            out.append((key, k, v))
        }
        return out
    }

    func sequence(_ node: Node, _ path: String) throws(ConfigError) -> [Node] {
        guard case .sequence(let s) = node else { throw fail(node, path, "expected a list") }
        return Array(s)
    }

    func string(_ node: Node, _ path: String) throws(ConfigError) -> String {
        guard case .scalar(let s) = node else { throw fail(node, path, "expected a string") }
        return s.string
    }

    func integer<T: FixedWidthInteger>(_ node: Node, _ path: String, _: T.Type, min: T = 0) throws(ConfigError) -> T {
        guard case .scalar(let s) = node, let v = T(s.string), v >= min else {
            throw fail(node, path, "expected a whole number from \(min) to \(T.max)")
        }
        return v
    }

    func identity(_ node: Node, _ path: String) throws(ConfigError) -> UInt32 {
        // Identities are 24 bits on the wire (16 identity + 8 cluster) plus the local-scope bit.
        let v = try integer(node, path, UInt32.self)
        guard v < 1 << 25 else { throw fail(node, path, "identity \(v) is out of range (at most \((1 << 25) - 1))") }
        return v
    }

    mutating func config(_ root: Node) throws(ConfigError) -> NodeConfig {
        var config = NodeConfig()
        for (key, _, value) in try mapping(root, "", allowed: ["node", "hostEndpoint", "endpoints", "prefixes", "identities"]) {
            switch key {
            case "node":
                config.nodeName = try string(value, key)
            case "hostEndpoint":
                config.hostEndpointID = try integer(value, key, UInt16.self, min: 1)
            case "endpoints":
                for (i, item) in try sequence(value, key).enumerated() {
                    config.endpoints.append(try endpoint(item, "endpoints[\(i)]"))
                }
            case "prefixes":
                for (i, item) in try sequence(value, key).enumerated() {
                    config.prefixes.append(try prefix(item, "prefixes[\(i)]"))
                }
            case "identities":
                for (i, item) in try sequence(value, key).enumerated() {
                    let p = "identities[\(i)]"
                    var id: UInt32?
                    var labels: [String] = []
                    for (k, _, v) in try mapping(item, p, allowed: ["id", "labels"]) {
                        if k == "id" { id = try identity(v, "\(p).id") } else { labels = try strings(v, "\(p).labels") }
                    }
                    guard let id else { throw fail(item, p, "missing key 'id'") }
                    config.identityLabels[id] = labels
                }
            default:
                break
            }
        }
        try check(config, root)
        return config
    }

    func strings(_ node: Node, _ path: String) throws(ConfigError) -> [String] {
        var out: [String] = []
        for (i, item) in try sequence(node, path).enumerated() {
            out.append(try string(item, "\(path)[\(i)]"))
        }
        return out
    }

    func endpoint(_ node: Node, _ path: String) throws(ConfigError) -> NodeConfig.Endpoint {
        var id: UInt16?
        var ident: UInt32?
        var ep = NodeConfig.Endpoint(id: 0, identity: 0)
        for (key, _, v) in try mapping(node, path, allowed: ["id", "interface", "identity", "pod", "namespace", "labels", "ips"]) {
            let p = "\(path).\(key)"
            switch key {
            case "id": id = try integer(v, p, UInt16.self, min: 1)
            case "identity": ident = try identity(v, p)
            case "interface":
                let name = try string(v, p)
                guard !name.isEmpty, name.utf8.count <= 15 else { throw fail(v, p, "interface names are 1 to 15 bytes") }
                ep.interface = name
            case "pod": ep.pod = try string(v, p)
            case "namespace": ep.namespace = try string(v, p)
            case "labels": ep.labels = try strings(v, p)
            case "ips":
                for (i, item) in try sequence(v, p).enumerated() {
                    let text = try string(item, "\(p)[\(i)]")
                    guard let ip = IPAddress(text) else { throw fail(item, "\(p)[\(i)]", "'\(text)' is not an IPv4 or IPv6 address") }
                    ep.ips.append(ip)
                }
            default: break
            }
        }
        guard let id else { throw fail(node, path, "missing key 'id'") }
        guard let ident else { throw fail(node, path, "missing key 'identity'") }
        ep.id = id
        ep.identity = ident
        return ep
    }

    func prefix(_ node: Node, _ path: String) throws(ConfigError) -> NodeConfig.PrefixIdentity {
        var prefix: IPPrefix?
        var ident: UInt32?
        for (key, _, v) in try mapping(node, path, allowed: ["cidr", "identity"]) {
            let p = "\(path).\(key)"
            if key == "cidr" {
                let text = try string(v, p)
                guard let parsed = IPPrefix(text) else { throw fail(v, p, "'\(text)' is not an address or prefix like 10.0.0.0/8") }
                prefix = parsed
            } else {
                ident = try identity(v, p)
            }
        }
        guard let prefix else { throw fail(node, path, "missing key 'cidr'") }
        guard let ident else { throw fail(node, path, "missing key 'identity'") }
        return NodeConfig.PrefixIdentity(prefix: prefix, identity: ident)
    }

    /// Cross-entry rules: ids, devices and addresses belong to one endpoint each.
    func check(_ config: NodeConfig, _ root: Node) throws(ConfigError) {
        var ids = Set<UInt16>(), devices = Set<String>(), ips = Set<IPAddress>()
        let nodes: [Node]
        if case .mapping(let m) = root, let eps = m["endpoints"], case .sequence(let s) = eps { nodes = Array(s) } else { nodes = [] }
        for (i, ep) in config.endpoints.enumerated() {
            let node = i < nodes.count ? nodes[i] : nil
            let path = "endpoints[\(i)]"
            guard ids.insert(ep.id).inserted else { throw fail(node, "\(path).id", "endpoint id \(ep.id) is used twice") }
            if let dev = ep.interface, !devices.insert(dev).inserted {
                throw fail(node, "\(path).interface", "interface \(dev) belongs to two endpoints")
            }
            for ip in ep.ips where !ips.insert(ip).inserted {
                throw fail(node, "\(path).ips", "address \(ip) belongs to two endpoints")
            }
        }
    }
}
