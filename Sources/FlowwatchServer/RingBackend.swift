import FlowwatchCore
import Synchronization

/// The Observer service's events: the node's flow ring, read by one `RingQuery` per request
/// (Hubble's selectors and filters, HUBBLE_RING_BUFFER lost events for a reader the writer
/// lapped), and its numbers for ServerStatus.
public final class RingBackend: ObserverBackend {
    public let ring: EventRing
    private let builder: FlowBuilder
    private let version: String
    private let started: UInt64
    private let rate = Mutex(RateWindow())
    private let programTiming: @Sendable () -> (runs: UInt64, nanoseconds: UInt64)

    /// - Parameters:
    ///   - builder: the node's flow builder (config, clock offset, interface names).
    ///   - started: CLOCK_BOOTTIME nanoseconds when the observer started (uptime).
    ///   - programTiming: the observer program's timed runs and their kernel time so far.
    public init(ring: EventRing, builder: FlowBuilder, version: String, started: UInt64 = KernelClock.boottimeNow(),
                programTiming: @escaping @Sendable () -> (runs: UInt64, nanoseconds: UInt64) = { (0, 0) }) {
        self.ring = ring
        self.builder = builder
        self.version = version
        self.started = started
        self.programTiming = programTiming
    }

    public func query(_ kind: EventKind, _ selection: EventSelection, filter: FlowFilterSet,
                      emit: (FlowEvent) -> Bool, stopped: () -> Bool) {
        let matcher: EventMatcher
        switch kind {
        case .flows:
            // Hubble's flow stream has no debug events: they are passed over, not counted.
            matcher = EventMatcher(builder: builder, filter: filter, includeDebug: false)
        case .debugEvents:
            // Only debug events match (the event type filter is the one field that selects
            // them), so --last N counts debug events.
            var debugOnly = FlowFilter()
            debugOnly.eventType = [EventTypeFilter(type: Int32(MonitorMessageType.debug.rawValue))]
            matcher = EventMatcher(builder: builder, filter: FlowFilterSet(whitelist: [debugOnly]), includeDebug: true)
        }
        var query = RingQuery(ring: ring, selection: selection, matcher: matcher)
        while !stopped() {
            switch query.next(timeout: .milliseconds(100)) {
            case .event(let match):
                let event = match.flow ?? builder.build(match.event)
                if kind == .debugEvents, case .lost = event { continue }
                guard emit(event) else { return }
            case .lost(let lost):
                guard emit(.lost(lost)) else { return }
            case .idle:
                continue
            case .end:
                return
            }
        }
    }

    public func status() -> ObserverStatus {
        let now = KernelClock.boottimeNow()
        let written = ring.writtenTotal
        let perSecond = rate.withLock { $0.rate(now: now, written: written) }
        let timing = programTiming()
        return ObserverStatus(nodeName: builder.nodeName, version: version, numFlows: UInt64(ring.count),
                              maxFlows: UInt64(ring.capacity), seenFlows: written,
                              uptimeNanoseconds: now &- started, flowsRate: perSecond,
                              programTimedRuns: timing.runs, programRunTimeNanoseconds: timing.nanoseconds)
    }

    /// Call about once a second (the metrics reader does): keeps the last minute's samples of
    /// the write count for `flows_rate`.
    public func sampleRate() {
        let now = KernelClock.boottimeNow()
        let written = ring.writtenTotal
        rate.withLock { $0.add(now: now, written: written) }
    }
}

/// Samples of (time, events written) over the last minute: the rate is the difference between
/// now and the oldest sample, Hubble's "flows per second over the last minute".
struct RateWindow {
    private var samples: [(time: UInt64, written: UInt64)] = []
    static let span: UInt64 = 60_000_000_000

    mutating func add(now: UInt64, written: UInt64) {
        samples.append((now, written))
        samples.removeAll { now &- $0.time > Self.span }
    }

    func rate(now: UInt64, written: UInt64) -> Double {
        guard let oldest = samples.first(where: { now &- $0.time <= Self.span }), now > oldest.time else { return 0 }
        return Double(written &- oldest.written) / (Double(now - oldest.time) / 1e9)
    }
}

/// Feeds `FlowMetrics` from the ring: one more follower of the ring, on its own thread, so that
/// counting never runs on the capture thread. If it falls behind it is lapped like any reader,
/// and what it missed is counted as `hubble_lost_events_total{source="hubble_ring_buffer"}`.
/// It also samples the ring's write count for ServerStatus' `flows_rate`.
public final class MetricsReader: Sendable {
    private let stopFlag = Atomic<Bool>(false)
    private let worker = Mutex<Worker?>(nil)
    private let decodeErrorCount = Atomic<UInt64>(0)

    /// Records in the ring that did not decode (each is counted once, by this reader).
    public var decodeErrors: UInt64 { decodeErrorCount.load(ordering: .relaxed) }

    public init(backend: RingBackend, metrics: FlowMetrics, builder: FlowBuilder) {
        let matcher = EventMatcher(builder: builder, includeDebug: false)
        let ring = backend.ring
        worker.withLock {
            $0 = Worker(name: "flowwatch-metrics") { [self] in
                var query = RingQuery(ring: ring, selection: EventSelection(number: .all, follow: true), matcher: matcher)
                var lastSample: UInt64 = 0
                while !stopFlag.load(ordering: .relaxed) {
                    let now = KernelClock.boottimeNow()
                    if now &- lastSample >= 1_000_000_000 {
                        backend.sampleRate()
                        lastSample = now
                    }
                    let step = query.next(timeout: .milliseconds(200))
                    decodeErrorCount.store(UInt64(query.decodeErrors.total), ordering: .relaxed)
                    switch step {
                    case .event(let match): metrics.record(match.flow ?? builder.build(match.event))
                    case .lost(let lost): metrics.lost(.hubbleRingBuffer, lost.numEventsLost)
                    case .idle, .end: continue
                    }
                }
            }
        }
    }

    public func stop() {
        stopFlag.store(true, ordering: .relaxed)
        worker.withLock { $0 }?.join()
    }
}
