# shellcheck shell=bash
#
# Shared by the tests that run the scripted hostile target
# (tests/evil-target), sourced after tests/functions.sh with WORK set to
# the test's own directory:
#
#   evil_start datasn-gap [--persistent]   # sets EVIL_PID, EVIL_PORTAL
#   ... the initiator against $EVIL_PORTAL; the target logs to
#   ... $WORK/MODE.log
#
# A target left running is stopped at exit.

EVIL=$top_builddir/tests/evil-target
EVIL_IQN=iqn.2026-11.org.iser-attach.test:evil
EVIL_PID=
EVIL_MODE=

# Stop a target left running by a failed scenario.
evil_kill()
{
	[ -n "$EVIL_PID" ] || return 0
	kill "$EVIL_PID" 2>/dev/null || :
	wait "$EVIL_PID" 2>/dev/null || :
}
cleanup_fn evil_kill

_evil_listening()
{
	[ -s "$WORK/$EVIL_MODE.port" ] || ! kill -0 "$EVIL_PID" 2>/dev/null
}

# evil_start MODE [EVIL-TARGET-ARGS...]: start the target misbehaving as
# MODE (none: a correct target), its port in $WORK/MODE.port and its log in
# $WORK/MODE.log; sets EVIL_MODE, EVIL_PID and EVIL_PORTAL.
evil_start()
{
	EVIL_MODE=$1
	shift
	rm -f "$WORK/$EVIL_MODE.port"
	"$EVIL" --misbehave "$EVIL_MODE" --iqn "$EVIL_IQN" "$@" >"$WORK/$EVIL_MODE.port" \
		2>"$WORK/$EVIL_MODE.log" &
	EVIL_PID=$!
	wait_until 60 "evil-target $EVIL_MODE to print its port" _evil_listening
	[ -s "$WORK/$EVIL_MODE.port" ] || {
		cat "$WORK/$EVIL_MODE.log" >&2
		die "evil-target $EVIL_MODE did not start"
	}
	EVIL_PORTAL=127.0.0.1:$(cat "$WORK/$EVIL_MODE.port")
}
