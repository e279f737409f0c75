import FlowwatchCore
import FlowwatchServer
import Synchronization
import Foundation

/// A backend over a list of events that tests append to: enough of the ring's selection rules
/// (last/first N, since/until, follow, filters) to exercise the service, its streams and its
/// wire format without the datapath. The real selection is the ring query's and is tested with
/// it.
final class ArrayBackend: ObserverBackend {
    let events = Mutex<[FlowEvent]>([])
    let nodeName: String
    /// Called by every query thread before each event it hands on (to make a reader slow).
    let pause = Mutex<Duration>(.zero)

    init(nodeName: String = "test-node", events: [FlowEvent] = []) {
        self.nodeName = nodeName
        self.events.withLock { $0 = events }
    }

    func append(_ event: FlowEvent) { events.withLock { $0.append(event) } }

    /// Query threads running now, and queries started in all.
    private let running = Mutex<(active: Int, started: Int)>((0, 0))
    var activeQueries: Int { running.withLock { $0.active } }
    var queries: Int { running.withLock { $0.started } }

    func query(_ kind: EventKind, _ selection: EventSelection, filter: FlowFilterSet,
               emit: (FlowEvent) -> Bool, stopped: () -> Bool) {
        running.withLock { $0.active += 1; $0.started += 1 }
        defer { running.withLock { $0.active -= 1 } }
        func wanted(_ e: FlowEvent) -> Bool {
            switch (kind, e) {
            case (.debugEvents, .debug): true
            case (.debugEvents, _), (.flows, .debug): false
            case (.flows, _): filter.matches(e)
            }
        }
        func inRange(_ e: FlowEvent) -> Bool {
            let t = e.time.seconds * 1_000_000_000 + Int64(e.time.nanos)
            if let since = selection.since, t < since { return false }
            if let until = selection.until, t > until { return false }
            return true
        }
        var position = 0
        let snapshot = events.withLock { $0 }
        var chosen = snapshot.filter { wanted($0) && inRange($0) }
        switch selection.number {
        case .first(let n): chosen = Array(chosen.prefix(Int(n)))
        case .last(let n): chosen = Array(chosen.suffix(Int(n)))
        case .all: if selection.follow && selection.since == nil { chosen = [] }
        }
        for e in chosen {
            if stopped() { return }
            let p = pause.withLock { $0 }
            if p > .zero { Thread.sleep(forTimeInterval: Double(p.components.attoseconds) / 1e18) }
            guard emit(e) else { return }
        }
        guard selection.follow else { return }
        position = snapshot.count
        while !stopped() {
            let next = events.withLock { position < $0.count ? $0[position] : nil }
            guard let e = next else {
                Thread.sleep(forTimeInterval: 0.01)
                continue
            }
            position += 1
            if wanted(e) && inRange(e) { guard emit(e) else { return } }
        }
    }

    func status() -> ObserverStatus {
        let n = UInt64(events.withLock { $0.count })
        return ObserverStatus(nodeName: nodeName, version: "flowwatch test", numFlows: n, maxFlows: 4095, seenFlows: n,
                              uptimeNanoseconds: 1_000_000_000, flowsRate: 1.5)
    }
}
