#!/usr/bin/env bash
# Every seed input and every regression input of the libFuzzer harnesses
# (tests/fuzz/corpus/NAME, tests/fuzz/regressions/NAME) runs once through
# its harness, built with clang and ASan/UBSan: a crash the fuzzers once
# found stays fixed, and the harnesses and their seeds keep building and
# passing. No fuzzing here; that is "make check-fuzz".
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

FUZZ_CC=${FUZZ_CC:-clang}
requires "$FUZZ_CC" pkg-config

# clang without libclang-rt-14-dev compiles but cannot link a fuzzer.
probe=$(mktemp -d /tmp/isa-fuzz-probe.XXXXXX)
cleanup_fn rm -rf "$probe"
printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { return d && n > 1; }\n' \
	>"$probe/probe.c"
requires_run "$FUZZ_CC" -fsanitize=fuzzer,address,undefined "$probe/probe.c" -o "$probe/probe"

FUZZ_OUT=$top_builddir/tests/fuzz FUZZ_CC=$FUZZ_CC bash "$top_srcdir/tests/fuzz/fuzz.sh" regress
