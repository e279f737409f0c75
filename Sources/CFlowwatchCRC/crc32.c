/* CRC-32 (IEEE) for recordings: slice-by-8 tables for short inputs, and carry-less multiply
 * folding (PCLMULQDQ, Intel's "Fast CRC Computation for Generic Polynomials Using PCLMULQDQ
 * Instruction", 2009) for the whole 16-byte blocks of 16 bytes and more, when the CPU has it.
 *
 * Replay checks two CRCs per record: the 20-byte record header and the payload (a debug message's
 * 20-24 bytes, a trace with its captured packet typically 160-200). Measured with callgrind per
 * call: 168 bytes take ~676 instructions by tables and ~194 folded. From 16 bytes on the whole
 * 16-byte blocks are folded (a single block only reduced), the rest goes through the tables: the
 * 20-byte record header measured 57 instructions per call that way against 72 by tables alone. */
#include "flowwatch_crc32.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* tables[k][b]: the CRC register after byte b followed by k zero bytes. Filled once, on first use
 * (a constructor: no lock on the path that runs per record). */
static uint32_t tables[8][256];

__attribute__((constructor)) static void fill_tables(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		tables[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++)
			tables[k][n] = tables[0][tables[k - 1][n] & 0xff] ^ (tables[k - 1][n] >> 8);
}

/* Advances the raw CRC register (not inverted) over `count` bytes, eight at a time. Inlined: it
 * ends every CRC, and a call of its own measured a sixth of a short one. */
