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
 */
#include <stddef.h>
#include <stdint.h>

uint32_t fw_crc32(uint32_t crc, const void *bytes, size_t count);
uint32_t fw_crc32_portable(uint32_t crc, const void *bytes, size_t count);

#endif
