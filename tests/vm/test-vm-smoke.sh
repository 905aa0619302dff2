#!/usr/bin/env bash
# Smoke test of the test VM and of nbd/netlink.c: the VM boots with the
# kernel drivers the other VM tests need (nbd, rdma_rxe over veth), and
# nbd-attach-test attaches a socket to /dev/nbdN over generic netlink,
# the kernel moves data written and read with O_DIRECT through it, and
# the disconnect releases the device.

source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"

ATTACH=$top_builddir/tests/vm/nbd-attach-test
SIZE_MIB=16

# check_environment: what run-vm.sh promises the command.
check_environment()
{
	[ "$(id -u)" -eq 0 ] || die "not root in the VM"
	[ "$(hostname)" = isa-vm ] || die "not in the VM"
	mountpoint -q /sys/kernel/config || die "no configfs"
	ip -6 addr show dev lo | grep -q 'inet6 ::1/128' || die "loopback is down"
	# The host root is read-only, the overlay is not.
	touch "$top_srcdir/.vm-write-test" && rm "$top_srcdir/.vm-write-test"
}

# check_rxe: soft-RoCE on one end of a veth pair, as the iSER tests use it.
check_rxe()
{
	load_module veth
	load_module rdma_rxe
	ip link add veth0 type veth peer name veth1
	ip addr add 10.99.0.1/24 dev veth0
	ip addr add 10.99.0.2/24 dev veth1
	ip link set veth0 up
	ip link set veth1 up
	rdma link add rxe0 type rxe netdev veth0
	rdma link show
	rdma link show | grep -q 'link rxe0/1 state ACTIVE .*netdev veth0' ||
		die "rxe0 is not active on veth0"
	[ -d /sys/class/infiniband/rxe0 ] || die "no /sys/class/infiniband/rxe0"
}

# check_no_driver: before modprobe nbd the family does not resolve, and
# nbd/netlink.c says what to do.
check_no_driver()
{
	expect_fail_with "the nbd kernel driver is not loaded (modprobe nbd)" \
		"$ATTACH" "$SIZE_MIB" "$TMPDIR_VM/unused.img"
}

# attach: start nbd-attach-test with its stdin on a pipe we hold; sets
# ATTACH_PID, ATTACH_IN and DEV.
attach()
{
	mkfifo "$TMPDIR_VM/in" "$TMPDIR_VM/out"
	"$ATTACH" "$SIZE_MIB" "$TMPDIR_VM/disk.img" <"$TMPDIR_VM/in" \
		>"$TMPDIR_VM/out" &
	ATTACH_PID=$!
	cleanup_fn stop_attach
	exec {ATTACH_IN}>"$TMPDIR_VM/in"
	read -r -t 60 DEV <"$TMPDIR_VM/out" || die "nbd-attach-test did not attach"
	[[ $DEV =~ ^/dev/nbd[0-9]+$ ]] || die "nbd-attach-test printed '$DEV'"
	[ -b "$DEV" ] || die "$DEV is not a block device"
}

# stop_attach: at exit, end an nbd-attach-test the test left running.
stop_attach()
{
	kill "$ATTACH_PID" 2>/dev/null || :
}

# detach: close nbd-attach-test's stdin, so it disconnects and writes the
# disk image.
detach()
{
	exec {ATTACH_IN}>&-
	wait "$ATTACH_PID" || die "nbd-attach-test failed"
}

# check_data: 4 MiB of random data written at 1 MiB with O_DIRECT reads
# back the same, and lands at 1 MiB of the server's disk with zeroes
# around it.
check_data()
{
	local pattern=$TMPDIR_VM/pattern

	head -c 4M /dev/urandom >"$pattern"
	[ "$(blockdev --getsize64 "$DEV")" -eq $((SIZE_MIB << 20)) ] ||
		die "$DEV has the wrong size"
	dd if="$pattern" of="$DEV" bs=1M seek=1 oflag=direct status=none
	blockdev --flushbufs "$DEV"
	echo 3 >/proc/sys/vm/drop_caches
	cmp <(dd if="$DEV" bs=1M skip=1 count=4 iflag=direct status=none) \
		"$pattern" || die "$DEV reads back other data"
	detach
	cmp -n 4M -i 1M:0 "$TMPDIR_VM/disk.img" "$pattern" ||
		die "the server's disk has other data"
	cmp -n 1M "$TMPDIR_VM/disk.img" /dev/zero ||
		die "data before the write changed"
	cmp -i 5M:0 -n 11M "$TMPDIR_VM/disk.img" /dev/zero ||
		die "data after the write changed"
}

TMPDIR_VM=$(mktemp -d)
cleanup_fn rm -rf "$TMPDIR_VM"

check_environment
check_rxe
check_no_driver
load_module nbd
[ -b /dev/nbd0 ] || die "no /dev/nbd0 after modprobe nbd"
attach
check_data
