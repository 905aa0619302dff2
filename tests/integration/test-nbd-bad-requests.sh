#!/usr/bin/env bash
# Every request the NBD server must refuse gets its error (unaligned,
# beyond the end, wrapping around, oversize, unknown flags, unadvertised
# or unknown commands, a bad magic), with simple and structured replies,
# and the connection goes on serving; refused writes change nothing.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

[ -x "$NBD_BAD_REQUESTS" ] || skip "$NBD_BAD_REQUESTS not built"
IQN=iqn.2026-11.org.iser-attach.test:nbd-bad
SIZE_MB=40
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
LUN_FILE=$(tgt_lun_file 1 1)
nbd_attach "$IQN"

out=$(expect_ok_with "checks passed" "$NBD_BAD_REQUESTS" "$NBD_URI")
echo "$out"
for what in "read at an unaligned offset: EINVAL" "write past the end: ENOSPC" \
	"read over the maximum block size: EINVAL" "write with an unknown flag: EINVAL" \
	"trim, not advertised: EINVAL" "unknown command: EINVAL" \
	"request with a bad magic: disconnected" "pipelined requests: all answered"; do
	grep -qF "ok: $what" <<<"$out" || die "no check '$what' passed"
done
nbd_alive
# The refused writes near the end left the zeroes the LUN started with.
cmp -n $((1 << 20)) -i $(((SIZE_MB - 1) << 20)):0 "$LUN_FILE" /dev/zero ||
	die "a refused write changed the end of the LUN"
nbd_detach
