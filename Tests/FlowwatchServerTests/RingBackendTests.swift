import Synchronization
import Foundation
import FlowwatchAPI
@testable import FlowwatchCore
import FlowwatchServer
import GRPCCore
import Testing

/// The service over the real flow ring (`RingBackend`: one `RingQuery` per request), fed with a
/// sample recording's records the way live capture feeds it.
@Suite(.serialized) struct RingBackendTests {
    /// A recording's records in the order the pipeline stores them, and its flow builder.
    static func recording(_ name: String) throws -> (samples: [RawSample], builder: FlowBuilder) {
        let reader = try RecordingReader(path: Samples.directory.appendingPathComponent("\(name).fwrec").path)
        let header = reader.header
        let config = try header.config() ?? NodeConfig(nodeName: header.nodeName)
        let names = Samples.Names(reader)
        let builder = FlowBuilder(config: config, wallClockOffset: header.wallClockOffset,
                                  interfaceName: { names.reader.interfaceName($0) })
        var reorder = ReorderBuffer()
        var samples: [RawSample] = []
        while let s = try reader.next() { reorder.push(s) { samples.append($0) } }
        reorder.flush { samples.append($0) }
        return (samples, builder)
    }

    final class RingServer: @unchecked Sendable {
        let directory: URL
        let ring: EventRing
        let backend: RingBackend
        let server: ObserverServer
        var target: ServerTarget { .unix(path: directory.appendingPathComponent("fw.sock").path) }

        init(capacity: Int, builder: FlowBuilder, streamBuffer: Int = 256) async throws {
            directory = FileManager.default.temporaryDirectory.appendingPathComponent("fw-ring-\(UUID().uuidString.prefix(8))")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            ring = try EventRing(capacity: capacity, slotBytes: EventRing.slotBytes(forCaptureLength: 128))
            backend = RingBackend(ring: ring, builder: builder, version: "test")
            var options = ObserverService.Options()
            options.streamBuffer = streamBuffer
            server = ObserverServer(configuration: ServerConfiguration(unixSocket: directory.appendingPathComponent("fw.sock").path),
                                    service: ObserverService(backend: backend, options: options))
            try await server.start()
        }

        func close() {
            server.beginStop()
            try? FileManager.default.removeItem(at: directory)
        }
    }

    @Test("last N, first N, since/until and filters from the ring equal the same selection of the recording's events")
    func selections() async throws {
        let (samples, builder) = try Self.recording("tcp")
        let s = try await RingServer(capacity: 4095, builder: builder)
        defer { s.close() }
        for sample in samples { s.ring.write(sample) }
        let events = try Samples.events("tcp").filter { if case .debug = $0 { false } else { true } }

        let last = try await getFlows(s.target, Observer_GetFlowsRequest(EventSelection(number: .last(4)), filter: FlowFilterSet()))
        #expect(try last.map { try FlowEvent($0)! } == Array(events.suffix(4)))
        let first = try await getFlows(s.target, Observer_GetFlowsRequest(EventSelection(number: .first(3)), filter: FlowFilterSet()))
        #expect(try first.map { try FlowEvent($0)! } == Array(events.prefix(3)))

        func nanos(_ t: FlowTime) -> Int64 { t.seconds * 1_000_000_000 + Int64(t.nanos) }
        let since = nanos(events[3].time), until = nanos(events[events.count - 2].time)
        let filter = try FilterArguments.parse(["--protocol", "tcp", "--not", "--tcp-flags", "FIN"])
        let ranged = try await getFlows(s.target, Observer_GetFlowsRequest(EventSelection(number: .all, since: since, until: until), filter: filter))
        let expected = events.filter { e in
            let t = nanos(e.time)
            return t >= since && t <= until && filter.matches(e)
        }
        let rangedEvents = try ranged.map { try FlowEvent($0)! }
        #expect(!expected.isEmpty && rangedEvents == expected)

        let debug = try await withObserverClient(s.target) { client in
            try await client.getDebugEvents(Observer_GetDebugEventsRequest(EventSelection(number: .last(2)))) { r in
                var out: [Observer_GetDebugEventsResponse] = []
                for try await m in r.messages { out.append(m) }
                return out
            }
        }
        let debugEvents = try Samples.events("tcp").compactMap { if case .debug(let d) = $0 { d } else { nil } }
        #expect(debug.map { DebugEvent($0.debugEvent, nodeName: $0.nodeName, time: FlowTime($0.time)) } == Array(debugEvents.suffix(2)))

        let status = try await withObserverClient(s.target) { try await $0.serverStatus(Observer_ServerStatusRequest()) }
        #expect(status.numFlows == UInt64(samples.count) && status.maxFlows == 4095 && status.seenFlows == UInt64(samples.count))
    }

