import Foundation
import Testing
@testable import FlowwatchCore

/// Filters on a real recording: samples/tcp.fwrec (a client connecting to a server's port 8080,
/// with IPv6 multicast and ARP-ish Ethernet traffic around it), decoded and built into events
/// as replay does, then filtered.
@Suite struct FilterReplayTests {
    /// The recording's events, in recorded order (reordering is not what is tested here).
    static func events(_ name: String) throws -> [FlowEvent] {
        let reader = try RecordingReader(path: SampleTests.samples.appendingPathComponent("\(name).fwrec").path)
        let config = try reader.header.config() ?? NodeConfig(nodeName: reader.header.nodeName)
        let builder = FlowBuilder(config: config, wallClockOffset: reader.header.wallClockOffset)
        var stream = MonitorEventStream()
        var events: [FlowEvent] = []
        while let sample = try reader.next() {
            if let event = stream.decode(sample) { events.append(builder.build(event)) }
        }
        #expect(stream.errors.total == 0)
        return events
    }

    static func destinationPort(_ event: FlowEvent) -> UInt16? {
        guard case .flow(let flow) = event else { return nil }
        return flow.l4?.ports?.destination
    }

    @Test("--to-port 8080 keeps exactly the flows to port 8080, --not --to-port 8080 the others")
    func toPort() throws {
        let events = try Self.events("tcp")
        let filter = try FilterArguments.parse(["flowwatch", "replay", "samples/tcp.fwrec", "--to-port", "8080"])
        let kept = events.filter(filter.matches)
        #expect(kept.count == events.filter { Self.destinationPort($0) == 8080 }.count)
        #expect(kept.count >= 4 && kept.count < events.count)
        for event in kept {
            guard case .flow(let flow) = event, case .tcp(_, 8080, _)? = flow.l4 else {
                Issue.record("kept \(event)")
                continue
            }
            #expect(flow.destination.podName == "cni-server")
        }

        let negated = try FilterArguments.parse(["--not", "--to-port", "8080"])
        let rest = events.filter(negated.matches)
        #expect(rest.count + kept.count == events.count)
        #expect(!rest.contains { Self.destinationPort($0) == 8080 })
    }

    @Test("a pod, its protocol and a blacklisted observation point, on the recording")
    func podAndType() throws {
        let events = try Self.events("tcp")
        let filter = try FilterArguments.parse(["--pod", "cni-client", "--protocol", "tcp",
                                                "--not", "--type", "trace:from-endpoint"])
        let kept = events.filter(filter.matches)
        #expect(!kept.isEmpty)
        for event in kept {
            guard case .flow(let flow) = event else {
                Issue.record("kept \(event)")
                continue
            }
            #expect(flow.source.podName == "cni-client" || flow.destination.podName == "cni-client")
            #expect(flow.traceObservationPoint != Flow.ObservationPoint(TraceObservationPoint.fromEndpoint))
            if case .tcp? = flow.l4 {} else { Issue.record("not TCP: \(flow)") }
        }
        let all = events.filter { event in
            guard case .flow(let f) = event, case .tcp? = f.l4 else { return false }
            return (f.source.podName == "cni-client" || f.destination.podName == "cni-client")
                && f.eventType != Flow.CiliumEventType(type: 4, subType: 5)
        }
        #expect(kept == all)
    }

    @Test("lost events of a recording pass any filter")
    func lost() throws {
        let events = try Self.events("lost-events")
        let lost = events.filter { if case .lost = $0 { true } else { false } }
        #expect(!lost.isEmpty)
        let filter = try FilterArguments.parse(["--ip", "192.0.2.1", "--not", "--protocol", "tcp"])
        #expect(events.filter(filter.matches) == lost)
    }
}
