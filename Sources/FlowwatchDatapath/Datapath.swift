import CFlowwatchABI
import CFlowwatchLinux
import CLibbpf
import FlowwatchCore
import Logging
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// What to observe and how.
public struct DatapathOptions: Sendable {
    /// Shell patterns of device names to attach to (fnmatch).
    public var devicePatterns: [String] = ["lxc*", "cilium_host"]
    /// Of the devices the patterns select, only these names (the filters keep no other
    /// device's events: `KernelPrefilter.interfaces`); nil: all of them.
    public var interfaceNames: Set<String>?
    /// Prefixes for the program's address prefilter (`settings.addressFilter` turns it on).
    public var addressFilter: [AddressPrefilter.Entry] = []
    public var attachMode: AttachMode = .auto
    public var settings = ProgramSettings()
    /// Pages per CPU ring (a power of two): 16 MiB over all CPUs, at least 256 pages (1 MiB with
    /// 4 KiB pages, about 5,000 records of a 128-byte capture) and at most 1024 (4 MiB) per
    /// CPU: 4 MiB up to 4 CPUs, 2 MiB for 8, 1 MiB from 16 on. A small node's CPUs are the
    /// most contended, so its reader is kept off its CPU longest: driven at 1M events/s on 2
    /// CPUs, 1 MiB rings lost 0.1-0.3% of the events, 4 MiB rings none (with Cilium's 64 pages
    /// the bench lost events whenever the traffic kept the reader off its CPU for a millisecond
    /// or two). The pages are the kernel's, not the process's resident memory.
    public static let defaultPerfPages = pagesPerCPU(cpus: Int(libbpf_num_possible_cpus()))
    public var perfPages = DatapathOptions.defaultPerfPages

    /// `defaultPerfPages` for a machine of `cpus` CPUs with 4 KiB pages.
    static func pagesPerCPU(cpus: Int) -> Int {
        let budget = 4096  // pages, all CPUs together
        var pages = 1024
        while pages > 256 && pages * max(cpus, 1) > budget { pages /= 2 }
        return pages
    }
    /// The kernel wakes the reader each time this many bytes have been written to a ring; 0 wakes
    /// on every event; nil: `defaultWakeupBytes`. Rings are also swept every 50 ms, which bounds
    /// latency at low rates.
    public var wakeupBytes: UInt32?
    /// A quarter of the ring. Each wake-up costs the CPU that writes the event an interrupt
    /// (irq_work), about 6 µs on a VM (`fwbench output-floor`): a quarter of a 1 MiB ring is
    /// about 1,300 traces of a 128-byte capture per wake-up, so under 5 ns each, while three
    /// quarters stay free for the reader to come.
    public static func defaultWakeupBytes(ringBytes: UInt32) -> UInt32 { ringBytes / 4 }
    /// When the kernel times the program (see `RunTiming`).
    public var runTiming = RunTiming.sampled

    public init() {}
}

/// A change to the set of observed devices, for the operator to see.
public enum DeviceEvent: Sendable, Equatable {
    case attached(name: String, ifindex: Int32, role: DeviceRole, endpointID: UInt16, mode: AttachMode)
    case detached(name: String, ifindex: Int32, reason: String)
    /// Filters a killed run left behind, removed before attaching.
    case staleRemoved(name: String, hooks: [String])
    /// A device matched but could not be attached (it keeps working untouched).
    case failed(name: String, error: DatapathError)
    /// An lxc device without an endpoint in the config: its events carry endpoint 0, identity 0.
    case unknownEndpoint(name: String)
}

/// What the datapath hands to its consumer. `sample` and `batchEnd` run on the reader thread,
/// `device` on the device-watcher thread, `stopped` on whichever thread failed.
public struct DatapathHandlers: Sendable {
    public var sample: @Sendable (RawSample) -> Void
    public var batchEnd: @Sendable () -> Void = {}
    public var device: @Sendable (DeviceEvent) -> Void = { _ in }
    /// A reader or watcher thread ended with an error; the owner should stop the datapath.
    public var failed: @Sendable (DatapathError) -> Void = { _ in }