    @Test("a slow follower gets HUBBLE_RING_BUFFER lost events with exact counts; a fast one loses nothing; the writer never waits")
    func slowClient() async throws {
        let (samples, builder) = try Self.recording("ping")
        let flows = samples.filter { !$0.isDebugMessage }
        let s = try await RingServer(capacity: 1023, builder: builder, streamBuffer: 8)
        defer { s.close() }
        // Enough that the stalled client's gRPC buffers (HTTP/2 windows, its queue) cannot hold it.
        // A steady ~2,500 events/s that a client reading as fast as it can keeps up with (also in a
        // debug build on a busy machine), for long enough that the stalled one is lapped.
        let rounds = 6_000 / flows.count
        // One first event, written alone, that both clients must have before the rest is written:
        // a stream that started late on a busy machine would otherwise find the first rounds gone
        // from the ring, uncounted. `since` the epoch, so that a stream that starts after the
        // first event still reads it from the ring (following `--all` alone starts at the newest).
        let total = flows.count * rounds + 1
        let follow = Observer_GetFlowsRequest(EventSelection(number: .all, since: 0, follow: true), filter: FlowFilterSet())
        let writesDone = DoneFlag()
        let fastStarted = DoneFlag()
        let slowStarted = DoneFlag()

        // Each client gives up after a minute, whether or not messages come, so that a count that
        // never adds up fails the test instead of hanging it.
        async let fast: [Observer_GetFlowsResponse] = withTimeout(.seconds(60)) {
            try await withObserverClient(s.target) { client in
                try await client.getFlows(follow) { response in
                    var out: [Observer_GetFlowsResponse] = []
                    var count: UInt64 = 0
                    for try await r in response.messages {
                        out.append(r)
                        fastStarted.value.store(true, ordering: .releasing)
                        if case .lostEvents(let l)? = r.responseTypes { count += l.numEventsLost } else { count += 1 }
                        if count >= UInt64(total) { break }
                    }
                    return out
                }
            }
        }
        async let slow: (received: Int, lost: UInt64) = withTimeout(.seconds(60)) {
            try await withObserverClient(s.target, windowSize: 65_535) { client in
                try await client.getFlows(follow) { response in
                    var received = 0
                    var lost: UInt64 = 0
                    for try await r in response.messages {
                        if case .lostEvents(let l)? = r.responseTypes {
                            #expect(l.source == .hubbleRingBuffer)
                            lost += l.numEventsLost
                        } else {
                            received += 1
                            if received == 1 { slowStarted.value.store(true, ordering: .releasing) }
                            // Stalled until everything is written, however slowly a busy
                            // machine writes: then the ring has lapped it for sure.
                            while received == 1 && !writesDone.value.load(ordering: .acquiring) {
                                try await Task.sleep(for: .milliseconds(10))
                            }
                        }
                        if UInt64(received) + lost >= UInt64(total) { break }
                    }
                    return (received, lost)
                }
            }
        }
        s.ring.write(flows[0])
        let started = ContinuousClock.now
        while !(fastStarted.value.load(ordering: .acquiring) && slowStarted.value.load(ordering: .acquiring)) {
            guard ContinuousClock.now - started < .seconds(30) else {
                Issue.record("the clients did not get the first event within 30 s")
                break
            }
            try await Task.sleep(for: .milliseconds(10))
        }
        var writeTime: Duration = .zero
        let clock = ContinuousClock()
        for _ in 0..<rounds {
            writeTime += clock.measure { for sample in flows { s.ring.write(sample) } }
            try await Task.sleep(for: .milliseconds(5))
        }
        writesDone.value.store(true, ordering: .releasing)
        let (fastResponses, slowResult) = try await (fast, slow)
        #expect(fastResponses.count == total, "fast: \(fastResponses.count) of \(total); slow: \(slowResult)")
        #expect(!fastResponses.contains { if case .lostEvents? = $0.responseTypes { true } else { false } })
        #expect(slowResult.lost > 0, "the slow reader was never lapped")
        #expect(UInt64(slowResult.received) + slowResult.lost == UInt64(total))
        // Writing never waited for the stalled client: well under a microsecond a record.
        #expect(writeTime < .milliseconds(total / 100 + 50), "\(writeTime) for \(total) writes")
    }
}

/// Set once the writer is done; read by a client task.
final class DoneFlag: Sendable {
    let value = Atomic<Bool>(false)
}

/// `body`, cancelled after `limit` (it then throws CancellationError, or whatever the
/// cancelled work throws).
func withTimeout<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            return nil
        }
        defer { group.cancelAll() }
        while let result = try await group.next() {
            if let result { return result }
            Issue.record("timed out after \(limit)")
            throw CancellationError()
        }
        throw CancellationError()
    }
}
