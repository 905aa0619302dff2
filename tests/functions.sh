# shellcheck shell=bash
#
# Helpers for the integration tests, sourced by each of them:
#
#   source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
#   requires iscsi-inq
#   start_tgtd
#   tgt_add_target 1 "$IQN"; tgt_add_lun 1 1 16; tgt_bind_all 1
#   "$ISA_IO" "$TGT_PORTAL" "$IQN" ...
#
# Each test starts its own tgtd on a free port with its own control socket,
# so tests run in parallel (make -j check).  Everything a test starts is
# torn down by the EXIT trap, also when the test fails or is interrupted.
# Exit status 77 tells the automake harness that the test was skipped.
# Commands are traced into the test's log unless ISA_TEST_QUIET is set.

set -e -u
[ -n "${ISA_TEST_QUIET:-}" ] || set -x

if [ -z "${top_srcdir:-}" ]; then
	top_srcdir=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
fi
top_builddir=${top_builddir:-$top_srcdir}
# The programs under test, for the scripts that source this file.
# shellcheck disable=SC2034
ISER_DISCOVER=$top_builddir/iser-discover
# shellcheck disable=SC2034
ISA_IO=$top_builddir/tests/isa-io
ISER_ATTACH=$top_builddir/iser-attach
ISER_DETACH=$top_builddir/iser-detach

# Each test gets its own configuration (a fixed initiator name, so nothing
# is generated into the system's configuration directory) and its own
# attachment state directory (so iser-detach --all sees only its own).
_test_private=$(mktemp -d /tmp/isa-test-private.XXXXXX)
printf '[global]\ninitiator_name = iqn.2026-11.org.iser-attach.test:initiator\n' \
	>"$_test_private/iser.conf"
export ISER_ATTACH_CONFIG=${ISER_ATTACH_CONFIG:-$_test_private/iser.conf}
export ISER_ATTACH_RUNDIR=$_test_private/run
TGT_RUNDIR=/var/run/tgtd

# Commands run by expect_fail_with/expect_ok_with are killed after this
# many seconds so that a hang fails the test instead of blocking make check.
ISA_CMD_TIMEOUT=${ISA_CMD_TIMEOUT:-120}

# die MESSAGE...: fail the test.
die()
{
	echo "$0: FAIL: $*" >&2
	exit 1
}

# skip MESSAGE...: skip the test.
skip()
{
	echo "$0: SKIP: $*" >&2
	exit 77
}

_cleanup_cmds=()
_test_status=0
_cleanup_cmds+=("rm -rf $(printf '%q' "$_test_private")")

# cleanup_fn CMD [ARGS...]: run CMD when the test exits, last registered
# first.
cleanup_fn()
{
	local cmd
	printf -v cmd '%q ' "$@"
	_cleanup_cmds+=("$cmd")
}

