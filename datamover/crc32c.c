// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CRC32C for iSCSI digests: SSE4.2 instruction or slice-by-8 tables.
 */
#include <string.h>
#include <glib.h>

#include "datamover/crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define CRC32C_POLY 0x82F63B78u

/* tab[k][b]: CRC of byte b followed by k zero bytes, for slice-by-8. */
static uint32_t tab[8][256];
static gsize tab_ready;
static bool force_sw;

static void crc32c_init_tables(void)
{
	if (!g_once_init_enter(&tab_ready))
		return;
	for (unsigned int b = 0; b < 256; b++) {
		uint32_t c = b;

		for (int i = 0; i < 8; i++)
			c = (c >> 1) ^ ((c & 1) ? CRC32C_POLY : 0);
		tab[0][b] = c;
	}
	for (unsigned int b = 0; b < 256; b++)
		for (int k = 1; k < 8; k++)
			tab[k][b] = (tab[k - 1][b] >> 8) ^ tab[0][tab[k - 1][b] & 0xff];
	g_once_init_leave(&tab_ready, 1);
}

/* Works on the already inverted register. */
static uint32_t crc32c_sw(uint32_t c, const uint8_t *p, size_t len)
{
	crc32c_init_tables();
	while (len && ((uintptr_t)p & 7)) {
		c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xff];
		len--;
	}
	while (len >= 8) {
		/* Assembled byte by byte so the result does not depend on host endianness. */
		uint32_t lo = c ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
				   (uint32_t)p[3] << 24);
		uint32_t hi = (uint32_t)p[4] | (uint32_t)p[5] << 8 | (uint32_t)p[6] << 16 |
			      (uint32_t)p[7] << 24;

		c = tab[7][lo & 0xff] ^ tab[6][(lo >> 8) & 0xff] ^ tab[5][(lo >> 16) & 0xff] ^
		    tab[4][lo >> 24] ^ tab[3][hi & 0xff] ^ tab[2][(hi >> 8) & 0xff] ^
		    tab[1][(hi >> 16) & 0xff] ^ tab[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		c = (c >> 8) ^ tab[0][(c ^ *p++) & 0xff];
	return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t c, const uint8_t *p,
							    size_t len)
{
	uint64_t c64;

	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8(c, *p++);
		len--;
	}
	c64 = c;
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c64 = _mm_crc32_u64(c64, v);
		p += 8;
		len -= 8;
	}
	c = (uint32_t)c64;
	while (len--)
		c = _mm_crc32_u8(c, *p++);
	return c;
}

bool crc32c_hw_active(void)
{
	return !force_sw && __builtin_cpu_supports("sse4.2");
}
#else
bool crc32c_hw_active(void)
{
	return false;
}
#endif

void crc32c_force_software(bool force)
{
	force_sw = force;
}

uint32_t crc32c(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	crc = ~crc;
#if defined(__x86_64__)
	if (crc32c_hw_active())
		return ~crc32c_hw(crc, p, len);
#endif
	return ~crc32c_sw(crc, p, len);
}
