// SPDX-License-Identifier: LGPL-2.1-or-later
/*
 * CHAP for iSCSI login (RFC 7143 section 12.1.3, RFC 1994): digests, the
 * encoding of binary values, challenge randomness and response checking.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "initiator/chap.h"
#include "initiator/sha3.h"

GQuark chap_error_quark(void)
{
	return g_quark_from_static_string("chap-error-quark");
}

size_t chap_digest_len(enum chap_alg alg)
{
	switch (alg) {
	case CHAP_ALG_MD5:
		return 16;
	case CHAP_ALG_SHA1:
		return 20;
	case CHAP_ALG_SHA256:
	case CHAP_ALG_SHA3_256:
		return 32;
	}
	return 0;
}

/*
 * Targets pick the first algorithm of our list they know (LIO and tgt both
 * walk our list in order), so the order is our preference, bent around one
 * peer bug: tgt 1.0.85 answers CHAP_A=7 but computes SHA-1 for it (its
 * chap.c maps "7" to CHAP_DIGEST_ALG_SHA1), so a SHA-256 response never
 * matches. Offering MD5 before 7 makes tgt settle on MD5, which it gets
 * right. SHA3-256 leads: as strong as SHA-256 for CHAP and offered by LIO
 * since Linux 5.12; SHA-1 follows, then MD5, then SHA-256 for targets that
 * implement only that one correctly.
 */
const char *chap_offer_list(void)
{
	return "8,6,5,7";
}

/**
 * chap_checksum_type() - glib checksum for a CHAP algorithm.
 * @alg: CHAP_A value other than SHA3-256, which glib lacks
 * @type: where to store the glib type
 *
 * Return: false when glib has no checksum for @alg.
 */
static bool chap_checksum_type(enum chap_alg alg, GChecksumType *type)
{
	switch (alg) {
	case CHAP_ALG_MD5:
		*type = G_CHECKSUM_MD5;
		return true;
	case CHAP_ALG_SHA1:
		*type = G_CHECKSUM_SHA1;
		return true;
	case CHAP_ALG_SHA256:
		*type = G_CHECKSUM_SHA256;
		return true;
	case CHAP_ALG_SHA3_256:
		break;
	}
	return false;
}

size_t chap_response(enum chap_alg alg, uint8_t id, const uint8_t *secret, size_t secret_len,
		     const uint8_t *challenge, size_t challenge_len, uint8_t *out)
{
	size_t dlen = chap_digest_len(alg);
	GChecksumType type;
	GChecksum *cs;
	gsize got;

	if (!dlen)
		return 0;

	if (alg == CHAP_ALG_SHA3_256) {
		struct sha3_ctx ctx;

		sha3_256_init(&ctx);
		sha3_256_update(&ctx, &id, 1);
		sha3_256_update(&ctx, secret, secret_len);
		sha3_256_update(&ctx, challenge, challenge_len);
		sha3_256_final(&ctx, out);
		return dlen;
	}

	if (!chap_checksum_type(alg, &type))
		return 0;
	cs = g_checksum_new(type);
	g_checksum_update(cs, &id, 1);
	/* glib rejects a NULL pointer even with a zero length. */
	if (secret_len)
		g_checksum_update(cs, secret, (gssize)secret_len);
	if (challenge_len)
		g_checksum_update(cs, challenge, (gssize)challenge_len);
	got = dlen;
	g_checksum_get_digest(cs, out, &got);
	g_checksum_free(cs);
	return got;
}

/* Value of hex digit @c, or -1. */
static int chap_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/**
 * chap_decode_hex() - decode the digits after "0x".
 * @s: the digits, NUL-terminated
 * @len: strlen(@s), not zero
 * @max: most bytes accepted
 * @err: set on failure
 *
 * Return: the bytes, or NULL with @err set.
 */
static GByteArray *chap_decode_hex(const char *s, size_t len, size_t max, GError **err)
{
	GByteArray *out;
	size_t i;

	/*
	 * RFC 7143 lets an odd count mean an implied leading zero, but nobody
	 * sends one and taking it would hide truncated values.
	 */
	if (len % 2) {
		g_set_error(err, CHAP_ERROR, CHAP_ERROR_SYNTAX,
			    "CHAP hex value has an odd number of digits (%zu)", len);
		return NULL;
	}
	if (len / 2 > max) {
		g_set_error(err, CHAP_ERROR, CHAP_ERROR_TOO_LONG,
			    "CHAP value of %zu bytes is longer than the maximum of %zu", len / 2,
			    max);
		return NULL;
	}
	for (i = 0; i < len; i++) {
		if (chap_hex_value(s[i]) < 0) {
			g_set_error(err, CHAP_ERROR, CHAP_ERROR_SYNTAX,
				    "CHAP hex value has a non-hex character at digit %zu", i + 1);
			return NULL;
		}
	}

	out = g_byte_array_sized_new((guint)(len / 2));
	for (i = 0; i < len; i += 2) {
		uint8_t b = (uint8_t)(chap_hex_value(s[i]) << 4 | chap_hex_value(s[i + 1]));

		g_byte_array_append(out, &b, 1);
	}
	return out;
}