_run_cleanup()
{
	_test_status=$?
	local i
	set +e
	for ((i = ${#_cleanup_cmds[@]} - 1; i >= 0; i--)); do
		eval "${_cleanup_cmds[i]}"
	done
	_cleanup_cmds=()
	exit "$_test_status"
}
trap _run_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# requires CMD...: skip the test unless every CMD is on $PATH.
requires()
{
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null 2>&1 || skip "'$c' not found"
	done
}

# requires_run CMD [ARGS...]: skip the test unless CMD runs successfully.
requires_run()
{
	"$@" >/dev/null 2>&1 || skip "'$*' failed"
}

# requires_root: skip the test unless it runs as root (tgtd needs it).
requires_root()
{
	[ "$(id -u)" -eq 0 ] || skip "needs root"
}

# requires_ipv6: skip the test unless ::1 is configured on loopback.
requires_ipv6()
{
	requires ip
	ip -6 addr show dev lo 2>/dev/null | grep -q 'inet6 ::1/128' ||
		skip "no ::1 on the loopback interface"
}

# in_tgt_netns CMD [ARGS...]: run CMD in the network namespace our tgtd
# serves from (start_tgtd --netns), or here when it has none.
in_tgt_netns()
{
	if [ -n "${TGT_NETNS:-}" ]; then
		ip netns exec "$TGT_NETNS" "$@"
	else
		"$@"
	fi
}

# _port_free PORT: true if nothing listens on TCP PORT.
_port_free()
{
	[ -z "$(in_tgt_netns ss -Hltn "sport = :$1")" ]
}

# _port_owned PORT PID COUNT: true if PID listens on PORT with COUNT sockets.
_port_owned()
{
	[ "$(in_tgt_netns ss -Hltnp "sport = :$1" | grep -c "pid=$2,")" -ge "$3" ]
}

# _tgtd_wait_exit [TENTHS]: wait a bounded time (default 10 s) for our tgtd
# to exit, force it only if it does not go, and reap it.
_tgtd_wait_exit()
{
	local i

	for ((i = 0; i < ${1:-100}; i++)); do
		kill -0 "$TGT_PID" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$TGT_PID" 2>/dev/null; then
		echo "$0: tgtd $TGT_PID did not exit, killing it" >&2
		kill -9 "$TGT_PID" 2>/dev/null || :
	fi
	wait "$TGT_PID" 2>/dev/null || :
}

# _tgtd_shutdown: stop our tgtd, which has no targets left, through its
# control port and remove its socket files.
_tgtd_shutdown()
{
	tgtadm -C "$TGT_CTL" --op delete --mode system >/dev/null 2>&1 || :
	_tgtd_wait_exit
	rm -f "$TGT_RUNDIR/socket.$TGT_CTL" "$TGT_RUNDIR/socket.$TGT_CTL.lock"
}

# start_tgtd [--ipv6 | --two-portals | --netns NS ADDR [ADDR2]]: start a
# tgtd for this test only, listening on 127.0.0.1 (and on ::1 with --ipv6,
# on 127.0.0.2 with --two-portals) on a free port, or on ADDR (and ADDR2)
# inside the network namespace NS.  Exports TGT_PID, TGT_PORT, TGT_CTL (its control
# port, for tgtadm -C), TGT_PORTAL (127.0.0.1:PORT or ADDR:PORT),
# TGT_PORTAL6 ([::1]:PORT, with --ipv6), TGT_PORTAL2 (127.0.0.2:PORT with
# --two-portals, ADDR2:PORT with --netns), TGT_NETNS (NS, or empty) and TGT_TMPDIR (a private
# directory in /dev/shm for the LUN files).  stop_tgtd runs at exit.
# tgtadm reaches a tgtd in a namespace all the same: its control socket is
# a file.
start_tgtd()
{
	local ipv6=0 two=0 portal port try ready i sockets=1 addr=127.0.0.1 addr2=127.0.0.2

	TGT_NETNS=
	case ${1:-} in
	--ipv6)
		ipv6=1
		sockets=2
		requires_ipv6
		;;
	--two-portals)
		two=1
		sockets=2
		;;
	--netns)
		[ $# -eq 3 ] || [ $# -eq 4 ] || die "start_tgtd: --netns needs NS and ADDR"
		TGT_NETNS=$2
		addr=$3
		if [ $# -eq 4 ]; then
			two=1
			sockets=2
			addr2=$4
		fi
		;;
	esac
	requires_root
	requires tgtd tgtadm ss
	[ -z "${TGT_PID:-}" ] || die "start_tgtd: tgtd already running"
	TGT_PORT=

	TGT_TMPDIR=$(mktemp -d /dev/shm/isa-test.XXXXXX)
	cleanup_fn rm -rf "$TGT_TMPDIR"
	cleanup_fn stop_tgtd

	# Below the ephemeral range; spread by PID so parallel tests rarely
	# even try the same port.
	port=$((20000 + ($$ * 17) % 12000))
	for ((try = 0; try < 20; try++, port++)); do
		_port_free "$port" || continue
		portal="portal=$addr:$port"
		[ "$ipv6" -eq 0 ] || portal="$portal,portal=[::1]:$port"
		[ "$two" -eq 0 ] || portal="$portal,portal=$addr2:$port"
		TGT_CTL=$port
		# Both run tgtd as our child, whose PID _port_owned checks.
		if [ -n "$TGT_NETNS" ]; then
			ip netns exec "$TGT_NETNS" tgtd -f -C "$TGT_CTL" \
				--iscsi "$portal" >"$TGT_TMPDIR/tgtd.log" 2>&1 &
		else
			tgtd -f -C "$TGT_CTL" --iscsi "$portal" \
				>"$TGT_TMPDIR/tgtd.log" 2>&1 &
		fi
		TGT_PID=$!

		# tgtd stays up even when it cannot bind the portal, so wait
		# until it answers and owns the listening sockets.  It exits
		# when another tgtd holds the control port.
		ready=0
		for ((i = 0; i < 100; i++)); do
			kill -0 "$TGT_PID" 2>/dev/null || break
			if tgtadm -C "$TGT_CTL" --mode system --op show \
				   >/dev/null 2>&1 &&
			   _port_owned "$port" "$TGT_PID" "$sockets"; then
				ready=1
				break
			fi
			grep -qs 'failed to create/bind to portal' \
				"$TGT_TMPDIR/tgtd.log" && break
			sleep 0.1
		done
		if [ "$ready" -eq 1 ]; then
			TGT_PORT=$port
			TGT_PORTAL=$addr:$port
			TGT_PORTAL6=
			[ "$ipv6" -eq 0 ] || TGT_PORTAL6="[::1]:$port"
			TGT_PORTAL2=
			[ "$two" -eq 0 ] || TGT_PORTAL2="$addr2:$port"
			TGT_LISTEN=$portal
			export TGT_PID TGT_PORT TGT_CTL TGT_PORTAL TGT_PORTAL6 \
				TGT_PORTAL2 TGT_LISTEN TGT_NETNS TGT_TMPDIR
			return 0
		fi
		# Still running after the wait, tgtd holds its control port
		# (it exits at once when another tgtd has it) but could not
		# bind the portal: shut it down through the control port.
		if kill -0 "$TGT_PID" 2>/dev/null; then
			_tgtd_shutdown
		else
			wait "$TGT_PID" 2>/dev/null || :
		fi
		TGT_PID=
	done
	cat "$TGT_TMPDIR/tgtd.log" >&2
	die "start_tgtd: could not start tgtd on a free port"
}

# stop_tgtd: delete all targets of our tgtd and stop it.  When the test
# failed, tgtd's log is printed first for the test's log file.
stop_tgtd()
{
	local tid

	[ -n "${TGT_PID:-}" ] || return 0
	if [ -z "${TGT_PORT:-}" ]; then
		# Interrupted while starting: its control port may not be
		# its own yet, so it gets a signal instead.
		kill -TERM "$TGT_PID" 2>/dev/null || :
		_tgtd_wait_exit 10
		TGT_PID=
		return 0
	fi
	if [ "$_test_status" -ne 0 ] && [ "$_test_status" -ne 77 ]; then
		echo "--- tgtd log ($TGT_TMPDIR/tgtd.log)" >&2
		cat "$TGT_TMPDIR/tgtd.log" >&2
		echo "--- end of tgtd log" >&2
	fi
	for tid in $(tgt_adm --mode target --op show 2>/dev/null |
		     sed -n 's/^Target \([0-9]\+\):.*/\1/p'); do
		tgt_adm --mode target --op delete --force --tid "$tid" || :
	done
	_tgtd_shutdown
	TGT_PID=
	TGT_PORT=
}

# tgt_adm ARGS...: tgtadm against our tgtd for the iSCSI driver.
tgt_adm()
{
	tgtadm -C "$TGT_CTL" --lld iscsi "$@"
}

# tgt_add_target TID IQN: create target TID named IQN.
tgt_add_target()
{
	tgt_adm --mode target --op new --tid "$1" --targetname "$2"
}

# tgt_lun_file TID LUN: print the backing file of a LUN made by tgt_add_lun.
tgt_lun_file()
{
	echo "$TGT_TMPDIR/lun-$1-$2.img"
}

# tgt_add_lun TID LUN SIZE_MB [readonly] [bs=BLOCKSIZE]: add a LUN backed
# by a sparse file in tmpfs, optionally read-only or with another block
# size than 512.
tgt_add_lun()
{
	local tid=$1 lun=$2 size=$3 file opt ro=0
	local args=()

	shift 3
	for opt in "$@"; do
		case $opt in
		readonly) ro=1 ;;
		bs=*) args+=(--blocksize "${opt#bs=}") ;;
		*) die "tgt_add_lun: unknown option $opt" ;;
		esac
	done
	file=$(tgt_lun_file "$tid" "$lun")
	truncate -s "${size}M" "$file"
	tgt_adm --mode logicalunit --op new --tid "$tid" --lun "$lun" \
		--backing-store "$file" "${args[@]}"
	[ "$ro" -eq 0 ] || tgt_readonly "$tid" "$lun"
}