static inline __attribute__((always_inline)) uint32_t by_tables(uint32_t c, const uint8_t *p, size_t count)
{
	while (count >= 8) {
		uint64_t word;
		memcpy(&word, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		word = __builtin_bswap64(word);
#endif
		/* Little-endian: the first byte in the low bits, as the reflected CRC consumes it first. */
		uint32_t lo = (uint32_t)word ^ c, hi = (uint32_t)(word >> 32);
		c = tables[7][lo & 0xff] ^ tables[6][(lo >> 8) & 0xff] ^ tables[5][(lo >> 16) & 0xff] ^
		    tables[4][lo >> 24] ^ tables[3][hi & 0xff] ^ tables[2][(hi >> 8) & 0xff] ^
		    tables[1][(hi >> 16) & 0xff] ^ tables[0][hi >> 24];
		p += 8;
		count -= 8;
	}
	/* Records' CRCs end in 4 bytes more often than not (a 20-byte record header; payloads whose
	 * folded part leaves 12): one 4-byte step, then single bytes. */
	if (count >= 4) {
		uint32_t word;
		memcpy(&word, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
		word = __builtin_bswap32(word);
#endif
		word ^= c;
		c = tables[3][word & 0xff] ^ tables[2][(word >> 8) & 0xff] ^ tables[1][(word >> 16) & 0xff] ^
		    tables[0][word >> 24];
		p += 4;
		count -= 4;
	}
	while (count--)
		c = tables[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return c;
}

uint32_t fw_crc32_portable(uint32_t crc, const void *bytes, size_t count)
{
	return ~by_tables(~crc, bytes, count);
}

#if defined(__x86_64__)
/* Folds `count` bytes (at least 16, a multiple of 16) into the raw CRC register `c`.
 *
 * From 64 bytes on, four 128-bit lanes are folded 64 bytes forward at a time (constants
 * x^(512+64) and x^512 mod P, bit-reflected and shifted as the paper's section on reflected CRCs
 * gives them), then into one lane (x^(128+64), x^128); then 16 bytes at a time, then 128 bits are
 * reduced to 64, to 32, and Barrett reduction gives the register: mu = floor(x^64 / P),
 * P = 0x1DB710641 (both reflected). A single block is only reduced. */
__attribute__((target("pclmul,sse4.1"))) static uint32_t by_folding(uint32_t c, const uint8_t *p, size_t count)
{
	const __m128i k1k2 = _mm_set_epi64x(0x01c6e41596, 0x0154442bd4);
	const __m128i k3k4 = _mm_set_epi64x(0x00ccaa009e, 0x01751997d0);
	const __m128i k5 = _mm_set_epi64x(0, 0x0163cd6124);
	const __m128i poly_mu = _mm_set_epi64x(0x01f7011641, 0x01db710641);
	const __m128i low32 = _mm_setr_epi32(~0, 0, ~0, 0);

	__m128i x1 = _mm_xor_si128(_mm_loadu_si128((const __m128i *)p), _mm_cvtsi32_si128((int)c));
	__m128i x2;

#define FOLD(x, k, next) \
	_mm_xor_si128(_mm_xor_si128(_mm_clmulepi64_si128(x, k, 0x11), _mm_clmulepi64_si128(x, k, 0x00)), next)
	if (count >= 64) {
		x2 = _mm_loadu_si128((const __m128i *)(p + 16));
		__m128i x3 = _mm_loadu_si128((const __m128i *)(p + 32));
		__m128i x4 = _mm_loadu_si128((const __m128i *)(p + 48));
		p += 64;
		count -= 64;
		while (count >= 64) {
			x1 = FOLD(x1, k1k2, _mm_loadu_si128((const __m128i *)p));
			x2 = FOLD(x2, k1k2, _mm_loadu_si128((const __m128i *)(p + 16)));
			x3 = FOLD(x3, k1k2, _mm_loadu_si128((const __m128i *)(p + 32)));
			x4 = FOLD(x4, k1k2, _mm_loadu_si128((const __m128i *)(p + 48)));
			p += 64;
			count -= 64;
		}
		x1 = FOLD(x1, k3k4, x2);
		x1 = FOLD(x1, k3k4, x3);
		x1 = FOLD(x1, k3k4, x4);
	} else {
		p += 16;
		count -= 16;
	}
	while (count >= 16) {
		x1 = FOLD(x1, k3k4, _mm_loadu_si128((const __m128i *)p));
		p += 16;
		count -= 16;
	}
#undef FOLD

	/* 128 -> 64 bits, then 64 -> 32. */
	x2 = _mm_clmulepi64_si128(x1, k3k4, 0x10);
	x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), x2);
	x2 = _mm_srli_si128(x1, 4);
	x1 = _mm_xor_si128(_mm_clmulepi64_si128(_mm_and_si128(x1, low32), k5, 0x00), x2);
	/* Barrett reduction. */
	x2 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly_mu, 0x10);
	x2 = _mm_clmulepi64_si128(_mm_and_si128(x2, low32), poly_mu, 0x00);
	x1 = _mm_xor_si128(x1, x2);
	return (uint32_t)_mm_extract_epi32(x1, 1);
}

static int has_folding;

__attribute__((constructor)) static void detect(void)
{
	__builtin_cpu_init();
	has_folding = __builtin_cpu_supports("pclmul") && __builtin_cpu_supports("sse4.1");
}

static inline __attribute__((always_inline)) uint32_t crc32(uint32_t crc, const void *bytes, size_t count)
{
	const uint8_t *p = bytes;
	uint32_t c = ~crc;
	if (count >= 16 && has_folding) {
		size_t whole = count & ~(size_t)15;
		c = by_folding(c, p, whole);
		p += whole;
		count -= whole;
	}
	return ~by_tables(c, p, count);
}
#else
static inline uint32_t crc32(uint32_t crc, const void *bytes, size_t count)
{
	return fw_crc32_portable(crc, bytes, count);
}
#endif

uint32_t fw_crc32(uint32_t crc, const void *bytes, size_t count)
{
	return crc32(crc, bytes, count);
}

/* Replay checks a header and a payload per record: one call for both. */
uint64_t fw_crc32_pair(const void *a, size_t na, const void *b, size_t nb)
{
	return (uint64_t)crc32(0, b, nb) << 32 | crc32(0, a, na);
}
