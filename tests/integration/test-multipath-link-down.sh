#!/usr/bin/env bash
# Multipath, a link down: tgtd serves one LUN from a network namespace
# behind two veth pairs, one portal on each, and iser-attach reaches it
# through both (nop_interval 1 s, nop_timeout 3 s). Under fio verify
# through the NBD export, path 2's link goes down at the target's end (a
# pulled cable: our end keeps its carrier and route, what it sends is
# lost). Once the NOP-Out ping declares path 2 dead, its commands go to
# path 1 at once, path 1 keeps moving data while path 2 cannot log in,
# and once the link is up again path 2 rejoins and carries I/O again; fio
# sees no error and no verify error. Once, then persistently: the link
# goes down again every time the path rejoins, three times in one
# attachment. The longest stall fio saw is printed (the failure detection
# time, 1 + 3 s, plus the resend), for the README, not asserted.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/fault-common.sh"
requires fio python3
requires_root

IQN=iqn.2026-12.org.iser-attach.test:multipath-link-down

fault_netns_setup
fault_netns_add_link
start_tgtd --netns "$FAULT_NS" "$FAULT_NS_ADDR" "$FAULT_NS_ADDR2"
tgt_simple_target "$IQN" 64

conf=$TGT_TMPDIR/nop.conf
printf '[global]\ninitiator_name = %s\nnop_interval = 1\nnop_timeout = 3\n' \
	iqn.2026-11.org.iser-attach.test:initiator >"$conf"
fault_attach --config "$conf" --transport tcp "$TGT_PORTAL,$TGT_PORTAL2" "$IQN"
[ "$(path_field 2 portal)" = "$TGT_PORTAL2" ] || die "path 2 is not $TGT_PORTAL2"

path_bytes()
{
	echo $(($(path_field "$1" bytes_read) + $(path_field "$1" bytes_written)))
}

_path_moved()
{
	local now

	now=$(path_bytes "$1") || return 1
	[ "$now" -ge $(($2 + 1048576)) ]
}

# wait_path_moving N: until path N has moved 1 MiB more than now.
wait_path_moving()
{
	local base

	base=$(path_bytes "$1") || die "iser-list cannot say what path $1 moved"
	wait_until 120 "path $1 to move 1 MiB" _path_moved "$1" "$base"
}

# cut_path2 NAME: fio verify; once path 2 moves data, its link goes down
# until the log says the path is down and path 1 has carried 1 MiB since;
# then it comes back, and path 2 must rejoin and carry data again.
cut_path2()
{
	local downs rejoins

	downs=$(count_lines "path 2 to $TGT_PORTAL2 is down" "$FAULT_LOG")
	rejoins=$(count_lines "path 2 to $TGT_PORTAL2 rejoined" "$FAULT_LOG")
	fault_fio "$1"
	fault_fio_moving
	wait_path_moving 2
	fault_fio_running
	ip -n "$FAULT_NS" link set "$FAULT_NS_IF2" down
	wait_for_line 60 "path 2 to $TGT_PORTAL2 is down: 1 of 2 paths up" "$FAULT_LOG" "$downs"
	grep -q "connection to $TGT_PORTAL2 lost: target did not answer a NOP-Out ping" \
		"$FAULT_LOG" || die "path 2 was not declared dead by the ping: $(cat "$FAULT_LOG")"
	fault_fio_running
	wait_path_moving 1
	ip -n "$FAULT_NS" link set "$FAULT_NS_IF2" up
	wait_for_line 120 "path 2 to $TGT_PORTAL2 rejoined" "$FAULT_LOG" "$rejoins"
	fault_fio_wait "$1"
	echo "longest stall ($1): $FIO_STALL_MS ms"
}

# Once.
cut_path2 once
fault_report tcp multipath-link-down "$FIO_STALL_MS" "$(fault_reconnects)"
# Path 2 carries I/O again after it rejoined.
before=$(path_bytes 2)
fault_fio after
fault_fio_wait after
[ "$(path_bytes 2)" -gt "$before" ] || die "path 2 carried nothing after it rejoined"

# Persistently: down again every time it rejoins.
for round in 1 2 3; do
	cut_path2 "again-$round"
	fault_report tcp multipath-link-down-again-$round "$FIO_STALL_MS" "$(fault_reconnects)"
done
[ "$(count_lines "path 2 to $TGT_PORTAL2 rejoined" "$FAULT_LOG")" -ge 4 ] ||
	die "path 2 did not rejoin 4 times: $(cat "$FAULT_LOG")"
! grep -q "path 1 to $TGT_PORTAL is down" "$FAULT_LOG" || die "path 1 went down too"
fault_detach