    public init(sample: @escaping @Sendable (RawSample) -> Void) { self.sample = sample }
}

/// The kernel side of one observer: the loaded program, its attachments on every matching
/// device (following devices as they come and go), and the perf reader. `stop()` (also run by
/// deinit) detaches everything in reverse order.
public final class Datapath: @unchecked Sendable {
    public let program: ObserverProgram
    public let options: DatapathOptions
    public let config: NodeConfig
    public let mode: AttachMode
    /// Wall-clock minus boot-clock nanoseconds, measured at start.
    public let wallClockOffset: Int64
    /// CPUs with a ring.
    public let cpus: Int

    private struct State {
        var names = InterfaceNameTable()
        var attachments: [Int32: DeviceAttachment] = [:]
        var order: [Int32] = []
        var stopped = false
    }
    private let state = Mutex(State())
    private var reader: PerfReader?
    private var watcher: DeviceWatcher?
    private var workers: [Worker] = []
    private let logger: Logger
    /// Turns the kernel's timing on and off (nil with `RunTiming.off` or when refused).
    private var timer: RunTimer?
    /// Why there is no run time to show, when timing was asked for and the kernel refused.
    public private(set) var runTimeUnavailable: DatapathError?

    /// Checks privileges, loads the program and fills its maps from the config. Nothing is
    /// attached until `start`.
    public init(config: NodeConfig, options: DatapathOptions, logger: Logger = Logger(label: "flowwatch.datapath")) throws(DatapathError) {
        let missing = Privileges.missing()
        guard missing.isEmpty else { throw .missingPrivileges(missing) }
        self.config = config
        self.options = options
        self.logger = logger
        self.mode = try options.attachMode.resolved()
        self.program = try ObserverProgram(settings: options.settings)
        try program.load(config: config)
        if options.settings.addressFilter { try program.setAddressFilter(options.addressFilter) }
        self.cpus = Int(libbpf_num_possible_cpus())
        self.wallClockOffset = KernelClock.wallClockOffset()
    }

    deinit { stop() }

    /// Attaches to every matching device present now, then follows devices and reads events
    /// on threads of their own.
    public func start(_ handlers: DatapathHandlers) throws(DatapathError) {
        let pages = options.perfPages
        let ringBytes = UInt32(pages) * UInt32(sysconf(Int32(_SC_PAGESIZE)))
        let reader = try PerfReader(mapFD: program.eventsFD, pages: pages,
                                    wakeupBytes: options.wakeupBytes ?? DatapathOptions.defaultWakeupBytes(ringBytes: ringBytes), cpus: cpus,
                                    handler: handlers.sample, batchEnd: handlers.batchEnd)
        let watcher = try DeviceWatcher { [weak self] link in self?.handle(link, handlers.device) }
        self.reader = reader
        self.watcher = watcher
        if options.runTiming != .off {
            do throws(DatapathError) {
                timer = try RunTimer()
            } catch {
                runTimeUnavailable = error
                logger.debug("no kernel run time", metadata: ["datapath.error": "\(error)"])
            }
        }
        // Attach to the devices there now before returning: "started" means observing them.
        try watcher.initialDump()
        workers.append(Worker(name: "fw-devices") {
            do throws(DatapathError) { try watcher.run() } catch { handlers.failed(error) }
        })
        workers.append(Worker(name: "fw-perf") {
            do throws(DatapathError) { try reader.run() } catch { handlers.failed(error) }
        })
        if let timer, options.runTiming == .sampled {
            let logger = logger
            workers.append(Worker(name: "fw-timing") {
                if let error = timer.sample(window: RunTiming.window, period: RunTiming.period) {
                    logger.warning("the kernel stopped timing the program", metadata: ["datapath.error": "\(error)"])
                }
            })
        }
    }

