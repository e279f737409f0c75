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
    /// Which traces the program leaves out (debug messages are never left out). The library
    /// default is none, every packet; the CLI chooses its own.
    public var aggregation: MonitorAggregation = .none
    /// Seconds between reports of an active connection at medium and up (Cilium's
    /// --monitor-aggregation-interval, CT_REPORT_INTERVAL).
    public var aggregationInterval: UInt32 = ProgramSettings.defaultAggregationInterval
    /// Cilium's default, 5 s.
    public static let defaultAggregationInterval = UInt32(FW_DEFAULT_AGGREGATION_INTERVAL)
    /// Trace only packets whose addresses `setAddressFilter` selected (bpf/prefilter.h); the
    /// rest are counted (`ProgramCounters.filtered`). Off: every packet, and no cost.
    public var addressFilter = false

    public init(captureLength: UInt32 = UInt32(FW_DEFAULT_CAPTURE_LEN), debug: Bool = false,
                aggregation: MonitorAggregation = .none, aggregationInterval: UInt32 = ProgramSettings.defaultAggregationInterval,
                addressFilter: Bool = false) {
        self.captureLength = captureLength
        self.debug = debug
        self.aggregation = aggregation
        self.aggregationInterval = aggregationInterval
        self.addressFilter = addressFilter
    }
}