/* Value of base64 character @c (RFC 4648 alphabet), or -1. */
static int chap_base64_value(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/**
 * chap_decode_base64() - decode the characters after "0b".
 * @s: the characters, NUL-terminated
 * @len: strlen(@s), not zero
 * @max: most bytes accepted
 * @err: set on failure
 *
 * g_base64_decode() skips characters it does not know and tolerates bad
 * padding, so the text is checked strictly here first: whole 4-character
 * groups, at most two '=' and only at the end, and zero unused bits.
 *
 * Return: the bytes, or NULL with @err set.
 */
static GByteArray *chap_decode_base64(const char *s, size_t len, size_t max, GError **err)
{
	size_t pad = 0, nbytes, i;
	guchar *raw;
	gsize raw_len;
	int last;

	if (len % 4) {
		g_set_error(err, CHAP_ERROR, CHAP_ERROR_SYNTAX,
			    "CHAP base64 value has %zu characters, not a multiple of 4", len);
		return NULL;
	}
	while (pad < 2 && s[len - 1 - pad] == '=')
		pad++;
	for (i = 0; i < len - pad; i++) {
		if (chap_base64_value(s[i]) < 0) {
			g_set_error(err, CHAP_ERROR, CHAP_ERROR_SYNTAX,
				    "CHAP base64 value has an invalid character at position %zu",
				    i + 1);
			return NULL;
		}
	}
	/* The first character of a group carries bits; it cannot be padding. */
	last = chap_base64_value(s[len - 1 - pad]);
	if ((pad == 1 && (last & 0x03)) || (pad == 2 && (last & 0x0f))) {
		g_set_error(err, CHAP_ERROR, CHAP_ERROR_SYNTAX,
			    "CHAP base64 value has non-zero bits after its last byte");
		return NULL;
	}

	nbytes = len / 4 * 3 - pad;
	if (nbytes > max) {
		g_set_error(err, CHAP_ERROR, CHAP_ERROR_TOO_LONG,
			    "CHAP value of %zu bytes is longer than the maximum of %zu", nbytes,
			    max);
		return NULL;
	}

	raw = g_base64_decode(s, &raw_len);
	g_assert(raw_len == nbytes);
	return g_byte_array_new_take(raw, raw_len);
}

GByteArray *chap_decode(const char *value, size_t max, GError **err)
{
	size_t len;

	if (!value || value[0] != '0' ||
	    (value[1] != 'x' && value[1] != 'X' && value[1] != 'b' && value[1] != 'B')) {
		g_set_error(err, CHAP_ERROR, CHAP_ERROR_PREFIX,
			    "CHAP value must start with 0x or 0b");
		return NULL;
	}
	len = strlen(value + 2);
	if (!len) {
		g_set_error(err, CHAP_ERROR, CHAP_ERROR_EMPTY, "CHAP value \"%s\" is empty", value);
		return NULL;
	}
	if (value[1] == 'x' || value[1] == 'X')
		return chap_decode_hex(value + 2, len, max, err);
	return chap_decode_base64(value + 2, len, max, err);
}

char *chap_encode_hex(const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char *out = g_malloc(2 * len + 3);
	size_t i;

	out[0] = '0';
	out[1] = 'x';
	for (i = 0; i < len; i++) {
		out[2 + 2 * i] = digits[data[i] >> 4];
		out[3 + 2 * i] = digits[data[i] & 0x0f];
	}
	out[2 + 2 * len] = '\0';
	return out;
}

/**
 * chap_read_urandom() - fill @buf from /dev/urandom.
 * @buf: destination
 * @len: bytes wanted
 *
 * For kernels older than 3.17, which lack getrandom(2).
 *
 * Return: 0, or an errno value.
 */
static int chap_read_urandom(uint8_t *buf, size_t len)
{
	int fd, ret = 0;
	ssize_t n;

	fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno;
	while (len) {
		n = read(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			ret = n < 0 ? errno : EIO;
			goto out_close;
		}
		buf += n;
		len -= (size_t)n;
	}
out_close:
	close(fd);
	return ret;
}

/*
 * A challenge that an attacker can predict lets a recorded response be
 * replayed, so there is no degraded mode: without randomness we stop.
 */
static void chap_os_random(uint8_t *buf, size_t len)
{
	ssize_t n;
	int ret;

	while (len) {
		n = getrandom(buf, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOSYS) {
			ret = chap_read_urandom(buf, len);
			if (ret)
				g_error("cannot read /dev/urandom for a CHAP challenge: %s",
					g_strerror(ret));
			return;
		}
		if (n < 0)
			g_error("getrandom failed for a CHAP challenge: %s", g_strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

static void (*chap_random_source)(uint8_t *buf, size_t len) = chap_os_random;

void chap_set_random_source(void (*fn)(uint8_t *buf, size_t len))
{
	chap_random_source = fn ? fn : chap_os_random;
}

void chap_random(uint8_t *buf, size_t len)
{
	chap_random_source(buf, len);
}

/*
 * Compare without a data-dependent early exit, so the time taken does not
 * tell an attacker how many leading bytes of a forged response were right.
 */
static bool chap_equal_ct(const uint8_t *a, const uint8_t *b, size_t len)
{
	volatile uint8_t diff = 0;
	size_t i;

	for (i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

bool chap_verify(enum chap_alg alg, uint8_t id, const uint8_t *secret, size_t secret_len,
		 const uint8_t *challenge, size_t challenge_len, const uint8_t *response,
		 size_t response_len)
{
	uint8_t expected[CHAP_MAX_DIGEST];
	size_t dlen;
	bool ok;

	dlen = chap_response(alg, id, secret, secret_len, challenge, challenge_len, expected);
	/* Digest lengths are public, so checking the length first leaks nothing. */
	ok = dlen && response_len == dlen && chap_equal_ct(expected, response, dlen);
	explicit_bzero(expected, sizeof(expected));
	return ok;
}
