#!/usr/bin/env bash
# Faults under fio verify=crc32c through the NBD export over iSER, against
# tgtd --lld iser on soft-RoCE: tgtd killed with SIGKILL and started
# again, the target closing the connection, 200 ms of netem delay each
# way, and the wire dropping everything for 10 s.  Every block must
# verify, and the log must show how the session came through.
#
# The wire is cut with netem loss, not by taking a link down: in Linux
# 6.1 a soft-RoCE device whose netdev goes down stops receiving for good.
# A CM message it sends meanwhile (here as tgtd closes its failed QP) fails
# locally, rxe moves its GSI QP (QP1) to the error state, and ib_mad moves
# it back to RTS for sending only: rxe keeps the responder state
# (qp->resp.state) at error, and check_type_state() in rxe_recv.c drops
# every MAD that arrives, so no connect request ever reaches tgtd again,
# from us or from any other process (rping included), until the rxe
# device is deleted and added again.  Nothing an initiator does can
# recover from that.
#
# iser_vm_common's single rxe0 would not do: rdma_rxe sends a packet whose
# destination MAC is its own straight to its receive path, so netem would
# not touch it.  Here the initiator's rxe0 sits on
# veth0 (10.99.0.1) and the target's rxe1 on veth1 (10.99.0.2), and
# policy routing sends what one address sends to the other over the veth
# pair instead of the loopback device.  (rdma_rxe in Linux 6.1 has its
# UDP socket and routes in the initial network namespace only, so the two
# ends cannot sit in namespaces of their own.)
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"
source "$top_srcdir/tests/fault-common.sh"
requires fio python3 tc rdma

IQN=iqn.2026-11.org.iser-attach.test:fault-iser
INI_ADDR=10.99.0.1
TGT_ADDR=10.99.0.2

# wire_paths: each address reaches the other through its own end of the
# pair; packets that arrive there are local again (the local table, moved
# behind these rules, delivers them).  The neighbours are fixed, as on a
# point-to-point cable: under emulation rdma_cm's address resolution did
# not complete within iser-attach's 2 s probe whenever it had to wait for
# ARP first.
wire_paths()
{
	ip route replace "$TGT_ADDR" dev veth0 src "$INI_ADDR" table 100
	ip route replace "$INI_ADDR" dev veth1 src "$TGT_ADDR" table 101
	ip neigh replace "$TGT_ADDR" dev veth0 nud permanent \
		lladdr "$(cat /sys/class/net/veth1/address)"
	ip neigh replace "$INI_ADDR" dev veth1 nud permanent \
		lladdr "$(cat /sys/class/net/veth0/address)"
}

# wire_setup: rxe0 on veth0 for us, rxe1 on veth1 for tgtd, traffic
# between them on the wire.
wire_setup()
{
	local i

	load_module veth
	load_module rdma_rxe
	load_module sch_netem
	ip link add veth0 type veth peer name veth1
	ip addr add "$INI_ADDR/24" dev veth0
	ip addr add "$TGT_ADDR/24" dev veth1
	# A source address of our own arriving from outside is fine here.
	for i in all veth0 veth1; do
		sysctl -qw "net.ipv4.conf.$i.rp_filter=0" "net.ipv4.conf.$i.accept_local=1"
	done
	ip link set veth0 up
	ip link set veth1 up
	ip rule add pref 10 iif lo to "$TGT_ADDR" lookup 100
	ip rule add pref 11 iif lo to "$INI_ADDR" lookup 101
	ip rule add pref 200 lookup local
	ip rule del pref 0
	wire_paths
	rdma link add rxe0 type rxe netdev veth0
	rdma link add rxe1 type rxe netdev veth1
	rdma link show | grep -q 'link rxe0/1 state ACTIVE' || die "rxe0 is not active"
	rdma link show | grep -q 'link rxe1/1 state ACTIVE' || die "rxe1 is not active"
	ip route get "$TGT_ADDR" | grep -q "dev veth0" || die "no route over the wire: $(ip route get "$TGT_ADDR")"
}

