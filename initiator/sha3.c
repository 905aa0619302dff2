// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * SHA3-256 (FIPS 202): the Keccak-f[1600] permutation driven as a sponge with
 * a 136-byte rate and the SHA-3 domain padding 0x06 ... 0x80.
 */
#include <string.h>

#include "initiator/sha3.h"

#define KECCAK_ROUNDS 24

/* Iota constants, one per round (FIPS 202 section 3.2.5). */
static const uint64_t keccak_rc[KECCAK_ROUNDS] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL,
};

/* Rho rotation of lane x + 5 * y (FIPS 202 section 3.2.2). */
static const unsigned int keccak_rho[25] = {
    0, 1, 62, 28, 27, 36, 44, 6, 55, 20, 3, 10, 43, 25, 39, 41, 45, 15, 21, 8, 18, 2, 61, 56, 14,
};

static inline uint64_t rol64(uint64_t v, unsigned int n)
{
	return n ? (v << n) | (v >> (64 - n)) : v;
}

/**
 * keccak_f1600() - apply the 24-round Keccak permutation to @a in place.
 * @a: 25 lanes, lane (x, y) at index x + 5 * y
 */
static void keccak_f1600(uint64_t a[25])
{
	uint64_t b[25], c[5], d[5];
	unsigned int round, x, y;

	for (round = 0; round < KECCAK_ROUNDS; round++) {
		/* Theta: mix each column's parity into its neighbours. */
		for (x = 0; x < 5; x++)
			c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
		for (x = 0; x < 5; x++)
			d[x] = c[(x + 4) % 5] ^ rol64(c[(x + 1) % 5], 1);
		for (x = 0; x < 25; x++)
			a[x] ^= d[x % 5];

		/* Rho and pi: lane (x, y) rotates and moves to (y, 2x + 3y). */
		for (y = 0; y < 5; y++)
			for (x = 0; x < 5; x++)
				b[y + 5 * ((2 * x + 3 * y) % 5)] =
				    rol64(a[x + 5 * y], keccak_rho[x + 5 * y]);

		/* Chi: the only non-linear step, row by row. */
		for (y = 0; y < 25; y += 5)
			for (x = 0; x < 5; x++)
				a[y + x] = b[y + x] ^ (~b[y + (x + 1) % 5] & b[y + (x + 2) % 5]);

		a[0] ^= keccak_rc[round];
	}
}

void sha3_256_init(struct sha3_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
}

/* Lanes are little-endian whatever the host order, so XOR byte by byte. */
static inline void sha3_xor_byte(struct sha3_ctx *ctx, size_t pos, uint8_t v)
{
	ctx->st[pos / 8] ^= (uint64_t)v << (8 * (pos % 8));
}

void sha3_256_update(struct sha3_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;

	while (len--) {
		sha3_xor_byte(ctx, ctx->pos++, *p++);
		if (ctx->pos == SHA3_256_RATE) {
			keccak_f1600(ctx->st);
			ctx->pos = 0;
		}
	}
}

void sha3_256_final(struct sha3_ctx *ctx, uint8_t out[SHA3_256_DIGEST_LEN])
{
	size_t i;

	/*
	 * SHA-3 domain bits 01 followed by pad10*1; when only one byte of the
	 * block is left both land in it, giving 0x86.
	 */
	sha3_xor_byte(ctx, ctx->pos, 0x06);
	sha3_xor_byte(ctx, SHA3_256_RATE - 1, 0x80);
	keccak_f1600(ctx->st);

	for (i = 0; i < SHA3_256_DIGEST_LEN; i++)
		out[i] = (uint8_t)(ctx->st[i / 8] >> (8 * (i % 8)));

	/* The state held the CHAP secret; do not leave it on the stack. */
	explicit_bzero(ctx, sizeof(*ctx));
}

void sha3_256(const void *data, size_t len, uint8_t out[SHA3_256_DIGEST_LEN])
{
	struct sha3_ctx ctx;

	sha3_256_init(&ctx);
	sha3_256_update(&ctx, data, len);
	sha3_256_final(&ctx, out);
}
