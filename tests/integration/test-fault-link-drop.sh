#!/usr/bin/env bash
# The network link to the target goes down for 10 s in the middle of fio
# writing and verifying through the NBD export over TCP.  tgtd serves from
# a network namespace behind a veth pair.  The link goes down at the
# target's end: ours loses its carrier, as when a cable is pulled, keeps
# its route and drops what it sends.  (Taking our end down instead would
# remove the route, and connection attempts would follow the default
# route out of the machine.)
#
# (1) With the default keepalive (a NOP-Out after 5 s without a PDU from
# the target, the connection dead when that is not answered within 15 s)
# the connection outlives the outage: TCP retransmits what was lost once
# the link is back (its backoff makes that about 12.6 s after the first
# loss), nothing reconnects, and fio sees one long stall and no error.
# (2) With nop_timeout 3 s the ping declares the connection dead during
# the outage; logins fail while there is no route, the first one after
# the link is back succeeds, the commands in flight are sent again, and
# fio again sees a stall and no error.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/fault-common.sh"
requires fio python3
requires_root

IQN=iqn.2026-11.org.iser-attach.test:fault-link-drop
DROP_S=10

fault_netns_setup
start_tgtd --netns "$FAULT_NS" "$FAULT_NS_ADDR"
tgt_simple_target "$IQN" 64

# link_drop NAME [PATTERN]: fio through the export; once it moves data,
# the link goes down for DROP_S seconds (the length of the outage, not a
# wait for an event) and, with PATTERN, for as long as the initiator's log
# has no line matching PATTERN; then fio must end with every block
# verified.
link_drop()
{
	fault_fio "$1"
	fault_fio_moving
	ip -n "$FAULT_NS" link set "$FAULT_NS_IF" down
	sleep "$DROP_S"
	[ -z "${2:-}" ] || wait_for_line 120 "$2" "$FAULT_LOG"
	fault_fio_running
	ip -n "$FAULT_NS" link set "$FAULT_NS_IF" up
	fault_fio_wait "$1"
	# No request could complete during the outage.
	[ "$FIO_STALL_MS" -ge $(((DROP_S - 1) * 1000)) ] ||
		die "longest stall $FIO_STALL_MS ms: the outage did not hit a request"
}

# (1) Default keepalive: the TCP connection survives.
fault_attach --transport tcp "$TGT_PORTAL" "$IQN"
link_drop default
reconnects=$(fault_reconnects)
fault_detach
cat "$FAULT_LOG"
[ "$reconnects" -eq 0 ] || die "the session reconnected after a $DROP_S s outage"
grep -q "reconnects 0" "$FAULT_LOG" || die "no statistics in the log"
fault_report tcp link-drop-${DROP_S}s "$FIO_STALL_MS" "$reconnects"

# (2) A keepalive shorter than the outage: recovery by a new login.
conf=$TGT_TMPDIR/nop.conf
printf '[global]\ninitiator_name = %s\nnop_interval = 1\nnop_timeout = 3\n' \
	iqn.2026-11.org.iser-attach.test:initiator >"$conf"
fault_attach --config "$conf" --transport tcp "$TGT_PORTAL" "$IQN"
link_drop nop "reconnect to $TGT_PORTAL failed"
reconnects=$(fault_reconnects)
fault_detach
cat "$FAULT_LOG"
grep -q "connection to $TGT_PORTAL lost: target did not answer a NOP-Out ping within 3 s" \
	"$FAULT_LOG" || die "the NOP-Out ping did not declare the connection dead"
grep -q "reconnect to $TGT_PORTAL failed" "$FAULT_LOG" ||
	die "no login failed while the link was down"
[ "$reconnects" -eq 1 ] || die "expected 1 reconnect, saw $reconnects"
grep -q "resending [1-9][0-9]* commands" "$FAULT_LOG" ||
	die "no command was in flight at the fault"
fault_report tcp link-drop-${DROP_S}s-nop-timeout-3s "$FIO_STALL_MS" "$reconnects"
