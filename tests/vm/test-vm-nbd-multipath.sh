#!/usr/bin/env bash
# /dev/nbdN over two paths: one tgtd listening on two portals, attached
# as PORTAL1,PORTAL2 to the kernel's nbd driver with round robin. Parallel
# direct writes of a pattern read back the same through the device, land
# in the LUN, and both paths carried them; iser-list shows the paths and
# the kernel's connection.
#
# One kernel socket per path (the default: two here). Linux 6.1's driver
# queues a receive work per socket on its WQ_MEM_RECLAIM workqueue at
# connect, and when no worker is at hand (a loaded VM: seen in 3 of about
# 20 runs here) the workqueue's one rescuer thread runs the first, which
# never returns while its socket lives; the others wait behind it, so
# replies on the other sockets stay unread until a request times out and
# the driver drops that socket. iser-attach then gives the driver a new
# socket in its place (NBD_CMD_RECONFIGURE), whose receive work starts
# afresh. The block layer's timeout is set to 5 s so that such a stall
# heals within the test instead of after the default 30 s; the data must
# come through either way.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-multipath
ISER_LIST=$top_builddir/iser-list
vm_nbd_requires --two-portals
tgt_simple_target "$IQN" 32

# mq_queues DEV: the hardware queues the driver made for DEV, one per
# socket.
mq_queues()
{
	find "$(nbd_sysfs "$1")/mq" -mindepth 1 -maxdepth 1 -type d | wc -l
}

all_gone()
{
	local pid

	for pid; do
		process_gone "$pid" || return 1
	done
}

path_bytes()
{
	echo $(($(path_field "$1" bytes_read) + $(path_field "$1" bytes_written)))
}

kernel_attach --portal "$TGT_PORTAL,$TGT_PORTAL2" "$IQN" --nbd --transport tcp \
	--path-policy round-robin
nbd_io_timeout "$NBD_DEV" 5000
[ "$(path_field 1 portal)" = "$TGT_PORTAL" ] || die "path 1 is not $TGT_PORTAL: $("$ISER_LIST" --json)"
[ "$(path_field 2 portal)" = "$TGT_PORTAL2" ] || die "path 2 is not $TGT_PORTAL2: $("$ISER_LIST" --json)"
[ "$(path_field 2 state)" = logged-in ] || die "path 2 is not logged in: $("$ISER_LIST" --json)"
[ "$(mq_queues "$NBD_DEV")" -eq 2 ] ||
	die "$NBD_DEV has $(mq_queues "$NBD_DEV") hardware queues, expected 2 (one per path)"
# A socket being replaced (the stall above) is briefly not counted.
wait_until 60 "iser-list to count the kernel's two sockets" clients_are 2

before1=$(path_bytes 1)
before2=$(path_bytes 2)
write_pattern "$TGT_TMPDIR/pattern" 8
# Parallel direct writes, so that several requests are in flight at
# once; round robin puts every other command on path 2.
writers=()
for i in 0 1 2 3; do
	dd if="$TGT_TMPDIR/pattern" of="$NBD_DEV" bs=256K skip=$((i * 8)) seek=$((i * 8)) \
		count=8 oflag=direct status=none &
	writers+=($!)
done
# A stuck request fails the test here, with iser-attach's log, rather than
# at the VM's timeout.
wait_until 240 "the 4 direct writers to finish" all_gone "${writers[@]}"
for pid in "${writers[@]}"; do
	wait "$pid" || die "a direct write to $NBD_DEV failed"
done
blockdev --flushbufs "$NBD_DEV"
dev_read_cmp "$NBD_DEV" "$TGT_TMPDIR/pattern" 0
lun_cmp 1 1 "$TGT_TMPDIR/pattern" 0
moved1=$(($(path_bytes 1) - before1))
moved2=$(($(path_bytes 2) - before2))
echo "path 1 moved $moved1 bytes, path 2 $moved2;" \
	"kernel sockets replaced: $(attachment_field sockets_replaced)"
[ "$moved1" -gt 0 ] && [ "$moved2" -gt 0 ] ||
	die "one path carried nothing: path 1 $moved1 bytes, path 2 $moved2"
[ $((moved1 + moved2)) -ge $((16 << 20)) ] ||
	die "the paths moved $((moved1 + moved2)) bytes, 8 MiB written and read needs 16 MiB"
kernel_detach
