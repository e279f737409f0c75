#ifndef FLOWWATCH_CRC32_H
#define FLOWWATCH_CRC32_H
/* CRC-32 as IEEE 802.3, zlib and PNG define it (reflected polynomial 0xEDB88320, initial value and
 * final XOR 0xFFFFFFFF): the checksum of every part of a recording (docs/recording-format.md).
 *
 *   fw_crc32(crc, bytes, count)           the CRC of `count` bytes; pass 0, or an earlier result
 *                                         to continue over more bytes
 *   fw_crc32_portable(crc, bytes, count)  the same, by tables only: what fw_crc32 uses on a CPU
 *                                         without carry-less multiply, and what tests compare
 *                                         the folding path against
 *   fw_crc32_pair(a, na, b, nb)           the CRCs of two byte ranges in one call (a record's
 *                                         header and payload): fw_crc32(0, a, na) in the low 32
 *                                         bits, fw_crc32(0, b, nb) in the high 32
 */
#include <stddef.h>
#include <stdint.h>

uint32_t fw_crc32(uint32_t crc, const void *bytes, size_t count);
uint32_t fw_crc32_portable(uint32_t crc, const void *bytes, size_t count);
uint64_t fw_crc32_pair(const void *a, size_t na, const void *b, size_t nb);

#endif
