import ArgumentParser
import FlowwatchCore
import FlowwatchDatapath
import FlowwatchServer
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// `flowwatch serve`: the datapath and the flow ring as a daemon, serving Hubble's Observer API
/// (a unix socket, and TCP for Hubble Relay) and Prometheus metrics until SIGTERM or Ctrl-C.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Observe this node and serve Hubble's Observer API (gRPC) and Prometheus metrics.",
        discussion: """
            Clients: `flowwatch --server unix:///var/run/flowwatch/flowwatch.sock --last 20`, \
            `flowwatch status`, `hubble observe --server unix:///var/run/flowwatch/flowwatch.sock`, \
            or Hubble Relay pointed at --listen-address (port 4244 by convention).
            """)

    @OptionGroup var capture: CaptureOptions
    @OptionGroup var ringOptions: RingOptions
    @OptionGroup(title: "Serving") var serving: ServeOptions

    @Flag(name: .short, help: "Keep the datapath's debug messages in the ring too (GetDebugEvents serves them).")
    var verbose: Int

    func run() throws {
        var capture = self.capture
        capture.defaultAggregation(everyPacketWritten: false)
        let (config, _) = try capture.loadConfig()
        let ring = try ringOptions.makeRing(captureLength: capture.captureLength, defaultCapacity: EventRing.defaultCapacity)
        let debug = verbose > 0
        let metrics = FlowMetrics()
        let attached = AttachedDevices()
        let running = Mutex<(server: ObserverServer, reader: MetricsReader)?>(nil)
        defer {
            if let r = running.withLock({ $0 }) {
                r.server.stopBlocking()
                r.reader.stop()
            }
        }
        try runLive(capture, config: config, debug: debug, onDevice: { event in
            switch event {
            case .attached(let name, _, _, _, _): attached.names.withLock { _ = $0.insert(name) }
            case .detached(let name, _, _): attached.names.withLock { _ = $0.remove(name) }
            default: break
            }
        }) { datapath in
            let interfaceName: @Sendable (UInt32) -> String? = { [datapath] in datapath.interfaceName($0) }
            let builder = FlowBuilder(config: config, wallClockOffset: datapath.wallClockOffset, interfaceName: interfaceName)
            let backend = RingBackend(ring: ring, builder: builder, version: "flowwatch \(Flowwatch.configuration.version)") { [datapath] in
                let stats = datapath.runStatistics()
                return (stats.runs, stats.runTimeNanoseconds)
            }
            var options = ObserverService.Options()
            options.address = serving.listenAddress ?? ""
            options.tls = serving.tlsCertFile != nil
            let service = ObserverService(backend: backend, metrics: metrics, options: options)
            let reader = MetricsReader(backend: backend, metrics: metrics, builder: builder)
            let exporter = serving.metricsAddress.map { address in
                MetricsServer(address: address) { [datapath] in
                    metrics.render(extra: ownMetrics(datapath: datapath, ring: ring, devices: attached.count,
                                                     decodeErrors: reader.decodeErrors))
                }
            }
            let server = ObserverServer(configuration: try serving.configuration(), service: service, metrics: exporter)
            do {
                try server.startBlocking()
            } catch {
                reader.stop()
                diagnostic("\(error)")
                throw ExitCode(2)
            }
            running.withLock { $0 = (server, reader) }
            var where_ = server.boundAddresses.withLock { $0 }.joined(separator: " and ")
            if let exporter, let bound = exporter.boundAddress.withLock({ $0 }) { where_ += "; metrics on http://\(bound)/metrics" }
            diagnostic("serving Hubble's Observer API on \(where_) from a ring of \(ring.capacity) events")
            // The reader thread orders records and stores them in the ring; readers do the rest.
            let pipeline = EventPipeline(output: .none, config: config, wallClockOffset: datapath.wallClockOffset,
                                         ring: ring, interfaceName: interfaceName)
            return LiveConsumer(pipeline: pipeline, ring: ring, printer: nil, recorder: nil, recordPath: nil, captures: nil)
        }
    }
}

/// Where `serve` listens.
struct ServeOptions: ParsableArguments {
    @Option(name: .customLong("unix-socket"),
            help: ArgumentHelp("The unix socket to serve on, mode 0660 ('' for none).", valueName: "path"))
    var unixSocket = ServerConfiguration.defaultUnixSocket

    @Option(name: .customLong("listen-address"),
            help: ArgumentHelp("Also serve on TCP, for Hubble Relay (e.g. :4244, 10.0.0.5:4244, [::]:4244).", valueName: "host:port"))
    var listenAddress: String?

    @Option(name: .customLong("tls-cert-file"), help: ArgumentHelp("TLS on --listen-address: the server's certificate chain (PEM).", valueName: "file"))
    var tlsCertFile: String?

    @Option(name: .customLong("tls-key-file"), help: ArgumentHelp("The server certificate's private key (PEM).", valueName: "file"))
    var tlsKeyFile: String?

