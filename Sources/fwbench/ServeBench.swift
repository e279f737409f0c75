import FlowwatchAPI
import FlowwatchCore
import FlowwatchServer
import Foundation

/// `fwbench serve RECORDING [runs]`: flows a second delivered to one GetFlows client over the
/// unix socket (ring read, flow building, proto, HTTP/2, and the client's decoding, all on this
/// machine), beside the same ring query run in-process with no gRPC (the baseline: what the
/// server does before it serializes). The recording's events (up to 65,535, in time order) fill
/// a ring once; each run reads all of it. Prints `name median min max` in flows/s, and `flows N`.
final class RecordingNames: @unchecked Sendable {
    let reader: RecordingReader
    init(_ reader: RecordingReader) { self.reader = reader }
}

func benchServe(path: String, runs: Int) async throws {
    let reader = try RecordingReader(path: path)
    let names = RecordingNames(reader)
    let config = try reader.header.config() ?? NodeConfig(nodeName: reader.header.nodeName)
    let builder = FlowBuilder(config: config, wallClockOffset: reader.header.wallClockOffset,
                              interfaceName: { names.reader.interfaceName($0) })
    let ring = try EventRing(capacity: 65_535, slotBytes: EventRing.slotBytes(forCaptureLength: 128))
    var reorder = ReorderBuffer()
    var written = 0
    func store(_ s: RawSample) {
        guard written < ring.capacity else { return }
        ring.write(s)
        written += 1
    }
    while let s = try reader.next() { reorder.push(s, release: store) }
    reorder.flush(release: store)
    let backend = RingBackend(ring: ring, builder: builder, version: "fwbench")

    var flows = 0
    var inProcess: [Double] = []
    for _ in 0..<runs {
        let start = now()
        var n = 0
        backend.query(.flows, EventSelection(number: .all), filter: FlowFilterSet(), emit: { event in
            // The conversion the server makes of each event, so the two differ by transport only.
            if Observer_GetFlowsResponse(event) != nil { n += 1 }
            return true
        }, stopped: { false })
        inProcess.append(Double(n) / (Double(now() - start) / 1e9))
        flows = n
    }

    let directory = FileManager.default.temporaryDirectory.appendingPathComponent("fwbench-\(getpid())")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let socket = directory.appendingPathComponent("fw.sock").path
    let server = ObserverServer(configuration: ServerConfiguration(unixSocket: socket),
                                service: ObserverService(backend: backend))
    try await server.start()
    defer { server.beginStop() }
    var served: [Double] = []
    for _ in 0..<runs {
        let start = now()
        let n = try await withObserverClient(.unix(path: socket)) { client in
            try await client.getFlows(Observer_GetFlowsRequest()) { response in
                var count = 0
                for try await _ in response.messages { count += 1 }
                return count
            }
        }
        guard n == flows else {
            complain("fwbench: the server sent \(n) responses, the in-process query \(flows)\n")
            exit(1)
        }
        served.append(Double(n) / (Double(now() - start) / 1e9))
    }
    func line(_ name: String, _ rates: [Double]) {
        let sorted = rates.sorted()
        print("\(name) \(Int(sorted[sorted.count / 2])) \(Int(sorted[0])) \(Int(sorted[sorted.count - 1]))")
    }
    print("flows \(flows)")
    line("served", served)
    line("in_process", inProcess)
}
