import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A bounded queue from one producer thread to one async consumer: how a GetFlows stream takes
/// events from the thread that walks the ring.
///
/// The producer blocks when the queue is full, and that is the point: a client that reads
/// slowly (gRPC flow control holds its writes) stops its own ring reader, which then falls
/// behind the ring's writer and is lapped, and the client gets a lost event for what it missed
/// instead of slowing the capture or other clients, which never wait on it. The consumer
/// suspends (no thread is blocked) while the queue is empty.
///
/// `cancel()` ends both sides: the producer's `push` returns false, the consumer's `next`
/// returns nil.
final class EventHandoff<Element: Sendable>: Sendable {
    private struct State {
        var buffer: [Element] = []
        var head = 0
        var waiter: CheckedContinuation<Element?, Never>?
        var finished = false
        var cancelled = false

        var isEmpty: Bool { head == buffer.count }

        mutating func pop() -> Element? {
            guard head < buffer.count else { return nil }
            let e = buffer[head]
            head += 1
            if head == buffer.count {
                buffer.removeAll(keepingCapacity: true)
                head = 0
            }
            return e
        }
    }

    private let state = Mutex(State())
    /// Free places in the queue; the producer takes one per element, the consumer gives it back.
    private let free: DispatchSemaphore

    init(capacity: Int) {
        free = DispatchSemaphore(value: max(1, capacity))
    }

    var isCancelled: Bool { state.withLock { $0.cancelled } }

    /// Producer: waits for room, then hands `element` over; false once the consumer is gone.
    func push(_ element: Element) -> Bool {
        while free.wait(timeout: .now() + .milliseconds(100)) == .timedOut {
            if isCancelled { return false }
        }
        let waiter = state.withLock { s -> CheckedContinuation<Element?, Never>?? in
            if s.cancelled { return .none }
            if let w = s.waiter {
                s.waiter = nil
                return .some(w)
            }
            s.buffer.append(element)
            return .some(nil)
        }
        switch waiter {
        case .none:
            return false
        case .some(let w?):
            w.resume(returning: element)
            return true
        case .some(nil):
            return true
        }
    }

    /// Producer: no more elements; the consumer gets what is queued, then nil.
    func finish() {
        let waiter = state.withLock { s -> CheckedContinuation<Element?, Never>? in
            s.finished = true
            defer { s.waiter = nil }
            return s.isEmpty ? s.waiter : nil
        }
        waiter?.resume(returning: nil)
    }

    /// Either side: stop. Wakes a waiting consumer with nil.
    func cancel() {
        let waiter = state.withLock { s -> CheckedContinuation<Element?, Never>? in
            s.cancelled = true
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// Consumer: every element queued (at least one, waiting for it), or nil when the producer
    /// finished and everything was taken, or on cancellation. Taking them all at once lets the
    /// stream write them in one go.
    func next() async -> [Element]? {
        let batch: [Element]? = await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Element?, Never>) in
                let result = state.withLock { s -> Element?? in
                    if s.cancelled { return .some(nil) }
                    if let e = s.pop() { return .some(e) }
                    if s.finished { return .some(nil) }
                    s.waiter = c
                    return .none
                }
                if let result { c.resume(returning: result) }
            }
        } onCancel: {
            cancel()
        }.map { first in
            var batch = [first]
            state.withLock { s in
                while let e = s.pop() { batch.append(e) }
            }
            return batch
        }
        if let batch { free.signal(count: batch.count) }
        return batch
    }
}

extension DispatchSemaphore {
    func signal(count: Int) {
        for _ in 0..<count { signal() }
    }
}

/// Runs `body` on a new detached thread (ring walks block; they must not hold one of the few
/// threads Swift concurrency has). False if no thread could be made.
func startThread(_ body: @escaping @Sendable () -> Void) -> Bool {
    final class Box: @unchecked Sendable {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    defer { pthread_attr_destroy(&attributes) }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    let rc = pthread_create(&thread, &attributes, { context in
        let box = Unmanaged<Box>.fromOpaque(context!).takeRetainedValue()
        box.body()
        return nil
    }, box)
    if rc != 0 {
        Unmanaged<Box>.fromOpaque(box).release()
        return false
    }
    return true
}
