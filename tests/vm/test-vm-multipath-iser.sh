#!/usr/bin/env bash
# Multipath over iSER (soft-RoCE), against LIO: one ramdisk LUN 0 on
# ISER_ADDR:3260 (TCP and iSER) and on 127.0.0.1:3260 (TCP only: no RDMA
# device routes loopback). (a) Two iSER paths on the one portal
# (--paths-per-portal 2): both sessions on rxe0 share its protection
# domain and payload pool, so a pattern written through the NBD export
# and read back compares, both paths carry reads and writes, path 2 runs
# on its own thread, and no payload byte is copied (every buffer is
# registered for both). (b) An iSER path and a TCP path (--transport
# auto on both portals): the pattern compares again, both paths carry
# I/O, each with the transport iser-list says; and QEMU's libiscsi reads
# what was written from LIO.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"
requires nbdcopy qemu-img

IQN=iqn.2026-12.org.iser-attach.test:vm-multipath-iser
WORK=$(mktemp -d)
cleanup_fn rm -rf "$WORK"
sock=$WORK/mp.sock
uri="nbd+unix:///?socket=$sock"
P1=$ISER_ADDR:$ISER_PORT
P2=127.0.0.1:$ISER_PORT
MIB=$((1 << 20))

iser_setup_rxe
lio_start
lio_ramdisk_target "$IQN" 64
lio "$LIO_TPG/portals" create 127.0.0.1 "$ISER_PORT"
[ -d "/sys/kernel/config/target/iscsi/$IQN/tpgt_1/np/$P2" ] || die "LIO has no portal $P2"

detach_clean()
{
	expect_ok_with "detached $sock" "$ISER_DETACH" "$sock" >/dev/null || die "iser-detach failed"
	[ "$(attach_wait_exit "$WORK/$1")" = 0 ] || die "iser-attach did not exit cleanly"
	! grep -q Sanitizer "$WORK/$1/err" || die "sanitizer: $(cat "$WORK/$1/err")"
}

# both_paths_moved: each path read and wrote.
both_paths_moved()
{
	for p in 1 2; do
		[ "$(path_field $p bytes_written)" -gt 0 ] ||
			die "path $p wrote nothing: $("$top_builddir/iser-list" --json)"
		[ "$(path_field $p bytes_read)" -gt 0 ] ||
			die "path $p read nothing: $("$top_builddir/iser-list" --json)"
	done
}

# pattern_roundtrip SEED: 16 MiB written through the export at 1 MiB
# requests, read back, compared.
pattern_roundtrip()
{
	head -c $((16 * MIB)) /dev/urandom >"$WORK/pattern"
	nbdcopy --request-size=$MIB "$WORK/pattern" "$uri"
	nbdcopy --request-size=$MIB "$uri" - | head -c $((16 * MIB)) | cmp - "$WORK/pattern" ||
		die "read back through both paths differs"
}

# (a) Two iSER paths on one device.
attach_start "$WORK/two" 120 "$ISER_ATTACH" --foreground --transport iser --lun 0 \
	--paths-per-portal 2 --path-policy round-robin --socket "$sock" "$P1" "$IQN"
for p in 1 2; do
	[ "$(path_field $p transport)" = iser ] || die "path $p is not iSER: $("$top_builddir/iser-list" --json)"
	[ "$(path_field $p state)" = logged-in ] || die "path $p is not logged in"
done
grep -qx "path-2" /proc/"$(cat "$WORK/two/child")"/task/*/comm || die "path 2 has no thread"
pattern_roundtrip
both_paths_moved
copied=$(attachment_field copied_bytes)
[ "$copied" -eq 0 ] || die "$copied payload bytes copied over two iSER paths on one device"
detach_clean two

# (b) An iSER path and a TCP path.
attach_start "$WORK/mixed" 120 "$ISER_ATTACH" --foreground --transport auto --lun 0 \
	--path-policy round-robin --socket "$sock" "$P1,$P2" "$IQN"
[ "$(path_field 1 transport)" = iser ] || die "path 1 is not iSER: $("$top_builddir/iser-list" --json)"
[ "$(path_field 2 transport)" = tcp ] || die "path 2 is not TCP: $("$top_builddir/iser-list" --json)"
pattern_roundtrip
both_paths_moved
copied=$(attachment_field copied_bytes)
[ "$copied" -eq 0 ] || die "$copied payload bytes copied (TCP sends from the buffer, iSER registers it)"
detach_clean mixed
qemu-img convert -O raw "iscsi://$P2/$IQN/0" "$WORK/lun.img"
cmp -n $((16 * MIB)) "$WORK/lun.img" "$WORK/pattern" || die "LIO's LUN holds other data than was written"
echo "multipath over iSER: two iSER paths and an iSER + TCP pair, data compared"
