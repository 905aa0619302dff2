#!/usr/bin/env bash
# Redirects on re-login: while fio writes and verifies through the NBD
# export, the target moves to another portal. tgtd A (127.0.0.1) is told
# to redirect logins of the target to tgtd B (127.0.0.2), which serves the
# same LUN file, and our connection to A is closed: the re-login follows
# the redirect to B at once and the writes carry on there. A temporary
# redirect holds for that login only, so the next recovery starts at A
# again; a permanent one makes B the portal of every later login.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/fault-common.sh"

requires fio python3
IQN=iqn.2026-11.org.iser-attach.test:redirect
start_tgtd
tgt_simple_target "$IQN" 64
LUN_FILE=$(tgt_lun_file 1 1)

# tgtd B, on 127.0.0.2 (tgt never redirects an initiator to its own
# address, so A and B need different ones), with the same target and file.
B_PORT=$((TGT_PORT + 1))
while ! _port_free "$B_PORT"; do B_PORT=$((B_PORT + 1)); done
B_PORTAL=127.0.0.2:$B_PORT
tgtd -f -C "$B_PORT" --iscsi "portal=$B_PORTAL" >"$TGT_TMPDIR/tgtd-b.log" 2>&1 &
B_PID=$!
# tgtd ignores SIGTERM and refuses to stop while it has targets.
stop_b()
{
	"${B[@]}" --mode target --op delete --force --tid 1 >/dev/null 2>&1 || :
	tgtadm -C "$B_PORT" --op delete --mode system >/dev/null 2>&1 || kill -9 "$B_PID" 2>/dev/null
	wait "$B_PID" 2>/dev/null || :
}
B=(tgtadm -C "$B_PORT" --lld iscsi)
cleanup_fn stop_b
for ((i = 0; i < 100; i++)); do
	"${B[@]}" --mode system --op show >/dev/null 2>&1 && _port_owned "$B_PORT" "$B_PID" 1 && break
	sleep 0.1
done
"${B[@]}" --mode target --op new --tid 1 --targetname "$IQN"
"${B[@]}" --mode logicalunit --op new --tid 1 --lun 1 --backing-store "$LUN_FILE"
"${B[@]}" --mode target --op bind --tid 1 --initiator-address ALL

# redirect_a ADDRESS PORT REASON: where A sends logins ("" to stop).
redirect_a()
{
	tgt_adm --mode target --op update --tid 1 --name RedirectAddress --value "$1"
	[ -z "$1" ] && return
	tgt_adm --mode target --op update --tid 1 --name RedirectPort --value "$2"
	tgt_adm --mode target --op update --tid 1 --name RedirectReason --value "$3"
}

# drop_connections CTL: the tgtd on control port CTL closes our connection.
drop_connections()
{
	local t=(tgtadm -C "$1" --lld iscsi --mode conn) sid cid

	sid=$("${t[@]}" --op show --tid 1 | sed -n 's/.*Session: \([0-9]*\).*/\1/p' | head -n 1)
	cid=$("${t[@]}" --op show --tid 1 | sed -n 's/.*Connection: \([0-9]*\).*/\1/p' | head -n 1)
	[ -n "$sid" ] && [ -n "$cid" ] || die "no connection on tgtd $1 to drop"
	"${t[@]}" --op delete --tid 1 --sid "$sid" --cid "$cid"
}

# connected_to CTL: wait until the tgtd on control port CTL has our session.
connected_to()
{
	local i

	for ((i = 0; i < 300; i++)); do
		tgtadm -C "$1" --lld iscsi --mode conn --op show --tid 1 2>/dev/null |
			grep -q Connection && return 0
		sleep 0.1
	done
	return 1
}

fault_attach --transport tcp "$TGT_PORTAL" "$IQN"
log=$FAULT_LOG

# phase NAME FAULT...: fio verify through the export while FAULT runs.
phase()
{
	fault_fio "$1" --size=24M --rate=8m
	fault_fio_moving
	"${@:2}"
	fault_fio_wait "$1"
	fault_report tcp "redirect-$1" "$FIO_STALL_MS" "$(fault_reconnects)"
}

# A temporary redirect is followed at once...
temporary()
{
	redirect_a 127.0.0.2 "$B_PORT" Temporary
	drop_connections "$TGT_CTL"
	connected_to "$B_PORT" || die "the session did not move to B: $(cat "$log")"
}
phase temporary temporary
grep -q "login redirected temporarily to 127.0.0.2 port $B_PORT" "$log" ||
	die "no temporary redirect in the log: $(cat "$log")"
grep -q "reconnected to $B_PORTAL" "$log" || die "no reconnect to B: $(cat "$log")"

# ...and forgotten: with A no longer redirecting, the next re-login after B
# drops us goes to A.
back_home()
{
	redirect_a ""
	drop_connections "$B_PORT"
	connected_to "$TGT_CTL" || die "the session did not go back to A: $(cat "$log")"
}
phase back-home back_home
grep -q "reconnected to $TGT_PORTAL" "$log" ||
	die "the second re-login did not start at A: $(cat "$log")"

# A permanent redirect makes B the portal from now on: after B drops us,
# with A no longer redirecting, the re-login goes straight to B.
permanent()
{
	redirect_a 127.0.0.2 "$B_PORT" Permanent
	drop_connections "$TGT_CTL"
	connected_to "$B_PORT" || die "the session did not move to B: $(cat "$log")"
	redirect_a ""
	drop_connections "$B_PORT"
	connected_to "$B_PORT" || die "the session did not come back to B: $(cat "$log")"
}
phase permanent permanent
grep -q "login redirected permanently to 127.0.0.2 port $B_PORT" "$log" ||
	die "no permanent redirect in the log: $(cat "$log")"
[ "$(grep -c "login redirected" "$log")" -eq 2 ] ||
	die "a login after the permanent redirect was redirected again: $(cat "$log")"
# Four re-logins in all (the log collapses repeated lines: count them as
# the attachment does): at B after the temporary redirect, back at A, at B
# after the permanent one, and the one that went straight to B.
[ "$(fault_reconnects)" -eq 4 ] ||
	die "expected 4 reconnects, counted $(fault_reconnects): $(cat "$log")"

fault_detach
cat "$log"
