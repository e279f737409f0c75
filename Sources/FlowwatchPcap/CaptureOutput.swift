#if canImport(Glibc)
import Glibc
#endif

/// The files one writer produces: the open file, rotation, the ring of kept files, and the
/// failure that stops writing. Formats plug in as a `CaptureEncoder`.
///
/// One owner calls one method at a time (see `CaptureWriter`), so the state written per packet
/// goes without run-time exclusivity checks.
final class CaptureOutput<Encoder: CaptureEncoder> {
    private let path: String
    private let overwrite: Bool
    private let rotation: CaptureRotation?
    private let intervalNanos: UInt64?
    @exclusivity(unchecked) private var encoder: Encoder
    @exclusivity(unchecked) private var file: CaptureFile? {
        didSet { borrowedFile = file.map { Unmanaged.passUnretained($0) } }
    }
    /// `file`, unretained: what `write` borrows per packet.
    @exclusivity(unchecked) private var borrowedFile: Unmanaged<CaptureFile>?
    private(set) var failure: CaptureError?
    private(set) var currentPath: String

    /// The number in the current file's name (rotation only).
    private var fileNumber = 1
    /// The oldest numbered file still kept.
    private var oldestNumber = 1
    /// Packets in the current file, buffered or written.
    @exclusivity(unchecked) private var packetsInFile = 0
    /// The rotation interval (counted from the epoch) of the current file's first packet.
    private var intervalIndex: UInt64 = 0
    /// Packets in files already closed.
    private var packetsInClosedFiles = 0

    init(path: String, options: CaptureFileOptions, encoder: Encoder) throws(CaptureError) {
        try options.rotation?.validate()
        self.path = path
        self.overwrite = options.overwrite
        self.rotation = options.rotation
        self.intervalNanos = options.rotation?.intervalNanos
        self.encoder = encoder
        self.currentPath = options.rotation == nil ? path : CaptureRotation.fileName(for: path, number: 1)
        let file = try openFile(currentPath)
        self.file = file
        borrowedFile = Unmanaged.passUnretained(file)
    }

    var packetsWritten: Int { packetsInClosedFiles + (file?.packetsOnDisk ?? 0) }

    // Inlined down to the encoder: a classic pcap record is a few stores and a copy, and the
    // calls and reference counting around it measured more than the record itself.
    @inline(__always)
    func write(_ packet: borrowing Encoder.Packet) throws(CaptureError) {
        guard let file = borrowedFile else { throw failure ?? .closed(path: currentPath) }
        do {
            // `file` holds the open file while a packet is placed: borrowed from there, not
            // retained and released per packet (rotation, which replaces it, keeps it alive).
            try place(packet, in: file)
        } catch {
            fail(error)
            throw error
        }
    }

    /// Writes what is buffered: waiting until every write is done, or not (`waiting`).
    func flush(waiting: Bool = true) throws(CaptureError) {
        guard let file else {
            if let failure { throw failure }
            return
        }
        do {
            if waiting { try file.flush() } else { try file.handOver() }
        } catch {
            fail(error)
            throw error
        }
    }

    func close() throws(CaptureError) {
        if let file {
            self.file = nil
            do {
                try finish(file)
            } catch {
                failure = error
            }
        }
        if let failure { throw failure }
    }

    // The packet is borrowed all the way to the encoder, and the file is borrowed only around
    // each of its own calls: a closure holding the packet would copy it (its strings and bytes
    // retained and released per packet).
    @inline(__always)
    private func place(_ packet: borrowing Encoder.Packet, in file: Unmanaged<CaptureFile>) throws(CaptureError) {
        // A rotation places the packet as the first of the next file.
        if let intervalNanos, packetsInFile > 0, packet.timestampNanos / intervalNanos > intervalIndex {
            return try placeFirst(packet, in: rotate(file.takeUnretainedValue()))
        }
        let size = encoder.size(of: packet)
        if let limit = rotation?.maxFileBytes, packetsInFile > 0,
           try !file.borrowing({ (file) throws(CaptureError) in try file.fits(size, within: limit) }) {
            return try placeFirst(packet, in: rotate(file.takeUnretainedValue()))
        }
        try append(packet, size: size, to: file)
    }

