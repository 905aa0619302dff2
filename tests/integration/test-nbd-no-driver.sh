#!/usr/bin/env bash
# Without the kernel's nbd driver, iser-attach --nbd says what to do and
# exits 9 (unsupported) before it logs in, with or without a device named,
# and leaves no attachment behind.  Runs on the host, which has no nbd
# module loaded (the VM tests cover the driver itself).
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

[ ! -e /sys/module/nbd ] || skip "the nbd driver is loaded on this machine"
IQN=iqn.2026-11.org.iser-attach.test:nbd-no-driver
nbd_requires
tgt_simple_target "$IQN" 16

# no_driver ARGS...: iser-attach ARGS must fail with status 9 and the
# message, and nothing else on stderr: no sanitizer or runtime error.
no_driver()
{
	local rc=0 err=$TGT_TMPDIR/err

	timeout -k 5 "$ISA_CMD_TIMEOUT" "$ISER_ATTACH" "$@" >"$TGT_TMPDIR/out" 2>"$err" || rc=$?
	cat "$err" >&2
	[ "$rc" -eq 9 ] || die "iser-attach $* exited $rc, expected 9"
	[ ! -s "$TGT_TMPDIR/out" ] || die "iser-attach $* printed '$(cat "$TGT_TMPDIR/out")'"
	[ "$(cat "$err")" = "iser-attach: the nbd kernel driver is not loaded (modprobe nbd)" ] ||
		die "iser-attach $* said something else than that the nbd driver is not loaded"
}

no_driver "$TGT_PORTAL" "$IQN" --nbd
no_driver --nbd=/dev/nbd0 "$TGT_PORTAL" "$IQN"
no_driver --foreground "$TGT_PORTAL" "$IQN" --nbd
# A bare --nbd before the positionals must not take the portal for a device.
no_driver --nbd "$TGT_PORTAL" "$IQN"
# The driver is checked before the login: with no target listening the
# answer is still 9, not 3 (portal unreachable).
no_driver 127.0.0.1:1 "$IQN" --nbd
[ -z "$(ls -A "$ISER_ATTACH_RUNDIR" 2>/dev/null)" ] || die "an attachment was recorded"
