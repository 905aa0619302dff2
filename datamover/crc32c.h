/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78), the iSCSI header and
 * data digest of RFC 7143. Uses the SSE4.2 crc32 instruction when the CPU has
 * it and a slice-by-8 table otherwise.
 */
#ifndef ISA_CRC32C_H
#define ISA_CRC32C_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/**
 * crc32c() - CRC32C of @len bytes at @buf, continuing from @crc.
 * @crc: 0 to start, or the result of a previous call to continue it
 * @buf: bytes to digest
 * @len: their number
 *
 * The register is pre- and post-inverted inside (initial value 0xFFFFFFFF,
 * final XOR 0xFFFFFFFF), as zlib's crc32() does, so crc32c(0, "123456789", 9)
 * is the check value 0xE3069283 and crc32c(crc32c(0, a, n), b, m) equals the
 * CRC of a followed by b. iSCSI sends the result least significant byte first.
 *
 * Return: the CRC32C value.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/**
 * crc32c_force_software() - use the table implementation even when the CPU
 * has SSE4.2, so that tests can compare both. Not thread-safe against
 * concurrent crc32c() calls; call it from tests only.
 * @force: true for software, false for automatic choice
 */
void crc32c_force_software(bool force);

/**
 * crc32c_hw_active() - whether crc32c() currently uses the CPU instruction.
 *
 * Return: true when the SSE4.2 path is in use.
 */
bool crc32c_hw_active(void);

#endif