    /// The first packet of a file just opened (`file` holds it).
    private func placeFirst(_ packet: borrowing Encoder.Packet, in file: CaptureFile) throws(CaptureError) {
        try append(packet, size: encoder.size(of: packet), to: .passUnretained(file))
    }

    @inline(__always)
    private func append(_ packet: borrowing Encoder.Packet, size: Int, to file: Unmanaged<CaptureFile>) throws(CaptureError) {
        let target = try file.borrowing { (file) throws(CaptureError) in try file.reserve(size) }
        encoder.encode(packet, to: target)
        file.borrowing { $0.commit(size, packets: 1) }
        if packetsInFile == 0, let intervalNanos { intervalIndex = packet.timestampNanos / intervalNanos }
        packetsInFile += 1
    }

    /// Closes the current file, removes the oldest if the ring is full, and opens the next.
    private func rotate(_ old: CaptureFile) throws(CaptureError) -> CaptureFile {
        // `old` may be borrowed from `file` (see `write`): this strong reference keeps it alive
        // until it is finished, now that `file` no longer holds it.
        let retiring = file
        defer { withExtendedLifetime(retiring) {} }
        file = nil
        try finish(old)
        fileNumber += 1
        if let maxFiles = rotation?.maxFiles {
            while fileNumber - oldestNumber >= maxFiles {
                let oldest = CaptureRotation.fileName(for: path, number: oldestNumber)
                // Already gone (someone moved it away) is what removing wanted.
                if unlink(oldest) != 0 && errno != ENOENT { throw .remove(path: oldest, .current) }
                oldestNumber += 1
            }
        }
        currentPath = CaptureRotation.fileName(for: path, number: fileNumber)
        let new = try openFile(currentPath)
        file = new
        packetsInFile = 0
        return new
    }

    /// Ends a file whole: the format's closing bytes, the buffer, close(2). On failure the
    /// descriptor is closed anyway.
    private func finish(_ file: CaptureFile) throws(CaptureError) {
        defer {
            file.discard()
            packetsInClosedFiles += file.packetsOnDisk
        }
        try file.append(encoder.finishFile())
        try file.close()
    }

    /// Creates a file and writes its header at once: a file that exists is a valid capture from
    /// the start, even if the process is killed before the first packet is flushed. Then the
    /// file writes behind (`CaptureFile.startWritingBehind`).
    private func openFile(_ name: String) throws(CaptureError) -> CaptureFile {
        let new = try CaptureFile(path: name, overwrite: overwrite)
        do {
            try new.append(encoder.startFile())
            try new.flush()
        } catch {
            new.discard()
            throw error
        }
        new.startWritingBehind(sizeLimited: rotation?.maxFileBytes != nil)
        return new
    }

    /// Stops writing: the open file keeps what was written whole, and the error is kept to be
    /// thrown again by every later call.
    private func fail(_ error: CaptureError) {
        if failure == nil { failure = error }
        if let file {
            file.discard()
            packetsInClosedFiles += file.packetsOnDisk
        }
        file = nil
    }
}

extension Unmanaged {
    /// Calls `body` with the instance borrowed: not retained and released around the call, as
    /// it would be when read from a class's property for each packet. A strong reference
    /// elsewhere must keep the instance alive throughout.
    @inlinable @inline(__always)
    public func borrowing<Value, Failure: Error>(_ body: (Instance) throws(Failure) -> Value) throws(Failure) -> Value {
        // `_withUnsafeGuaranteedRef` rethrows untyped errors: the outcome comes out as a value.
        let outcome = _withUnsafeGuaranteedRef { instance -> Result<Value, Failure> in
            do throws(Failure) {
                return .success(try body(instance))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }
}
