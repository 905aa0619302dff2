#!/usr/bin/env bash
# valgrind memcheck over the life of an attachment and of the library:
# iser-attach serving NBD (attach, 16 MiB written with nbdcopy over
# several connections, read back and compared, flushed, detached), isa-io
# verifying 8 MiB at queue depth 32 with digests, and iser-discover. No
# invalid access, no use of uninitialised memory, no definite leak, no
# file descriptor left open at exit. AddressSanitizer and valgrind exclude
# each other, so in a sanitizer build (make check in CI) this test skips;
# make distcheck runs it on the plain build.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires valgrind nbdcopy
if nm "$ISER_ATTACH" 2>/dev/null | grep -q __asan_init; then
	skip "built with AddressSanitizer; valgrind needs a plain build"
fi
IQN=iqn.2026-11.org.iser-attach.test:valgrind
nbd_requires
tgt_simple_target "$IQN" 64
VG_LOGS=$TGT_TMPDIR/vg
mkdir -p "$VG_LOGS"
# --track-fds: every descriptor still open at exit but the standard three
# is reported in the log, which must then be empty.
VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
	--errors-for-leak-kinds=definite --track-fds=yes)

# vg_log_clean NAME: the memcheck log of NAME says nothing.
vg_log_clean()
{
	local f

	for f in "$VG_LOGS/$1".*; do
		[ -e "$f" ] || die "$1: no valgrind log"
		# Descriptors inherited from the harness (make's, valgrind's
		# own log) are not ours: drop those records and the summary.
		if sed 's/^==[0-9]*== *//' "$f" | awk '
			/^Open file descriptor/ { rec = $0; next }
			rec != "" { if ($0 !~ /<inherited from parent>/) print rec; rec = ""; next }
			/^FILE DESCRIPTORS:/ || /^$/ { next }
			{ print }' | grep -q .; then
			cat "$f" >&2
			die "$1: valgrind reported errors, leaks or open descriptors"
		fi
	done
}

NBD_WRAPPER=("${VG[@]}" "--log-file=$VG_LOGS/attach.%p")
nbd_attach "$IQN"
head -c $((16 << 20)) /dev/urandom >"$TGT_TMPDIR/in"
nbdcopy --flush "$TGT_TMPDIR/in" "$NBD_URI"
nbdcopy "$NBD_URI" "$TGT_TMPDIR/out"
cmp <(head -c $((16 << 20)) "$TGT_TMPDIR/out") "$TGT_TMPDIR/in" ||
	die "data read back through the NBD export differs from what was written"
cmp <(head -c $((16 << 20)) "$(tgt_lun_file 1 1)") "$TGT_TMPDIR/in" ||
	die "the LUN file differs from what was written"
nbd_detach
vg_log_clean attach

expect_ok_with "compared: OK" "${VG[@]}" "--log-file=$VG_LOGS/isa-io.%p" "$ISA_IO" \
	--transport tcp --digest --size 8M --qd 32 "$TGT_PORTAL" "$IQN" verify ||
	die "isa-io verify failed under valgrind"
vg_log_clean isa-io

expect_ok_with "$IQN" "${VG[@]}" "--log-file=$VG_LOGS/discover.%p" "$ISER_DISCOVER" \
	--transport tcp "$TGT_PORTAL" || die "iser-discover failed under valgrind"
vg_log_clean discover
echo "valgrind: attach, I/O, detach, verify and discovery clean"
