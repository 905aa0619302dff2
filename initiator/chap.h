/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CHAP for iSCSI login (RFC 7143 section 12.1.3, RFC 1994): one-way and
 * mutual, with the algorithms LIO and open-iscsi offer.
 */
#ifndef ISA_CHAP_H
#define ISA_CHAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <glib.h>

/* CHAP_A values (IANA PPP authentication algorithms). */
enum chap_alg {
	CHAP_ALG_MD5 = 5,
	CHAP_ALG_SHA1 = 6,
	CHAP_ALG_SHA256 = 7,
	CHAP_ALG_SHA3_256 = 8,
};

#define CHAP_MAX_DIGEST 32
/* Longest challenge we accept or send, in bytes. */
#define CHAP_MAX_CHALLENGE 1024

/* Digest length of @alg in bytes, or 0 when @alg is not one we know. */
size_t chap_digest_len(enum chap_alg alg);

/* "5,6,7,8"-style list of what we offer, strongest first. */
const char *chap_offer_list(void);

/*
 * Response = H(id || secret || challenge). @out must hold
 * chap_digest_len(alg) bytes. Returns the length, or 0 for an unknown alg.
 */
size_t chap_response(enum chap_alg alg, uint8_t id, const uint8_t *secret, size_t secret_len,
		     const uint8_t *challenge, size_t challenge_len, uint8_t *out);

/* GError domain of chap_decode() failures. */
#define CHAP_ERROR chap_error_quark()
GQuark chap_error_quark(void);

/**
 * enum chap_error - why a CHAP binary value was rejected.
 * @CHAP_ERROR_PREFIX: neither "0x" nor "0b" in front
 * @CHAP_ERROR_EMPTY: nothing after the prefix
 * @CHAP_ERROR_SYNTAX: bad digit, odd hex length, or bad base64 padding
 * @CHAP_ERROR_TOO_LONG: decodes to more bytes than the caller allows
 */
enum chap_error {
	CHAP_ERROR_PREFIX,
	CHAP_ERROR_EMPTY,
	CHAP_ERROR_SYNTAX,
	CHAP_ERROR_TOO_LONG,
};

/*
 * Decode a CHAP binary value: "0x" / "0X" hex or "0b" / "0B" base64
 * (RFC 7143 section 6.1). Returns a newly allocated array, or NULL with
 * @err set for a malformed value or one longer than @max bytes.
 */
GByteArray *chap_decode(const char *value, size_t max, GError **err);

/* Encode bytes as "0x..." lower-case hex. Free with g_free(). */
char *chap_encode_hex(const uint8_t *data, size_t len);

/* Fill @buf with @len random bytes (challenge or identifier). */
void chap_random(uint8_t *buf, size_t len);

/*
 * Replace the source chap_random() draws from, so tests can fix the
 * challenge and identifier; NULL restores the kernel's random generator.
 * Not thread-safe: set it before any login starts.
 */
void chap_set_random_source(void (*fn)(uint8_t *buf, size_t len));

/*
 * Verify the target's mutual-CHAP answer: its CHAP_R must equal
 * H(id || target_secret || our challenge). Constant-time compare.
 */
bool chap_verify(enum chap_alg alg, uint8_t id, const uint8_t *secret, size_t secret_len,
		 const uint8_t *challenge, size_t challenge_len, const uint8_t *response,
		 size_t response_len);

#endif
