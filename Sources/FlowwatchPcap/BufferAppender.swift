#if canImport(Glibc)
import Glibc
#endif

/// Appends whole buffers of records to a file: each as one gzip member when the file is
/// compressed, written by one write(2) loop. If a write fails part-way (a full disk writes what
/// fits, then fails with ENOSPC), the file is cut back to where it ended before: it always ends
/// on a whole buffer, whole records that tcpdump, tshark and gunzip read to the end.
///
/// One thread at a time: the caller's (`CaptureFile`), then, once the file writes behind, the
/// writing thread's (`WriteBehind`).
final class BufferAppender {
    let descriptor: Int32
    /// The file's name, for errors.
    let path: String
    let gzip: GzipMembers?
    /// Where compressed members are built; sized for the bound of a full buffer when first needed.
    private var compressed: UnsafeMutableRawPointer?
    private var compressedCapacity = 0
    /// The file's length: the end of the last buffer appended whole.
    private(set) var length = 0

    init(descriptor: Int32, path: String, gzip: GzipMembers?) {
        self.descriptor = descriptor
        self.path = path
        self.gzip = gzip
    }

    deinit {
        compressed?.deallocate()
    }

    /// Appends `count` bytes at `buffer`, whole or not at all.
    func append(_ buffer: UnsafeRawPointer, count: Int) throws(CaptureError) {
        var output = buffer
        var outputCount = count
        if let gzip {
            let needed = gzip.bound(count)
            if compressedCapacity < needed {
                compressed?.deallocate()
                compressedCapacity = max(needed, gzip.bound(CaptureFile.bufferSize))
                compressed = .allocate(byteCount: compressedCapacity, alignment: 16)
            }
            switch gzip.member(of: buffer, count: count, into: compressed!, capacity: compressedCapacity) {
            case .success(let produced):
                output = UnsafeRawPointer(compressed!)
                outputCount = produced
            case .failure(let failure):
                throw .compression(path: path, message: failure.message)
            }
        }
        var offset = 0
        while offset < outputCount {
            let written = Glibc.write(descriptor, output + offset, outputCount - offset)
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                // write(2) returns 0 for a non-empty buffer only on devices that cannot take more.
                let error = written < 0 ? SystemError.current : SystemError(ENOSPC)
                if offset > 0 { _ = ftruncate(descriptor, off_t(length)) }
                throw .write(path: path, error)
            }
        }
        length += outputCount
    }
}
