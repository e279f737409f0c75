import Foundation
import FlowwatchAPI
@testable import FlowwatchCore
import FlowwatchServer
import Testing

/// How many flows a second one GetFlows stream serves from a full ring over the unix socket
/// (ring read, decode, flow, proto, HTTP/2, and the client's decoding on the same machine).
/// A measurement, not a check: run with FW_BENCH=1.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["FW_BENCH"] == "1", "a measurement: FW_BENCH=1 runs it"))
struct ThroughputTests {
    @Test("flows per second served from a full ring of 65,535")
    func flowsPerSecond() async throws {
        let (samples, builder) = try RingBackendTests.recording("tcp")
        let flows = samples.filter { !$0.isDebugMessage }
        let s = try await RingBackendTests.RingServer(capacity: 65535, builder: builder)
        defer { s.close() }
        var n = 0
        while n < 65535 {
            for sample in flows where n < 65535 {
                s.ring.write(sample)
                n += 1
            }
        }
        for clients in [1, 2, 4] {
            let clock = ContinuousClock()
            var counts: [Int] = []
            let elapsed = try await clock.measure {
                counts = try await withThrowingTaskGroup(of: Int.self) { group in
                    for _ in 0..<clients {
                        group.addTask {
                            try await withObserverClient(s.target) { client in
                                try await client.getFlows(Observer_GetFlowsRequest(EventSelection(number: .all), filter: FlowFilterSet())) { r in
                                    var count = 0
                                    for try await _ in r.messages { count += 1 }
                                    return count
                                }
                            }
                        }
                    }
                    return try await group.reduce(into: []) { $0.append($1) }
                }
            }
            let total = counts.reduce(0, +)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            print("THROUGHPUT clients=\(clients) flows=\(total) seconds=\(seconds) flows/s=\(Int(Double(total) / seconds))")
        }
    }
}