/// Cilium's monitor aggregation levels (`--monitor-aggregation`, pkg/option/monitor.go), with
/// the same numbers (bpf/events.h `enum fw_aggregation`).
public enum MonitorAggregation: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    /// Every packet at every observation point: what `cilium monitor` shows on an agent left
    /// at its default.
    case none = 0
    /// No traces at the from-* observation points: one per packet, where it leaves for its
    /// destination.
    case lowest = 1
    /// As lowest (Cilium's datapath has no separate rule for it).
    case low = 2
    /// As low, and per connection and direction only what conntrack reports: a new
    /// connection, TCP flags not seen before, FIN and RST, ICMP errors, and otherwise at most
    /// one packet per aggregation interval. Cilium's Helm default.
    case medium = 3
    /// As medium (as in Cilium's datapath).
    case maximum = 4

    /// A level by the names Cilium accepts: none (or disabled), lowest, low, medium, maximum (or max).
    public init?(name: String) {
        switch name.lowercased() {
        case "none", "disabled": self = .none
        case "lowest": self = .lowest
        case "low": self = .low
        case "medium": self = .medium
        case "maximum", "max": self = .maximum
        default: return nil
        }
    }

    public var description: String {
        switch self {
        case .none: return "none"
        case .lowest: return "lowest"
        case .low: return "low"
        case .medium: return "medium"
        case .maximum: return "maximum"
        }
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
    let devicesFarFD: Int32
    let endpointsFD: Int32
    let ipcacheFD: Int32
    let conntrackFD: Int32
    let statsFD: Int32
    let addressFilterFD: Int32

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
        raw.aggregation = settings.aggregation.rawValue
        raw.aggregation_interval = settings.aggregationInterval
        raw.addr_filter = settings.addressFilter ? 1 : 0
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
        devicesFarFD = map(FW_MAP_DEVICES_FAR)
        endpointsFD = map(FW_MAP_ENDPOINTS)
        ipcacheFD = map(FW_MAP_IPCACHE)
        conntrackFD = map(FW_MAP_CT)
        statsFD = map(FW_MAP_STATS)
        addressFilterFD = map(FW_MAP_ADDR_FILTER)
        for (name, fd) in [("ingress program", ingressFD), ("egress program", egressFD), (FW_MAP_EVENTS, eventsFD),
                           (FW_MAP_DEVICES, devicesFD), (FW_MAP_DEVICES_FAR, devicesFarFD), (FW_MAP_ENDPOINTS, endpointsFD), (FW_MAP_IPCACHE, ipcacheFD),
                           (FW_MAP_CT, conntrackFD), (FW_MAP_STATS, statsFD),
                           (FW_MAP_ADDR_FILTER, addressFilterFD)] where fd < 0 {
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
        if ifindex < UInt32(FW_DEVICE_SLOTS) {
            try update(devicesFD, FW_MAP_DEVICES, ifindex, dev)
        } else {
            try update(devicesFarFD, FW_MAP_DEVICES_FAR, ifindex, dev)
        }
    }

    public func removeDevice(ifindex: UInt32) {
        if ifindex < UInt32(FW_DEVICE_SLOTS) {
            // An array slot cannot be deleted: role FW_ROLE_NONE is "not observed".
            var k = ifindex, v = fw_device()
            _ = bpf_map_update_elem(devicesFD, &k, &v, UInt64(BPF_ANY))
        } else {
            delete(devicesFarFD, ifindex)
        }
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

    /// Prefixes the address prefilter holds at most.
    public static let addressFilterCapacity = Int(FW_ADDR_FILTER_MAX)

    /// Fills the address prefilter (effective when loaded with `addressFilter`). Each entry's
    /// sides must already include those of every shorter prefix containing it
    /// (`AddressPrefilter.entries` are built that way): the kernel reads the longest match only.
    public func setAddressFilter(_ entries: [AddressPrefilter.Entry]) throws(DatapathError) {
        guard entries.count <= Self.addressFilterCapacity else {
            throw .map(name: FW_MAP_ADDR_FILTER, operation: "fill (\(entries.count) prefixes, at most \(FW_ADDR_FILTER_MAX))", errno: E2BIG)
        }
        for entry in entries {
            var key = fw_ipcache_key()
            key.prefixlen = UInt32(FW_IPCACHE_PREFIX_BASE) + UInt32(entry.prefix.length)
            key.family = entry.prefix.address.isIPv4 ? UInt8(FW_FAMILY_IPV4) : UInt8(FW_FAMILY_IPV6)
            Self.fill(&key.addr, entry.prefix.address)
            var value = fw_addr_filter_value()
            value.sides = (entry.source ? UInt32(FW_ADDR_F_SOURCE) : 0) | (entry.destination ? UInt32(FW_ADDR_F_DESTINATION) : 0)
            try update(addressFilterFD, FW_MAP_ADDR_FILTER, key, value)
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
                               outputErrors: read(FW_STAT_OUTPUT_ERRORS), filtered: read(FW_STAT_FILTERED))
    }

    // MARK: run time

    /// Turns on the kernel's accounting of BPF program run time (BPF_ENABLE_STATS with
    /// BPF_STATS_RUN_TIME). It counts for every program on the machine, at a few ns per run,
    /// for as long as the returned descriptor is open: close it when done observing. Needs
    /// CAP_SYS_ADMIN.
    public static func enableRunTimeStatistics() throws(DatapathError) -> Int32 {
        let fd = bpf_enable_stats(BPF_STATS_RUN_TIME)
        guard fd >= 0 else { throw .runTimeStatistics(errno: -fd) }
        return fd
    }

    /// What the kernel counted for each program: runs and their time while run-time statistics
    /// were on (see `enableRunTimeStatistics`), and the verifier's work at load.
    public func runStatistics() -> RunStatistics {
        func info(_ fd: Int32) -> ProgramStatistics {
            var info = bpf_prog_info()
            var len = UInt32(MemoryLayout<bpf_prog_info>.size)
            guard bpf_obj_get_info_by_fd(fd, &info, &len) == 0 else { return ProgramStatistics() }
            return ProgramStatistics(runs: info.run_cnt, runTimeNanoseconds: info.run_time_ns,
                                     verifiedInstructions: info.verified_insns)
        }
        return RunStatistics(ingress: info(ingressFD), egress: info(egressFD))
    }

    /// What one BPF_PROG_TEST_RUN returned.
    public struct TestRun: Sendable {
        /// The program's return code (TC_ACT_UNSPEC, -1, for every packet it saw).
        public var retval: Int32
        /// The packet as the program left it.
        public var output: [UInt8]
        /// The kernel's mean time per run, test-run loop included (ns).
        public var meanNanoseconds: UInt32
    }

    /// Runs the ingress or egress program `repeat` times on `packet` (an Ethernet frame) through
    /// BPF_PROG_TEST_RUN, as if it arrived on device `ifindex` (which must exist: the kernel
    /// checks). Whatever the program emits goes to the perf rings like any event.
    public func testRun(_ packet: [UInt8], egress: Bool, ifindex: UInt32, repeat count: Int32 = 1) throws(DatapathError) -> TestRun {
        try Self.testRun(programFD: egress ? egressFD : ingressFD, packet, ifindex: ifindex, repeat: count)
    }

    /// `testRun` on any observer program's fd (`ProgramDriver` drives one another process loaded).
    @discardableResult
    static func testRun(programFD: Int32, _ packet: [UInt8], ifindex: UInt32, repeat count: Int32) throws(DatapathError) -> TestRun {
        var out = [UInt8](repeating: 0, count: packet.count + 256)
        var skb = __sk_buff()
        skb.ifindex = ifindex
        var opts = bpf_test_run_opts()
        opts.sz = MemoryLayout<bpf_test_run_opts>.size
        opts.repeat = count
        let rc: Int32 = packet.withUnsafeBytes { input in
            out.withUnsafeMutableBytes { output in
                withUnsafeMutablePointer(to: &skb) { ctx in
                    opts.data_in = input.baseAddress
                    opts.data_size_in = UInt32(input.count)
                    opts.data_out = output.baseAddress
                    opts.data_size_out = UInt32(output.count)
                    opts.ctx_in = UnsafeRawPointer(ctx)
                    opts.ctx_size_in = UInt32(MemoryLayout<__sk_buff>.size)
                    return bpf_prog_test_run_opts(programFD, &opts)
                }
            }
        }
        guard rc == 0 else { throw .load(stage: "test-run", errno: errno, log: "") }
        return TestRun(retval: Int32(bitPattern: opts.retval), output: Array(out.prefix(Int(opts.data_size_out))),
                       meanNanoseconds: opts.duration)
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
    /// Traces the address prefilter left out (after aggregation: each would have been sent).
    public var filtered: UInt64 = 0
}

/// One program's figures from the kernel (`struct bpf_prog_info`).
public struct ProgramStatistics: Sendable, Equatable {
    /// Runs while run-time statistics were on (run_cnt).
    public var runs: UInt64 = 0
    /// Their total time (run_time_ns).
    public var runTimeNanoseconds: UInt64 = 0
    /// Instructions the verifier processed to load it (verified_insns).
    public var verifiedInstructions: UInt32 = 0
}

/// Both programs' figures; every run is one packet at one hook.
public struct RunStatistics: Sendable, Equatable {
    public var ingress: ProgramStatistics
    public var egress: ProgramStatistics

    public var runs: UInt64 { ingress.runs &+ egress.runs }
    public var runTimeNanoseconds: UInt64 { ingress.runTimeNanoseconds &+ egress.runTimeNanoseconds }
    /// Mean kernel time per packet, nil before any run was counted.
    public var nanosecondsPerPacket: Double? { runs == 0 ? nil : Double(runTimeNanoseconds) / Double(runs) }
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
