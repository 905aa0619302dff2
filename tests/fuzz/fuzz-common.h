/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Helpers shared by the libFuzzer harnesses of tests/fuzz/: a cursor that
 * takes bytes off the fuzzer's input, exact-size copies so AddressSanitizer
 * catches a parser reading one byte past what it was given, and the glib
 * settings that make a hidden bug a crash.
 */
#ifndef ISA_FUZZ_COMMON_H
#define ISA_FUZZ_COMMON_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <glib.h>

/**
 * struct fuzz_in - what is left of one fuzzer input.
 * @p: next unread byte
 * @left: bytes from @p to the end
 */
struct fuzz_in {
	const uint8_t *p;
	size_t left;
};

static inline struct fuzz_in fuzz_in_init(const uint8_t *data, size_t size)
{
	return (struct fuzz_in){.p = data, .left = size};
}

/* One byte, 0 once the input is used up (configuration bytes default to 0). */
static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	uint8_t v;

	if (!in->left)
		return 0;
	v = *in->p++;
	in->left--;
	return v;
}

/*
 * Take up to @want bytes as a new heap block of exactly that many bytes
 * (never NULL, free with g_free()); *@got says how many there were.
 */
static inline uint8_t *fuzz_take(struct fuzz_in *in, size_t want, size_t *got)
{
	size_t n = want < in->left ? want : in->left;
	uint8_t *copy = g_malloc(n ? n : 1);

	memcpy(copy, in->p, n);
	in->p += n;
	in->left -= n;
	*got = n;
	return copy;
}

/* The rest of the input, as fuzz_take() does. */
static inline uint8_t *fuzz_take_rest(struct fuzz_in *in, size_t *got)
{
	return fuzz_take(in, in->left, got);
}

/*
 * Once per process, before any glib call: plain malloc for glib's slices so
 * ASan sees every block, and a g_critical() (a g_return_if_fail() hit by
 * hostile input) or g_warning() aborts the run like any other bug.
 */
static inline void fuzz_setup(void)
{
	setenv("G_SLICE", "always-malloc", 1);
	g_log_set_always_fatal(G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_WARNING);
}

/* Aborts with @what when a property every input must keep is broken. */
#define FUZZ_CHECK(cond, what)                                                                     \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			g_printerr("fuzz: property broken: %s (%s)\n", what, #cond);               \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
