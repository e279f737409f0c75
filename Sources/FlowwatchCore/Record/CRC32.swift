import CFlowwatchCRC

/// CRC-32 as IEEE 802.3, zlib and PNG define it (reflected polynomial 0xEDB88320, initial value
/// and final XOR 0xFFFFFFFF), so `crc32` from any language can check a recording by hand.
///
/// Every record of a recording is checksummed on both the `--record` and the `replay` path, so
/// this is C (Sources/CFlowwatchCRC): carry-less multiply folding for 16 bytes and more where
/// the CPU has it, slice-by-8 tables otherwise. zlib's `crc32` (Debian's 1.2.13) has no folding
/// and measured slower than either on these sizes.
enum CRC32 {
    /// The CRC-32 of `bytes`; pass an earlier result as `crc` to continue over more bytes.
    @inline(__always)
    static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        fw_crc32(crc, bytes.baseAddress, bytes.count)
    }

    /// The CRC-32s of two byte ranges (a record's header and payload), in one call.
    @inline(__always)
    static func checksums(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> (UInt32, UInt32) {
        let both = fw_crc32_pair(a.baseAddress, a.count, b.baseAddress, b.count)
        return (UInt32(truncatingIfNeeded: both), UInt32(truncatingIfNeeded: both >> 32))
    }

    /// The CRC-32 of an array's bytes.
    static func checksum(_ bytes: [UInt8]) -> UInt32 {
        bytes.withUnsafeBytes { checksum($0) }
    }
}