    /// Stops reading, detaches from every device (reverse order of attach) and forgets them.
    /// Idempotent; safe from any thread but the reader's and watcher's own.
    public func stop() {
        let first = state.withLock { s -> Bool in
            defer { s.stopped = true }
            return !s.stopped
        }
        guard first else { return }
        watcher?.stop()
        reader?.stop()
        timer?.stop()
        for w in workers { w.join() }
        workers.removeAll()
        let attachments = state.withLock { s -> [DeviceAttachment] in
            let list = s.order.reversed().compactMap { s.attachments[$0] }
            s.attachments.removeAll()
            s.order.removeAll()
            return list
        }
        for a in attachments {
            a.detach()
            program.removeDevice(ifindex: UInt32(a.ifindex))
        }
        timer?.close()
        timer = nil
    }

    /// The kernel's figures for the program: runs and run time while it timed them (see
    /// `RunTiming` and `runTimeUnavailable`), verifier work at load.
    public func runStatistics() -> RunStatistics { program.runStatistics() }

    /// The name of a device by ifindex, for output; nil if never seen.
    public func interfaceName(_ ifindex: UInt32) -> String? {
        state.withLock { $0.names[ifindex] }
    }

    /// PERF_RECORD_LOST totals per CPU.
    public var lostPerCPU: [UInt64] { reader?.lostPerCPU ?? [] }
    /// Each CPU ring's fill and high-water mark since the previous call (see `PerfRingUsage`).
    public func perfRingUsage() -> [PerfRingUsage] { reader?.usage() ?? [] }
    /// Perf records that were neither samples nor lost records (counted, never dropped silently).
    public var unknownRecords: UInt64 { reader?.unknownRecords ?? 0 }

    func matches(_ name: String) -> Bool {
        if let names = options.interfaceNames, !names.contains(name) { return false }
        return options.devicePatterns.contains { fnmatch($0, name, 0) == 0 }
    }

    private func handle(_ link: LinkInfo, _ report: @Sendable (DeviceEvent) -> Void) {
        var events: [DeviceEvent] = []
        state.withLock { s in
            guard !s.stopped else { return }
            if link.deleted {
                s.names[UInt32(bitPattern: link.ifindex)] = nil
            } else {
                s.names[UInt32(bitPattern: link.ifindex)] = link.name
            }
            let wanted = !link.deleted && matches(link.name)
            if let existing = s.attachments[link.ifindex] {
                guard !wanted || existing.name != link.name else { return }
                // Gone, or renamed to something else: let it go.
                existing.detach()
                program.removeDevice(ifindex: UInt32(link.ifindex))
                s.attachments[link.ifindex] = nil
                s.order.removeAll { $0 == link.ifindex }
                events.append(.detached(name: existing.name, ifindex: link.ifindex,
                                        reason: link.deleted ? "device removed" : "renamed to \(link.name)"))
                if !wanted { return }
            }
            guard wanted else { return }
            let stale = DeviceAttachment.removeStale(ifindex: link.ifindex)
            if !stale.isEmpty { events.append(.staleRemoved(name: link.name, hooks: stale)) }

            let role = DeviceRole(deviceName: link.name)
            var endpointID: UInt16 = 0, identity: UInt32 = 0
            switch role {
            case .lxc:
                if let ep = config.endpoint(interface: link.name) {
                    endpointID = ep.id
                    identity = ep.identity
                } else {
                    events.append(.unknownEndpoint(name: link.name))
                }
            case .host:
                endpointID = config.hostEndpointID
                identity = UInt32(FW_IDENTITY_HOST)
            case .network:
                break
            }
            do throws(DatapathError) {
                try program.setDevice(ifindex: UInt32(link.ifindex), role: role, endpointID: endpointID,
                                      identity: identity, layer3: link.layer3)
                let a = try DeviceAttachment(ifindex: link.ifindex, name: link.name, mode: mode, program: program)
                s.attachments[link.ifindex] = a
                s.order.append(link.ifindex)
                events.append(.attached(name: link.name, ifindex: link.ifindex, role: role, endpointID: endpointID, mode: mode))
            } catch {
                program.removeDevice(ifindex: UInt32(link.ifindex))
                events.append(.failed(name: link.name, error: error))
            }
        }
        for e in events { report(e) }
    }
}
