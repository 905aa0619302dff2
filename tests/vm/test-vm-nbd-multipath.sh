#!/usr/bin/env bash
# /dev/nbdN over two paths: one tgtd listening on two portals, attached
# as PORTAL1,PORTAL2 to the kernel's nbd driver. The driver gets one
# socket per path by default (one hardware queue each in
# /sys/block/nbdN/mq, two clients in iser-list); a pattern written with
# O_DIRECT through the device reads back the same, lands in the LUN, and
# both paths carried it (round robin). --connections 3 gives the driver three sockets.
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

# attachment_clients: "clients" of the one attachment in iser-list --json.
attachment_clients()
{
	local json re='"clients": ([0-9]+)'

	json=$("$ISER_LIST" --json) || return 1
	[[ $json =~ $re ]] || return 1
	echo "${BASH_REMATCH[1]}"
}

path_bytes()
{
	echo $(($(path_field "$1" bytes_read) + $(path_field "$1" bytes_written)))
}

kernel_attach --portal "$TGT_PORTAL,$TGT_PORTAL2" "$IQN" --nbd --transport tcp \
	--path-policy round-robin
[ "$(path_field 1 portal)" = "$TGT_PORTAL" ] || die "path 1 is not $TGT_PORTAL: $("$ISER_LIST" --json)"
[ "$(path_field 2 portal)" = "$TGT_PORTAL2" ] || die "path 2 is not $TGT_PORTAL2: $("$ISER_LIST" --json)"
[ "$(mq_queues "$NBD_DEV")" -eq 2 ] ||
	die "$NBD_DEV has $(mq_queues "$NBD_DEV") hardware queues, expected one per path (2)"
[ "$(attachment_clients)" -eq 2 ] ||
	die "iser-list counts $(attachment_clients) clients, expected the kernel's 2 sockets"

before1=$(path_bytes 1)
before2=$(path_bytes 2)
write_pattern "$TGT_TMPDIR/pattern" 8
# Parallel direct writes, so that requests are in flight on both sockets
# at once; round robin puts every other command on path 2.
for i in 0 1 2 3; do
	dd if="$TGT_TMPDIR/pattern" of="$NBD_DEV" bs=256K skip=$((i * 8)) seek=$((i * 8)) \
		count=8 oflag=direct status=none &
done
wait
blockdev --flushbufs "$NBD_DEV"
dev_read_cmp "$NBD_DEV" "$TGT_TMPDIR/pattern" 0
lun_cmp 1 1 "$TGT_TMPDIR/pattern" 0
moved1=$(($(path_bytes 1) - before1))
moved2=$(($(path_bytes 2) - before2))
echo "path 1 moved $moved1 bytes, path 2 $moved2"
[ "$moved1" -gt 0 ] && [ "$moved2" -gt 0 ] ||
	die "one path carried nothing: path 1 $moved1 bytes, path 2 $moved2"
[ $((moved1 + moved2)) -ge $((16 << 20)) ] ||
	die "the paths moved $((moved1 + moved2)) bytes, 8 MiB written and read needs 16 MiB"
kernel_detach

# More sockets than paths, on request.
kernel_attach --name 1 --portal "$TGT_PORTAL,$TGT_PORTAL2" "$IQN" --nbd --transport tcp \
	--connections 3
[ "$(mq_queues "$NBD_DEV_1")" -eq 3 ] ||
	die "$NBD_DEV_1 has $(mq_queues "$NBD_DEV_1") hardware queues, expected 3"
[ "$(attachment_clients)" -eq 3 ] ||
	die "iser-list counts $(attachment_clients) clients, expected 3"
dev_read_cmp "$NBD_DEV_1" "$TGT_TMPDIR/pattern" 0
kernel_detach 1