    @Option(name: .customLong("tls-client-ca-files"),
            help: ArgumentHelp("Mutual TLS: clients must present a certificate from this CA (PEM); others are refused.", valueName: "file"))
    var tlsClientCA: String?

    @Option(name: .customLong("metrics-address"),
            help: ArgumentHelp("Serve Prometheus metrics at http://host:port/metrics (e.g. :9965).", valueName: "host:port"))
    var metricsAddress: String?

    func validate() throws {
        if (tlsCertFile == nil) != (tlsKeyFile == nil) { throw ValidationError("--tls-cert-file and --tls-key-file go together") }
        if tlsCertFile != nil && listenAddress == nil { throw ValidationError("TLS is for --listen-address: give one") }
        if tlsClientCA != nil && tlsCertFile == nil { throw ValidationError("--tls-client-ca-files needs --tls-cert-file and --tls-key-file") }
        if unixSocket.isEmpty && listenAddress == nil { throw ValidationError("nothing to serve on: give --listen-address or a --unix-socket") }
        for address in [listenAddress, metricsAddress].compactMap({ $0 }) {
            do { _ = try parseHostPort(address) } catch { throw ValidationError("\(error)") }
        }
    }

    func configuration() throws -> ServerConfiguration {
        ServerConfiguration(
            unixSocket: unixSocket.isEmpty ? nil : unixSocket, tcpAddress: listenAddress,
            tls: tlsCertFile.map { TLSFiles(certificateChain: $0, privateKey: tlsKeyFile!, clientCA: tlsClientCA) },
            metricsAddress: metricsAddress)
    }
}

/// The devices observed now (the device watcher's thread adds and removes them).
final class AttachedDevices: Sendable {
    let names = Mutex<Set<String>>([])
    var count: Int { names.withLock { $0.count } }
}

/// flowwatch's own metrics: what the datapath and the ring report at scrape time.
func ownMetrics(datapath: Datapath, ring: EventRing, devices: Int, decodeErrors: UInt64) -> [FlowMetrics.Sample] {
    var samples: [FlowMetrics.Sample] = [
        .init(name: "flowwatch_attached_devices", help: "Devices the observer program is attached to", value: Double(devices)),
        .init(name: "flowwatch_ring_events", help: "Events in the flow ring", value: Double(ring.count)),
        .init(name: "flowwatch_ring_capacity", help: "Events the flow ring holds", value: Double(ring.capacity)),
        .init(name: "flowwatch_ring_written_total", help: "Events written to the flow ring", type: "counter", value: Double(ring.writtenTotal)),
    ]
    samples.append(.init(name: "flowwatch_decode_errors_total", help: "Records in the ring that did not decode",
                         type: "counter", value: Double(decodeErrors)))
    let counters = datapath.program.counters()
    samples.append(.init(name: "flowwatch_packets_total", help: "Packets the observer program saw", type: "counter", value: Double(counters.packets)))
    samples.append(.init(name: "flowwatch_perf_events_total", help: "Events written to the perf buffer", type: "counter", value: Double(counters.events)))
    samples.append(.init(name: "flowwatch_perf_output_errors_total", help: "Events the kernel could not write: the CPU's perf buffer was full",
                         type: "counter", value: Double(counters.outputErrors)))
    for (cpu, lost) in datapath.lostPerCPU.enumerated() {
        samples.append(.init(name: "flowwatch_perf_lost_total", help: "Events the perf buffer lost (PERF_RECORD_LOST), per CPU",
                             type: "counter", labels: [("cpu", "\(cpu)")], value: Double(lost)))
    }
    // The high-water mark, not the fill at scrape time: the reader drains every ring each wake-up,
    // so a scrape almost always finds them empty, while a burst that nearly filled one between
    // scrapes is what comes before PERF_RECORD_LOST. Each scrape starts a new interval.
    let rings = datapath.perfRingUsage()
    if let size = rings.first?.sizeBytes {
        samples.append(.init(name: "flowwatch_perf_buffer_size_bytes", help: "Bytes in each CPU's perf buffer", value: Double(size)))
    }
    for ring in rings {
        samples.append(.init(name: "flowwatch_perf_buffer_peak_ratio",
                             help: "Highest fill of the CPU's perf buffer (0 to 1) the reader found since the previous scrape",
                             labels: [("cpu", "\(ring.cpu)")], value: ring.peakRatio))
    }
    let stats = datapath.runStatistics()
    samples.append(.init(name: "flowwatch_bpf_runs_total", help: "Runs of the observer program while the kernel timed them (BPF_ENABLE_STATS, --program-timing)", type: "counter", value: Double(stats.runs)))
    samples.append(.init(name: "flowwatch_bpf_run_time_seconds_total", help: "Kernel time spent in the observer program",
                         type: "counter", value: Double(stats.runTimeNanoseconds) / 1e9))
    if let perPacket = stats.nanosecondsPerPacket {
        samples.append(.init(name: "flowwatch_bpf_run_time_per_packet_seconds", help: "Mean kernel time per packet over the timed runs", value: perPacket / 1e9))
    }
    return samples
}