# tgtd as in iser-vm-common.sh, after SIGKILL: same ports, same LUN file.
# It starts again once our side has seen the connection go.
restart_tgtd()
{
	local lost

	lost=$(connections_lost)
	kill -9 "$TGT_PID"
	wait "$TGT_PID" 2>/dev/null || :
	wait_connection_lost 60 "$lost"
	tgtd -f -C "$TGT_CTL" --iscsi "portal=127.0.0.1:$TGT_PORT" >>"$TGT_TMPDIR/tgtd.log" 2>&1 &
	TGT_PID=$!
	wait_until 60 "tgtd to answer again" _tgtd_answers
	tgt_simple_target "$IQN" 64
	tgt_bind_initiator 1
}

# close_connection: tgtd drops our connection (tgtadm --op delete).
close_connection()
{
	local sid cid

	sid=$(tgt_adm --mode conn --op show --tid 1 | sed -n 's/.*Session: \([0-9]*\).*/\1/p' | head -n 1)
	cid=$(tgt_adm --mode conn --op show --tid 1 | sed -n 's/.*Connection: \([0-9]*\).*/\1/p' | head -n 1)
	if [ -z "$sid" ] || [ -z "$cid" ]; then
		die "no connection on target 1: $(tgt_adm --mode conn --op show --tid 1)"
	fi
	tgt_adm --mode conn --op delete --tid 1 --sid "$sid" --cid "$cid"
}

# netem: 200 ms of delay each way while fio moves 2 MiB.
netem()
{
	tc qdisc add dev veth0 root netem delay 200ms
	tc qdisc add dev veth1 root netem delay 200ms
	fault_fio_moving $((2 << 20))
	tc qdisc del dev veth0 root
	tc qdisc del dev veth1 root
}

# link_drop: every packet lost both ways for 10 s (the length of the
# outage, not a wait for an event), the links staying up, and for as long
# as our QP has not noticed.  Its sends go unacknowledged and fail after
# their retries (about 4 s), and connection attempts fail until the wire
# carries again.
link_drop()
{
	local lost

	lost=$(connections_lost)
	tc qdisc add dev veth0 root netem loss 100%
	tc qdisc add dev veth1 root netem loss 100%
	sleep 10
	wait_connection_lost 120 "$lost"
	fault_fio_running
	tc qdisc del dev veth0 root
	tc qdisc del dev veth1 root
}

wire_setup
start_tgtd_iser
tgt_simple_target "$IQN" 64
tgt_bind_initiator 1
fault_attach --transport iser "$TGT_ADDR:$ISER_PORT" "$IQN"

# run_fault NAME FUNCTION: fio through the export, FUNCTION once it has
# moved data (32 MiB at most 4 MiB/s: at least 8 s each way on any
# machine, room for the slow polls of a loaded VM); fio must end with
# every block verified.  Prints the report
# line and sets reconnects, those of this fault.
run_fault()
{
	local before

	before=$(fault_reconnects)
	fault_fio "$1" --size=32M --rate=4m
	fault_fio_moving
	"$2"
	fault_fio_wait "$1"
	reconnects=$(($(fault_reconnects) - before))
	fault_report iser "$1" "$FIO_STALL_MS" "$reconnects"
}

run_fault tgtd-kill-9 restart_tgtd
[ "$reconnects" -eq 1 ] || die "$reconnects reconnects across a tgtd restart, expected 1"
run_fault target-close close_connection
[ "$reconnects" -eq 1 ] || die "$reconnects reconnects after the target closed, expected 1"
run_fault netem-delay-200ms netem
[ "$reconnects" -eq 0 ] || die "the session reconnected under a 200 ms delay"
run_fault link-drop-10s link_drop
[ "$reconnects" -eq 1 ] || die "$reconnects reconnects after a 10 s link drop, expected 1"
[ "$FIO_STALL_MS" -ge 9000 ] || die "longest stall $FIO_STALL_MS ms: the drop did not hit a request"
grep -q "lost: send completion failed: transport retry counter exceeded" "$FAULT_LOG" ||
	die "the dead link was not detected by the QP's retries"
fault_detach
cat "$FAULT_LOG"
grep -q "resending [1-9][0-9]* commands" "$FAULT_LOG" ||
	die "no command was in flight at a fault"
! grep -q "NOP-Out" "$FAULT_LOG" || die "a NOP-Out ping timed out"
