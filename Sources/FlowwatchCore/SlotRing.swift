#if canImport(Glibc)
import Glibc
#endif

/// A ring of `count` slots that one thread fills and another empties, in order, through two
/// semaphores: the filler claims the next slot (waiting while every slot is out), fills what
/// belongs to it and publishes it with an item; the emptier takes the published slots in order
/// and frees each when done with it. What a slot stands for (a buffer) belongs to the filler
/// from `claim` to `publish`, and to the emptier from `take` to `free`. At most `count` slots
/// are out at once, so a filler that runs ahead waits, and memory stays at `count` slots.
///
/// The recording's read-ahead fills slots with chunks of the file (`ReadAhead`); a capture
/// file's writer empties slots of records into the file (`WriteBehind` in FlowwatchPcap).
public final class SlotRing<Item>: @unchecked Sendable {
    public let count: Int
    private let items: UnsafeMutablePointer<Item?>
    /// Posted by `publish` for each slot handed over, by `free` for each slot given back.
    private let published: UnsafeMutablePointer<sem_t>
    private let freed: UnsafeMutablePointer<sem_t>
    /// The filler's next slot, and the emptier's.
    private var claimed = 0
    private var taken = 0

    public init(count: Int) {
        precondition(count >= 1, "a slot ring needs a slot")
        self.count = count
        items = .allocate(capacity: count)
        items.initialize(repeating: nil, count: count)
        published = .allocate(capacity: 1)
        freed = .allocate(capacity: 1)
        sem_init(published, 0, 0)
        sem_init(freed, 0, UInt32(count))
    }

    deinit {
        sem_destroy(published)
        sem_destroy(freed)
        published.deallocate()
        freed.deallocate()
        items.deinitialize(count: count)
        items.deallocate()
    }

    /// Filler: the next slot, once the emptier has freed it.
    public func claim() -> Int {
        Self.wait(freed)
        let slot = claimed
        claimed = (claimed + 1) % count
        return slot
    }

    /// Filler: hands `slot`, the one claimed last, over with `item`.
    public func publish(_ item: Item, in slot: Int) {
        items[slot] = item
        sem_post(published)
    }

    /// Emptier: the next published slot and its item, waiting for it.
    public func take() -> (slot: Int, item: Item) {
        Self.wait(published)
        let slot = taken
        taken = (taken + 1) % count
        let item = items[slot].take()!
        return (slot, item)
    }

    /// Emptier: the oldest slot taken and not yet freed is the filler's again. Also wakes a
    /// filler waiting in `claim` that has something else to look at (a cancellation).
    public func free() {
        sem_post(freed)
    }

    /// Filler: waits until the emptier has freed every slot but the `holding` ones the filler
    /// has claimed and not published, so that everything published before has been taken and
    /// freed; the slots stay free.
    public func drain(holding: Int) {
        for _ in 0..<(count - holding) { Self.wait(freed) }
        for _ in 0..<(count - holding) { sem_post(freed) }
    }

    private static func wait(_ semaphore: UnsafeMutablePointer<sem_t>) {
        while sem_wait(semaphore) != 0 && errno == EINTR {}
    }
}