# tgt_readonly TID LUN: make a LUN write-protected.
tgt_readonly()
{
	tgt_adm --mode logicalunit --op update --tid "$1" --lun "$2" \
		--params readonly=1
}

# tgt_bind_all TID: let every initiator address log in to target TID.
tgt_bind_all()
{
	tgt_adm --mode target --op bind --tid "$1" --initiator-address ALL
}

# tgt_set_param TID KEY VALUE: set a login key the target offers/accepts,
# e.g. MaxRecvDataSegmentLength, HeaderDigest, ImmediateData.
tgt_set_param()
{
	tgt_adm --mode target --op update --tid "$1" --name "$2" --value "$3"
}

# tgt_add_chap TID USER SECRET: require the initiator to authenticate as
# USER with SECRET (target-side IncomingUser).
tgt_add_chap()
{
	tgt_adm --mode account --op new --user "$2" --password "$3"
	tgt_adm --mode account --op bind --tid "$1" --user "$2"
}

# tgt_add_mutual_chap TID USER SECRET: make the target authenticate itself
# to the initiator as USER with SECRET (target-side OutgoingUser).
tgt_add_mutual_chap()
{
	tgt_adm --mode account --op new --user "$2" --password "$3"
	tgt_adm --mode account --op bind --tid "$1" --user "$2" --outgoing
}

