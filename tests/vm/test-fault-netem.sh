#!/usr/bin/env bash
# 200 ms of netem delay each way on the link to the target, in the middle
# of fio writing and verifying through the NBD export over TCP (in the VM:
# the host kernel may lack sch_netem).  tgtd serves from a network
# namespace behind a veth pair.  The keepalive is tightened to a NOP-Out
# after 1 s without a PDU and 2 s for its answer, still five times the
# 400 ms round trip: pings must cross the delayed link while the session
# is idle, and none may declare the connection dead, under load or not.
# The delay is then removed; fio ends with every block verified.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/fault-common.sh"
requires fio python3 tc

IQN=iqn.2026-11.org.iser-attach.test:fault-netem

load_module veth
load_module sch_netem
fault_netns_setup
start_tgtd --netns "$FAULT_NS" "$FAULT_NS_ADDR"
tgt_simple_target "$IQN" 64
conf=$TGT_TMPDIR/nop.conf
printf '[global]\ninitiator_name = %s\nnop_interval = 1\nnop_timeout = 2\n' \
	iqn.2026-11.org.iser-attach.test:initiator >"$conf"
fault_attach --config "$conf" --transport tcp "$TGT_PORTAL" "$IQN"

# sent_packets: packets that left our end through its netem qdisc.
sent_packets()
{
	tc -s qdisc show dev "$FAULT_HOST_IF" | sed -n 's/^ *Sent [0-9]* bytes \([0-9]*\) pkt.*/\1/p'
}

tc qdisc add dev "$FAULT_HOST_IF" root netem delay 200ms
ip netns exec "$FAULT_NS" tc qdisc add dev "$FAULT_NS_IF" root netem delay 200ms
# Idle: all that goes out is NOP-Out pings (and the ACKs of their
# answers), one a second or so.
before=$(sent_packets)
pinged()
{
	[ "$(($(sent_packets) - before))" -ge 3 ]
}
wait_until 60 "3 packets (NOP-Out pings) to cross the idle delayed link" pinged

# Under load: the delay while fio moves 2 MiB, then none.
fault_fio netem --size=32M --rate=4m
fault_fio_moving $((2 << 20))
tc qdisc del dev "$FAULT_HOST_IF" root
ip netns exec "$FAULT_NS" tc qdisc del dev "$FAULT_NS_IF" root
fault_fio_wait netem
reconnects=$(fault_reconnects)
fault_detach
cat "$FAULT_LOG"
! grep -q "lost:" "$FAULT_LOG" || die "the delay was taken for a lost connection"
[ "$reconnects" -eq 0 ] || die "the session reconnected $reconnects times"
# Every request crossed the delayed link at least once each way.
[ "$FIO_STALL_MS" -ge 400 ] || die "longest stall $FIO_STALL_MS ms: the delay did not apply"
fault_report tcp netem-delay-200ms "$FIO_STALL_MS" "$reconnects"
