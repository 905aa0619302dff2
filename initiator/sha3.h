/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SHA3-256 (FIPS 202) for CHAP_A=8: glib's GChecksum has no SHA-3, and this
 * is the only SHA-3 variant iSCSI uses, so only it is provided.
 */
#ifndef ISA_SHA3_H
#define ISA_SHA3_H

#include <stddef.h>
#include <stdint.h>

#define SHA3_256_DIGEST_LEN 32
/* Sponge rate of SHA3-256: 1600 - 2 * 256 bits. */
#define SHA3_256_RATE 136

/**
 * struct sha3_ctx - state of an incremental SHA3-256 computation.
 * @st: the Keccak-f[1600] state as 25 little-endian lanes
 * @pos: bytes of the current rate block already absorbed into @st
 */
struct sha3_ctx {
	uint64_t st[25];
	size_t pos;
};

/* Start a new SHA3-256 computation. */
void sha3_256_init(struct sha3_ctx *ctx);

/* Absorb @len bytes; may be called any number of times. */
void sha3_256_update(struct sha3_ctx *ctx, const void *data, size_t len);

/* Finish and write the digest; @ctx must be re-initialised before reuse. */
void sha3_256_final(struct sha3_ctx *ctx, uint8_t out[SHA3_256_DIGEST_LEN]);

/* One-shot SHA3-256 of @len bytes at @data. */
void sha3_256(const void *data, size_t len, uint8_t out[SHA3_256_DIGEST_LEN]);

#endif