# tgt_add_lun_file TID LUN FILE [PARAMS]: add a LUN backed by FILE (such as
# another tgtd's LUN, for a second way to the same data), with tgtadm
# --params PARAMS when given (scsi_id=...,scsi_sn=...).
tgt_add_lun_file()
{
	local params=()

	[ -z "${4:-}" ] || params=(--params "$4")
	tgt_adm --mode logicalunit --op new --tid "$1" --lun "$2" --backing-store "$3"
	[ -z "${4:-}" ] || tgt_adm --mode logicalunit --op update --tid "$1" --lun "$2" \
		"${params[@]}"
}

# tgt_simple_target IQN SIZE_MB [LUN-OPTIONS...]: target 1 named IQN with
# LUN 1 of SIZE_MB, open to all initiators; the common case.
tgt_simple_target()
{
	local iqn=$1 size=$2

	shift 2
	tgt_add_target 1 "$iqn"
	tgt_add_lun 1 1 "$size" "$@"
	tgt_bind_all 1
}

# _run_limited OUT ERR CMD...: run CMD with a time limit, output to files.
_run_limited()
{
	local out=$1 err=$2

	shift 2
	if [ "$(type -t "$1")" = file ]; then
		timeout -k 5 "$ISA_CMD_TIMEOUT" "$@" >"$out" 2>"$err"
	else
		"$@" >"$out" 2>"$err"
	fi
}

_show_run()
{
	echo "$1"
	echo "--- stdout:"
	cat "$2"
	echo "--- stderr:"
	cat "$3"
	echo "---"
}

# expect_fail_with TEXT CMD [ARGS...]: CMD must fail cleanly (non-zero exit,
# not killed by a signal, a timeout or a sanitizer) and print TEXT on
# stderr.
expect_fail_with()
{
	local text=$1 out err rc=0

	shift
	out=$(mktemp)
	err=$(mktemp)
	_run_limited "$out" "$err" "$@" || rc=$?
	if [ "$rc" -eq 0 ] || [ "$rc" -ge 124 ] ||
	   grep -q 'Sanitizer' "$err" || ! grep -qF -- "$text" "$err"; then
		_show_run "expect_fail_with: '$*' exited $rc, expected a failure with '$text' on stderr" \
			"$out" "$err" >&2
		rm -f "$out" "$err"
		return 1
	fi
	cat "$err" >&2
	rm -f "$out" "$err"
}

# expect_ok_with TEXT CMD [ARGS...]: CMD must succeed and print TEXT on
# stdout.
expect_ok_with()
{
	local text=$1 out err rc=0

	shift
	out=$(mktemp)
	err=$(mktemp)
	_run_limited "$out" "$err" "$@" || rc=$?
	if [ "$rc" -ne 0 ] || grep -q 'Sanitizer' "$err" ||
	   ! grep -qF -- "$text" "$out"; then
		_show_run "expect_ok_with: '$*' exited $rc, expected success with '$text' on stdout" \
			"$out" "$err" >&2
		rm -f "$out" "$err"
		return 1
	fi
	cat "$out"
	rm -f "$out" "$err"
}


