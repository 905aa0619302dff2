# shellcheck shell=bash
# Shared by the FUSE export tests: attach a LUN of our tgtd with
# `iser-attach --fuse DIR`, and end the attachment again.
#
#   fuse_requires
#   tgt_simple_target "$IQN" 64
#   fuse_attach "$IQN"           # sets FUSE_DIR, FUSE_FILE, FUSE_PID
#   dd ... of="$FUSE_FILE" conv=notrunc
#   fuse_unmount                 # fusermount3 -u; iser-attach must exit 0
#
# iser-attach runs with --foreground under attach_start (tests/functions.sh).

# shellcheck disable=SC2034
ISER_ATTACH=$top_builddir/iser-attach
ISER_DETACH=$top_builddir/iser-detach

# fuse_requires: skip unless iser-attach is built, FUSE can be mounted here
# and tgtd can run; starts the test's tgtd.
fuse_requires()
{
	[ -x "$ISER_ATTACH" ] || skip "$ISER_ATTACH not built"
	[ -x "$ISER_DETACH" ] || skip "$ISER_DETACH not built"
	requires fusermount3
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	start_tgtd
}

# fuse_attach [--name N] IQN [iser-attach options...]: mount the target's
# LUN at $TGT_TMPDIR/fuseN (N defaults to 0). Waits until iser-attach
# printed the file's path, checks it, and sets FUSE_DIR, FUSE_FILE and
# FUSE_PID. The attachment is ended at exit if the test did not do it.
fuse_attach()
{
	local n=0 iqn dir line

	if [ "$1" = --name ]; then
		n=$2
		shift 2
	fi
	iqn=$1
	shift
	dir=$TGT_TMPDIR/fattach$n
	FUSE_DIR=$TGT_TMPDIR/fuse$n
	if [ -d "$dir" ]; then
		[ -e "$dir/rc" ] || die "attachment $n is still attached"
		rm -rf "$dir"
	else
		cleanup_fn _fuse_cleanup "$dir" "$FUSE_DIR"
	fi
	mkdir -p "$FUSE_DIR"
	attach_start "$dir" 30 "$ISER_ATTACH" --foreground --fuse "$FUSE_DIR" "$@" \
		"$TGT_PORTAL" "$iqn"
	line=$ATTACH_LINE
	FUSE_FILE=$line
	[ "$(dirname "$line")" = "$FUSE_DIR" ] ||
		die "iser-attach printed '$line', expected a file in $FUSE_DIR"
	[ -f "$FUSE_FILE" ] || die "$FUSE_FILE is not a regular file"
	FUSE_PID=$(cat "$dir/child")
}

# _fuse_ended N HOW: attachment N must have exited 0 with a clean log, and
# its directory must no longer be a mount point.
_fuse_ended()
{
	local dir=$TGT_TMPDIR/fattach$1 rc

	rc=$(attach_wait_exit "$dir") || die "iser-attach did not exit after $2"
	[ "$rc" -eq 0 ] || {
		cat "$dir/err" >&2
		die "iser-attach exited $rc after $2"
	}
	if grep -q Sanitizer "$dir/err"; then
		cat "$dir/err" >&2
		die "iser-attach reported a sanitizer error"
	fi
	! mountpoint -q "$TGT_TMPDIR/fuse$1" || die "$TGT_TMPDIR/fuse$1 is still mounted after $2"
}

# fuse_unmount [N]: end attachment N (default 0) with fusermount3 -u.
fuse_unmount()
{
	local n=${1:-0}

	fusermount3 -u "$TGT_TMPDIR/fuse$n" || die "fusermount3 -u failed"
	_fuse_ended "$n" "fusermount3 -u"
}

# fuse_detach [N]: end attachment N with iser-detach DIR, which must say so.
fuse_detach()
{
	local n=${1:-0} out

	out=$(expect_ok_with "detached" "$ISER_DETACH" "$TGT_TMPDIR/fuse$n") ||
		die "iser-detach failed"
	echo "$out"
	_fuse_ended "$n" "iser-detach"
}

# fuse_log [N]: print attachment N's stderr.
fuse_log()
{
	cat "$TGT_TMPDIR/fattach${1:-0}/err"
}

# _fuse_cleanup DIR MNT: at exit, end an attachment the test left behind
# (unmount first: tgtd's directory is removed after this), and show its log
# when the test failed.
_fuse_cleanup()
{
	local dir=$1 mnt=$2 pid

	if [ ! -e "$dir/rc" ] && [ -s "$dir/child" ]; then
		pid=$(cat "$dir/child")
		fusermount3 -u "$mnt" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
		attach_wait_exit "$dir" >/dev/null || {
			kill -KILL "$pid" 2>/dev/null
			attach_wait_exit "$dir" >/dev/null
		}
	fi
	mountpoint -q "$mnt" && umount -l "$mnt"
	if [ "$_test_status" -ne 0 ] && [ -e "$dir/err" ]; then
		echo "--- iser-attach log ($dir/err)" >&2
		cat "$dir/err" >&2
		echo "--- end of iser-attach log" >&2
	fi
}
