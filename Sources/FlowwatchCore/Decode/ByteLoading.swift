/// Bounds-checked reads over borrowed bytes.
///
/// Perf samples are only 4-byte aligned and packets start wherever the message header ends, so
/// every multi-byte read is `loadUnaligned`. Each read checks its bounds and returns nil instead
/// of trapping: decoders turn the nil into a typed error or a "truncated" marker.
extension UnsafeRawBufferPointer {
    @inline(__always)
    func u8(at offset: Int) -> UInt8? {
        guard offset >= 0, offset < count else { return nil }
        return self[offset]
    }

    /// A little-endian integer: notify messages are in host order, which is little-endian on
    /// every platform flowwatch runs on; reading it as such keeps recorded samples portable.
    @inline(__always)
    func le<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        guard offset >= 0, offset <= count - MemoryLayout<T>.size else { return nil }
        return T(littleEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// A big-endian (network order) integer, as packet headers carry them.
    @inline(__always)
    func be<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T? {
        guard offset >= 0, offset <= count - MemoryLayout<T>.size else { return nil }
        return T(bigEndian: loadUnaligned(fromByteOffset: offset, as: T.self))
    }

    /// Whether `length` bytes starting at `offset` are all inside the buffer.
    @inline(__always)
    func contains(_ offset: Int, length: Int) -> Bool {
        offset >= 0 && length >= 0 && offset <= count && length <= count - offset
    }
}