# path_field N KEY: KEY of path N (from 1) of the one attachment, from the
# paths array of iser-list --json (multipath).
path_field()
{
	local json re obj
	local -a objs

	json=$("$top_builddir/iser-list" --json) || return 1
	re='"paths": \[([^]]*)\]'
	[[ $json =~ $re ]] || return 1
	mapfile -t objs < <(sed 's/}, {/}\n{/g' <<<"${BASH_REMATCH[1]}")
	obj=${objs[$(($1 - 1))]:-}
	re="\"$2\": \"?([^\",}]*)"
	[[ $obj =~ $re ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

# process_gone PID: PID has exited: no such process, or a zombie (whether
# its new parent reaps it is not ours to wait for). The state is read in
# one go: a process reaped between two looks would read as neither.
process_gone()
{
	local stat

	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
	[ -z "$stat" ] && return 0
	stat=${stat##*) }
	case ${stat%% *} in
	Z | X) return 0 ;;
	esac
	return 1
}

# wait_until SECONDS WHAT CMD [ARGS...]: run CMD every 0.1 s until it
# succeeds; fail the test, saying it waited SECONDS s for WHAT, when it has
# not by then (wall clock, however slow the machine runs CMD).  Deadlines
# are generous: they only turn a hang into a failure that says what hung.
wait_until()
{
	local limit=$1 what=$2 deadline

	shift 2
	deadline=$((SECONDS + limit))
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || die "waited $limit s for $what"
		sleep 0.1
	done
}

# count_lines PATTERN FILE: how many lines of FILE match PATTERN (grep -E).
count_lines()
{
	grep -Ec -- "$1" "$2" 2>/dev/null || :
}

# _more_lines PATTERN FILE N: true once more than N lines of FILE match.
_more_lines()
{
	[ "$(count_lines "$1" "$2")" -gt "$3" ]
}

# wait_for_line SECONDS PATTERN FILE [BEFORE]: wait until FILE has more
# than BEFORE (default 0) lines matching PATTERN: a log line the test needs
# to have been written before it goes on.
wait_for_line()
{
	wait_until "$1" "a line matching '$2' in $(basename "$3") (beyond ${4:-0})" \
		_more_lines "$2" "$3" "${4:-0}"
}

# _line_or_gone PID PATTERN FILE N: true once FILE has more than N lines
# matching PATTERN; fails the test, showing FILE, once PID has ended
# without writing one (looked at again after, for a line written just
# before the end).
_line_or_gone()
{
	_more_lines "$2" "$3" "$4" && return 0
	process_gone "$1" || return 1
	_more_lines "$2" "$3" "$4" && return 0
	die "process $1 ended before it wrote a line matching '$2' to $(basename "$3"): $(cat "$3")"
}

# wait_for_line_of PID SECONDS PATTERN FILE [BEFORE]: wait_for_line for a
# line that process PID writes; when PID ends first, fail at once with
# what it wrote, not after SECONDS.
wait_for_line_of()
{
	local pid=$1

	shift
	wait_until "$1" "a line matching '$2' in $(basename "$3") (beyond ${4:-0})" \
		_line_or_gone "$pid" "$2" "$3" "${4:-0}"
}

# attachment_field KEY...: the values of KEYs (summed) of the one
# attachment of this test, from iser-list --json, which reads them from
# the serving process; fails while it cannot say.  Parsed by bash itself:
# a poll loop that starts one process per turn stays quick in the VM,
# where each process start costs a good part of a second.
attachment_field()
{
	local json k sum=0 re

	json=$("$top_builddir/iser-list" --json) || return 1
	re='"export".*"export"'
	if [[ $json =~ $re ]] || [[ $json != *'"export"'* ]]; then
		echo "expected one attachment, iser-list shows: $json" >&2
		return 1
	fi
	for k in "$@"; do
		re="\"$k\": ([0-9]+)[,}]"
		if ! [[ $json =~ $re ]]; then
			echo "iser-list has no number for $k: $json" >&2
			return 1
		fi
		sum=$((sum + BASH_REMATCH[1]))
	done
	echo "$sum"
}

# attachment_bytes: payload bytes read plus written so far by the one
# attachment of this test.
attachment_bytes()
{
	attachment_field bytes_read bytes_written
}

_moved_since()
{
	local now

	kill -0 "$3" 2>/dev/null || die "$4 ended before it had moved $2 bytes"
	now=$(attachment_bytes) || return 1
	[ "$now" -ge $(($1 + $2)) ]
}

# wait_io_moving PID WHAT [BYTES]: wait until the attachment has moved
# BYTES (default 1 MiB) more while PID (the I/O, named WHAT) keeps running:
# the I/O has demonstrably started, so a fault injected next lands in the
# middle of it.  Dies if PID ends first.
wait_io_moving()
{
	local base

	base=$(attachment_bytes) || die "iser-list cannot say what the attachment moved"
	wait_until 120 "$2 to move ${3:-1048576} bytes through the attachment" \
		_moved_since "$base" "${3:-1048576}" "$1" "$2"
}

# connections_lost: how many connections the one attachment of this test
# has lost so far. (Not its log: a line said again within a minute is
# collapsed there.)
connections_lost()
{
	attachment_field connections_lost
}

_lost_more_than()
{
	local now

	now=$(connections_lost) || return 1
	[ "$now" -gt "$1" ]
}

# wait_connection_lost SECONDS BEFORE: wait until the attachment has lost
# more than BEFORE connections (take BEFORE from connections_lost before
# the fault).
wait_connection_lost()
{
	wait_until "$1" "the attachment to see its connection lost" _lost_more_than "$2"
}

# tgtd_crash_restart [--attached | LOG]: kill our tgtd with SIGKILL, the way
# a crash ends it, and start it again on the same portal, control port and
# log (in its namespace, if it has one). With --attached, tgtd starts again
# only once the one attachment of the test counts the connection lost;
# with LOG, the log of a library user (isa-io) that loses its connection
# once, once LOG says so. Either way the first attempts to log in again
# meet a closed port. Its targets are gone: the caller sets them up again.
tgtd_crash_restart()
{
	local lost

	if [ "${1:-}" = --attached ]; then
		lost=$(connections_lost) || die "no attachment to count the loss"
	elif [ -n "${1:-}" ]; then
		lost=$(count_lines 'connection to .* lost' "$1")
	fi
	kill -9 "$TGT_PID"
	wait "$TGT_PID" 2>/dev/null || :
	if [ "${1:-}" = --attached ]; then
		wait_connection_lost 60 "$lost"
	elif [ -n "${1:-}" ]; then
		wait_for_line 60 'connection to .* lost' "$1" "$lost"
	fi
	tgtd_start_again
}

# tgtd_start_again: start our tgtd, which is gone (killed), again on the
# same portals, control port and log, without targets.
tgtd_start_again()
{
	local ns=()

	[ -z "${TGT_NETNS:-}" ] || ns=(ip netns exec "$TGT_NETNS")
	"${ns[@]}" tgtd -f -C "$TGT_CTL" --iscsi "${TGT_LISTEN:-portal=$TGT_PORTAL}" \
		>>"$TGT_TMPDIR/tgtd.log" 2>&1 &
	TGT_PID=$!
	export TGT_PID
	wait_until 60 "tgtd to answer again" _tgtd_answers
}

_tgtd_answers()
{
	kill -0 "$TGT_PID" 2>/dev/null || die "tgtd did not come back: $(tail -n 5 "$TGT_TMPDIR/tgtd.log")"
	tgtadm -C "$TGT_CTL" --mode system --op show >/dev/null 2>&1
}

# attach_start DIR WAIT_S CMD...: run CMD (iser-attach --foreground ...) in
# the background under a small wrapper shell, with its stdout in DIR/out,
# its stderr in DIR/err, its PID in DIR/child and, once it exits, its exit
# status in DIR/rc. The test keeps CMD's stderr (sanitizer reports, the
# statistics it logs at exit) and status, and the wrapper reaps it, so that
# iser-detach, which waits until the serving process is gone, is not left
# waiting on a zombie child of the test (so call it directly, not in a
# command substitution, whose subshell would own the wrapper). Waits up to
# WAIT_S seconds for CMD's line of output (printed once the export serves,
# so complete) and sets ATTACH_LINE to it; dies with CMD's stderr if CMD
# exits first or stays silent.
attach_start()
{
	local dir=$1 wait_s=$2 i

	shift 2
	mkdir -p "$dir"
	: >"$dir/out"
	bash -c '"$@" >"$0/out" 2>"$0/err" & echo $! >"$0/child"
		 wait $!; echo $? >"$0/rc.tmp"; mv "$0/rc.tmp" "$0/rc"' "$dir" "$@" &
	echo $! >"$dir/wrapper"
	for ((i = 0; i < wait_s * 10; i++)); do
		[ -s "$dir/out" ] && [ -s "$dir/child" ] && break
		if [ -e "$dir/rc" ]; then
			cat "$dir/err" >&2
			die "$(basename "$1") exited $(cat "$dir/rc") before it printed its export"
		fi
		sleep 0.1
	done
	[ -s "$dir/out" ] || die "$(basename "$1") printed nothing in $wait_s s"
	ATTACH_LINE=$(cat "$dir/out")
}

# attach_wait_exit DIR: wait up to 30 s for the command attach_start ran in
# DIR to exit; print its exit status (fails if it is still running).
attach_wait_exit()
{
	local i

	for ((i = 0; i < 300; i++)); do
		[ -e "$1/rc" ] && break
		sleep 0.1
	done
	[ -e "$1/rc" ] || return 1
	wait "$(cat "$1/wrapper")" 2>/dev/null || :
	cat "$1/rc"
}

# _tgt_swap: exchange the first tgtd's TGT_* variables with the second's
# (TGT2_*), so that every helper above works on the second.
_tgt_swap()
{
	local v t

	for v in PID PORT CTL PORTAL PORTAL2 LISTEN TMPDIR; do
		eval "t=\${TGT_$v:-}; TGT_$v=\${TGT2_$v:-}; TGT2_$v=\$t"
	done
}

# with_second_tgtd CMD [ARGS...]: run CMD (a helper: tgt_adm,
# tgt_add_target, tgtd_crash_restart...) against the second tgtd.
with_second_tgtd()
{
	local rc=0

	_tgt_swap
	"$@" || rc=$?
	_tgt_swap
	return "$rc"
}

# start_second_tgtd: start another tgtd for this test, listening on
# 127.0.0.2 on a free port, with its log in its own directory under
# TGT_TMPDIR. Exports TGT2_PID, TGT2_PORT, TGT2_CTL, TGT2_PORTAL and
# TGT2_TMPDIR; with_second_tgtd runs the helpers against it. It stops at
# exit, before the first.
start_second_tgtd()
{
	local port try i

	[ -n "${TGT_PID:-}" ] || die "start_second_tgtd: start_tgtd first"
	[ -z "${TGT2_PID:-}" ] || die "start_second_tgtd: already running"
	TGT2_TMPDIR=$TGT_TMPDIR/tgtd2
	mkdir -p "$TGT2_TMPDIR"
	port=$((TGT_PORT + 1 + ($$ % 97)))
	for ((try = 0; try < 20; try++, port++)); do
		_port_free "$port" || continue
		tgtd -f -C "$port" --iscsi "portal=127.0.0.2:$port" \
			>"$TGT2_TMPDIR/tgtd.log" 2>&1 &
		TGT2_PID=$!
		for ((i = 0; i < 100; i++)); do
			kill -0 "$TGT2_PID" 2>/dev/null || break
			if tgtadm -C "$port" --mode system --op show >/dev/null 2>&1 &&
			   _port_owned "$port" "$TGT2_PID" 1; then
				TGT2_PORT=$port
				TGT2_CTL=$port
				TGT2_PORTAL=127.0.0.2:$port
				TGT2_PORTAL2=
				TGT2_LISTEN=portal=$TGT2_PORTAL
				export TGT2_PID TGT2_PORT TGT2_CTL TGT2_PORTAL TGT2_TMPDIR
				cleanup_fn with_second_tgtd stop_tgtd
				return 0
			fi
			sleep 0.1
		done
		if kill -0 "$TGT2_PID" 2>/dev/null; then
			tgtadm -C "$port" --op delete --mode system >/dev/null 2>&1 ||
				kill -9 "$TGT2_PID" 2>/dev/null || :
		fi
		wait "$TGT2_PID" 2>/dev/null || :
		TGT2_PID=
	done
	die "start_second_tgtd: could not start tgtd on 127.0.0.2"
}
