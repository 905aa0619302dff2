# shellcheck shell=bash
# Shared by the NBD export tests: attach a LUN of our tgtd with iser-attach
# serving NBD on a unix socket, and detach it again.
#
#   start_tgtd
#   tgt_simple_target "$IQN" 64
#   nbd_attach "$IQN"            # sets NBD_SOCK, NBD_URI, NBD_PID
#   nbdcopy ... "$NBD_URI"
#   nbd_detach                   # checks the clean exit and the log
#
# iser-attach runs with --foreground under attach_start (tests/functions.sh).

# shellcheck disable=SC2034
ISER_ATTACH=$top_builddir/iser-attach
ISER_DETACH=$top_builddir/iser-detach
NBD_BAD_REQUESTS=$top_builddir/tests/nbd-bad-requests
NBD_CRASH_CLIENT=$top_builddir/tests/nbd-crash-client

# nbd_requires [START_TGTD_OPTIONS]: skip unless iser-attach and
# iser-detach are built and tgtd can run (start_tgtd with the options:
# --two-portals); the state files go to the test's own directory.
nbd_requires()
{
	[ -x "$ISER_ATTACH" ] || skip "$ISER_ATTACH not built"
	[ -x "$ISER_DETACH" ] || skip "$ISER_DETACH not built"
	start_tgtd "$@"
	ISER_ATTACH_RUNDIR=$TGT_TMPDIR/run
	export ISER_ATTACH_RUNDIR
}

# A command iser-attach runs under (valgrind, say), or nothing.
NBD_WRAPPER=()

# nbd_attach [--name N] IQN [iser-attach options...]: serve the target's
# LUN on the unix socket $TGT_TMPDIR/nbdN.sock (N defaults to 0).  Waits
# until iser-attach printed its URI, checks that the URI is exactly the
# socket's, and sets NBD_SOCK, NBD_URI and NBD_PID (also as NBD_SOCK_N,
# NBD_URI_N, NBD_PID_N for tests that attach more than once).  The
# attachment is detached at exit if the test did not do it.
nbd_attach()
{
	local n=0 iqn dir line

	if [ "$1" = --name ]; then
		n=$2
		shift 2
	fi
	iqn=$1
	shift
	dir=$TGT_TMPDIR/attach$n
	NBD_SOCK=$TGT_TMPDIR/nbd$n.sock
	# Attaching N again after a detach starts from scratch.
	if [ -d "$dir" ]; then
		[ -e "$dir/rc" ] || die "attachment $n is still attached"
		rm -rf "$dir"
	else
		cleanup_fn _nbd_cleanup "$dir" "$NBD_SOCK"
	fi
	attach_start "$dir" 30 "${NBD_WRAPPER[@]}" "$ISER_ATTACH" --foreground \
		--socket "$NBD_SOCK" --pid-file "$dir/pid" "$@" "$TGT_PORTAL" "$iqn"
	line=$ATTACH_LINE
	[ "$line" = "nbd+unix:///?socket=$NBD_SOCK" ] ||
		die "iser-attach printed '$line', expected 'nbd+unix:///?socket=$NBD_SOCK'"
	[ -S "$NBD_SOCK" ] || die "$NBD_SOCK is not a socket"
	[ "$(stat -c %a "$NBD_SOCK")" = 600 ] ||
		die "$NBD_SOCK has mode $(stat -c %a "$NBD_SOCK"), expected 600"
	NBD_URI=$line
	NBD_PID=$(cat "$dir/child")
	[ "$(cat "$dir/pid")" = "$NBD_PID" ] ||
		die "the pid file says '$(cat "$dir/pid")', iser-attach is $NBD_PID"
	printf -v "NBD_SOCK_$n" %s "$NBD_SOCK"
	printf -v "NBD_URI_$n" %s "$NBD_URI"
	printf -v "NBD_PID_$n" %s "$NBD_PID"
}

# _nbd_check_log DIR: the attachment's stderr must be free of sanitizer
# reports.
_nbd_check_log()
{
	if grep -q Sanitizer "$1/err"; then
		cat "$1/err" >&2
		return 1
	fi
}

# nbd_detach [N]: detach attachment N (default 0) with iser-detach, which
# must report it, and check that iser-attach exited 0 with a clean log and
# removed its socket.  The log stays in $TGT_TMPDIR/attachN/err.
nbd_detach()
{
	local n=${1:-0} dir sock out rc

	dir=$TGT_TMPDIR/attach$n
	sock=$TGT_TMPDIR/nbd$n.sock
	out=$(expect_ok_with "detached $sock" "$ISER_DETACH" "$sock") ||
		die "iser-detach $sock failed"
	[ "$out" = "detached $sock" ] ||
		die "iser-detach printed '$out', expected 'detached $sock'"
	rc=$(attach_wait_exit "$dir") || die "iser-attach did not exit after iser-detach"
	[ "$rc" -eq 0 ] || die "iser-attach exited $rc after iser-detach"
	_nbd_check_log "$dir" || die "iser-attach reported a sanitizer error"
	[ ! -e "$sock" ] || die "$sock is still there after the detach"
}

# nbd_stop [N]: stop attachment N with SIGTERM, the way a service manager
# does, and check that it exited 0 with a clean log.
nbd_stop()
{
	local n=${1:-0} dir rc

	dir=$TGT_TMPDIR/attach$n
	kill -TERM "$(cat "$dir/child")"
	rc=$(attach_wait_exit "$dir") || die "iser-attach did not exit on SIGTERM"
	[ "$rc" -eq 0 ] || die "iser-attach exited $rc on SIGTERM"
	_nbd_check_log "$dir" || die "iser-attach reported a sanitizer error"
}

# nbd_alive [N]: fail the test unless attachment N still serves.
nbd_alive()
{
	local dir=$TGT_TMPDIR/attach${1:-0}

	[ ! -e "$dir/rc" ] || {
		cat "$dir/err" >&2
		die "iser-attach exited $(cat "$dir/rc")"
	}
	kill -0 "$(cat "$dir/child")" || die "iser-attach is gone"
}

# _nbd_cleanup DIR SOCK: at exit, take down an attachment the test left
# behind: iser-detach first, then signals.  Its log goes to the test's log.
_nbd_cleanup()
{
	local dir=$1 sock=$2 pid

	if [ ! -e "$dir/rc" ] && [ -s "$dir/child" ]; then
		pid=$(cat "$dir/child")
		timeout -k 5 30 "$ISER_DETACH" "$sock" >&2 ||
			kill -TERM "$pid" 2>/dev/null
		attach_wait_exit "$dir" >/dev/null || {
			kill -KILL "$pid" 2>/dev/null
			attach_wait_exit "$dir" >/dev/null
		}
	fi
	if [ "$_test_status" -ne 0 ] && [ -e "$dir/err" ]; then
		echo "--- iser-attach log ($dir/err)" >&2
		cat "$dir/err" >&2
		echo "--- end of iser-attach log" >&2
	fi
}
