import CFlowwatchABI
import CFlowwatchLinux
import CLibbpf
import FlowwatchCore
#if canImport(Glibc)
import Glibc
#endif

/// Load-time settings of the program (bpf/events.h `struct fw_settings`): they are constants to
/// the verifier, so a feature that is off costs nothing per packet.
public struct ProgramSettings: Sendable, Equatable {
    /// Packet bytes appended to each trace; 0 = the whole packet (up to what a sample holds).
    public var captureLength: UInt32 = UInt32(FW_DEFAULT_CAPTURE_LEN)
    /// Emit debug messages (conntrack, identity, local delivery): `-v`.
    public var debug = false
    /// Monitor aggregation level (0 = none).
    public var aggregation: UInt32 = 0
    public var aggregationInterval: UInt32 = 5

    public init(captureLength: UInt32 = UInt32(FW_DEFAULT_CAPTURE_LEN), debug: Bool = false) {
        self.captureLength = captureLength
        self.debug = debug
    }
}

/// The loaded observer program and its maps. One owner: closing it (deinit) unloads the
/// programs and maps; attachments hold their own references and must be detached first.
public final class ObserverProgram: @unchecked Sendable {
    private let object: OpaquePointer
    /// Program fds, for attaching.
    public let ingressFD: Int32
    public let egressFD: Int32
    let eventsFD: Int32
    let devicesFD: Int32
    let endpointsFD: Int32
    let ipcacheFD: Int32
    let conntrackFD: Int32
    let statsFD: Int32

    /// Opens the embedded object, applies the settings and loads it into the kernel.
    public init(settings: ProgramSettings) throws(DatapathError) {
        fw_libbpf_log_capture()
        var size = 0
        guard let bytes = fw_bpf_object(&size) else { throw .load(stage: "find", errno: ENOENT, log: "") }

        var opts = bpf_object_open_opts()
        opts.sz = MemoryLayout<bpf_object_open_opts>.size
        let obj: OpaquePointer? = "flowwatch".withCString { name in
            opts.object_name = name
            return bpf_object__open_mem(bytes, size, &opts)
        }
        guard let obj else { throw .load(stage: "open", errno: errno, log: Self.takeLog()) }

        var raw = fw_settings()
        raw.capture_len = settings.captureLength
        raw.debug = settings.debug ? 1 : 0
        raw.aggregation = settings.aggregation
        raw.aggregation_interval = settings.aggregationInterval
        let err = fw_object_set_rodata(obj, "fw_settings", &raw, MemoryLayout<fw_settings>.size)
        if err != 0 {
            bpf_object__close(obj)
            throw .load(stage: "configure", errno: -err, log: "")
        }

        let loaded = bpf_object__load(obj)
        if loaded != 0 {
            let log = Self.takeLog()
            bpf_object__close(obj)
            throw .load(stage: "load", errno: -loaded, log: log)
        }

        func prog(_ name: String) -> Int32 { bpf_program__fd(bpf_object__find_program_by_name(obj, name)) }
        func map(_ name: String) -> Int32 { bpf_object__find_map_fd_by_name(obj, name) }
        object = obj
        ingressFD = prog(FW_PROG_INGRESS)
        egressFD = prog(FW_PROG_EGRESS)
        eventsFD = map(FW_MAP_EVENTS)
        devicesFD = map(FW_MAP_DEVICES)
        endpointsFD = map(FW_MAP_ENDPOINTS)
        ipcacheFD = map(FW_MAP_IPCACHE)
        conntrackFD = map(FW_MAP_CT)
        statsFD = map(FW_MAP_STATS)
        for (name, fd) in [("ingress program", ingressFD), ("egress program", egressFD), (FW_MAP_EVENTS, eventsFD),
                           (FW_MAP_DEVICES, devicesFD), (FW_MAP_ENDPOINTS, endpointsFD), (FW_MAP_IPCACHE, ipcacheFD),
                           (FW_MAP_CT, conntrackFD), (FW_MAP_STATS, statsFD)] where fd < 0 {
            bpf_object__close(obj)
            throw .load(stage: "find \(name) in", errno: ENOENT, log: "")
        }
    }

    deinit {
        bpf_object__close(object)
    }

    static func takeLog() -> String {
        var buf = [CChar](repeating: 0, count: 64 * 1024)
        let n = fw_libbpf_log_take(&buf, buf.count)
        return String(decoding: buf.prefix(n).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    // MARK: maps

    private func update<K: BitwiseCopyable, V: BitwiseCopyable>(_ fd: Int32, _ name: String, _ key: K, _ value: V) throws(DatapathError) {
        var k = key, v = value
        if bpf_map_update_elem(fd, &k, &v, UInt64(BPF_ANY)) != 0 {
            throw .map(name: name, operation: "update", errno: errno)
        }
    }

    private func delete<K: BitwiseCopyable>(_ fd: Int32, _ key: K) {
        var k = key
        _ = bpf_map_delete_elem(fd, &k)
    }

    /// Tells the program what a device is; devices not in the map are ignored by it.
    public func setDevice(ifindex: UInt32, role: DeviceRole, endpointID: UInt16, identity: UInt32, layer3: Bool) throws(DatapathError) {
        var dev = fw_device()
        dev.role = role.rawValue
        dev.endpoint_id = endpointID
        dev.identity = identity
        dev.flags = layer3 ? UInt16(FW_DEVICE_F_L3) : 0
        try update(devicesFD, FW_MAP_DEVICES, ifindex, dev)
    }

    public func removeDevice(ifindex: UInt32) {
        delete(devicesFD, ifindex)
    }

    /// Fills the endpoints and ipcache maps from the config.
    public func load(config: NodeConfig) throws(DatapathError) {
        for ep in config.endpoints {
            for ip in ep.ips {
                var key = fw_endpoint_key()
                Self.fill(&key.addr, ip)
                key.family = ip.isIPv4 ? UInt8(FW_FAMILY_IPV4) : UInt8(FW_FAMILY_IPV6)
                var value = fw_endpoint()
                value.id = ep.id
                value.identity = ep.identity
                value.ifindex = ep.interface.map { if_nametoindex($0) } ?? 0
                try update(endpointsFD, FW_MAP_ENDPOINTS, key, value)
            }
        }
        for entry in config.ipcacheEntries {
            var key = fw_ipcache_key()
            key.prefixlen = UInt32(FW_IPCACHE_PREFIX_BASE) + UInt32(entry.prefix.length)
            key.family = entry.prefix.address.isIPv4 ? UInt8(FW_FAMILY_IPV4) : UInt8(FW_FAMILY_IPV6)
            Self.fill(&key.addr, entry.prefix.address)
            var value = fw_ipcache_value()
            value.identity = entry.identity
            try update(ipcacheFD, FW_MAP_IPCACHE, key, value)
        }
    }

    static func fill<T>(_ tuple: inout T, _ ip: IPAddress) {
        let bytes = ip.paddedBytes
        withUnsafeMutableBytes(of: &tuple) { raw in
            for i in 0..<min(raw.count, bytes.count) { raw[i] = bytes[i] }
        }
    }

    /// The program's own counters, summed over CPUs.
    public func counters() -> ProgramCounters {
        let cpus = Int(libbpf_num_possible_cpus())
        var values = [UInt64](repeating: 0, count: max(cpus, 1))
        func read(_ stat: fw_stat) -> UInt64 {
            var key = stat.rawValue
            guard bpf_map_lookup_elem(statsFD, &key, &values) == 0 else { return 0 }
            return values.reduce(0, &+)
        }
        return ProgramCounters(packets: read(FW_STAT_PACKETS), events: read(FW_STAT_EVENTS),
                               outputErrors: read(FW_STAT_OUTPUT_ERRORS))
    }

    /// Every conntrack entry, for tests and inspection.
    public func conntrackEntries() -> [(key: fw_ct_key, entry: fw_ct_entry)] {
        var out: [(fw_ct_key, fw_ct_entry)] = []
        var key = fw_ct_key(), next = fw_ct_key()
        var first = true
        while true {
            let rc = first ? bpf_map_get_next_key(conntrackFD, nil, &next) : bpf_map_get_next_key(conntrackFD, &key, &next)
            guard rc == 0 else { break }
            first = false
            var value = fw_ct_entry()
            if bpf_map_lookup_elem(conntrackFD, &next, &value) == 0 { out.append((next, value)) }
            key = next
        }
        return out.map { (key: $0.0, entry: $0.1) }
    }
}

/// The program's counters (bpf/events.h `enum fw_stat`).
public struct ProgramCounters: Sendable, Equatable {
    /// Packets seen on observed devices.
    public var packets: UInt64
    /// Messages written to the perf event array.
    public var events: UInt64
    /// Messages the kernel could not write (the CPU's perf ring was full).
    public var outputErrors: UInt64
}

/// What a device is to the program; decides its observation points.
public enum DeviceRole: UInt32, Sendable, CustomStringConvertible {
    case lxc = 1, host = 2, network = 3

    /// lxc* devices are endpoints, cilium_host is the host, anything else selected is network.
    public init(deviceName name: String) {
        if name == "cilium_host" { self = .host } else if name.hasPrefix("lxc") { self = .lxc } else { self = .network }
    }

    public var description: String {
        switch self {
        case .lxc: return "endpoint"
        case .host: return "host"
        case .network: return "network"
        }
    }
}
