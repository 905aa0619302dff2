#!/usr/bin/env bash
# Multipath against the kernel's target (LIO), whose SendTargets answer
# lists every portal of the target portal group (tgtd lists only the one
# asked on): a ramdisk LUN 0 on 127.0.0.1:3260 and 127.0.0.2:3260.
# iser-attach --all-portals given only the first finds the second and
# opens a path there (checked in iser-list: two paths, both portals);
# a pattern written through the export reads back the same, both paths
# carried I/O, and an independent initiator (QEMU's libiscsi driver)
# reads the pattern from LIO. A second attach given both portals adds
# nothing twice.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"

requires targetcli dbus-daemon qemu-img nbdcopy
IQN=iqn.2026-11.org.iser-attach.test:vm-multipath-lio
P1=127.0.0.1:3260
P2=127.0.0.2:3260
SIZE_MIB=16
TPG=/iscsi/$IQN/tpg1
ISER_LIST=$top_builddir/iser-list
WORK=$(mktemp -d)
cleanup_fn rm -rf "$WORK"
sock=$WORK/mp.sock
uri="nbd+unix:///?socket=$sock"

lio_teardown()
{
	targetcli clearconfig confirm=True >&2 || :
}

# lio_setup: as test-vm-nbd-lio.sh's, with two portals in one portal
# group; checked in configfs, targetcli's exit status saying nothing.
lio_setup()
{
	local cfg=/sys/kernel/config/target/iscsi/$IQN/tpgt_1

	mkdir -p /run/dbus
	dbus-daemon --system --fork
	load_module iscsi_target_mod
	cleanup_fn lio_teardown
	targetcli <<-EOF
		/backstores/ramdisk create name=rd0 size=${SIZE_MIB}M
		/iscsi create $IQN
		$TPG/portals delete 0.0.0.0 3260
		$TPG/portals create 127.0.0.1 3260
		$TPG/portals create 127.0.0.2 3260
		$TPG/luns create /backstores/ramdisk/rd0
		$TPG set attribute authentication=0 generate_node_acls=1 demo_mode_write_protect=0 cache_dynamic_acls=1
	EOF
	[ -d "$cfg/np/$P1" ] && [ -d "$cfg/np/$P2" ] || die "LIO lacks a portal: $(ls "$cfg/np")"
	[ -d "$cfg/lun/lun_0" ] || die "LIO's target has no LUN 0"
	[ "$(cat "$cfg/enable")" -eq 1 ] || die "LIO's target is not enabled"
}

path_count()
{
	"$ISER_LIST" --json | grep -o '"outstanding"' | wc -l
}

detach_clean()
{
	expect_ok_with "detached $sock" "$ISER_DETACH" "$sock" >/dev/null || die "iser-detach failed"
	[ "$(attach_wait_exit "$WORK/$1")" = 0 ] || die "iser-attach did not exit cleanly"
	! grep -q Sanitizer "$WORK/$1/err" || die "sanitizer: $(cat "$WORK/$1/err")"
}

lio_setup
expect_ok_with "$P2" "$ISER_DISCOVER" "$P1"

attach_start "$WORK/all" 120 "$ISER_ATTACH" --foreground --transport tcp --lun 0 \
	--all-portals --path-policy round-robin --socket "$sock" "$P1" "$IQN"
grep -q -- "--all-portals: SendTargets reports $P2" "$WORK/all/err" ||
	die "no second portal found: $(cat "$WORK/all/err")"
[ "$(path_count)" -eq 2 ] || die "not 2 paths: $("$ISER_LIST" --json)"
[ "$(path_field 1 portal)" = "$P1" ] || die "path 1 is not $P1: $("$ISER_LIST" --json)"
[ "$(path_field 2 portal)" = "$P2" ] || die "path 2 is not $P2: $("$ISER_LIST" --json)"
head -c $((8 << 20)) /dev/urandom >"$WORK/pattern"
nbdcopy "$WORK/pattern" "$uri"
nbdcopy "$uri" - | head -c $((8 << 20)) | cmp - "$WORK/pattern" ||
	die "read back through both paths differs"
for p in 1 2; do
	[ "$(path_field $p bytes_written)" -gt 0 ] || die "path $p wrote nothing"
	[ "$(path_field $p bytes_read)" -gt 0 ] || die "path $p read nothing"
done
detach_clean all
qemu-img convert -O raw "iscsi://$P2/$IQN/0" "$WORK/lun.img"
cmp -n $((8 << 20)) "$WORK/lun.img" "$WORK/pattern" ||
	die "LIO's LUN holds other data than was written"

# Both given, in the other spelling of the port: nothing is added twice.
attach_start "$WORK/both" 120 "$ISER_ATTACH" --foreground --transport tcp --lun 0 \
	--all-portals --socket "$sock" "127.0.0.1,127.0.0.2:3260" "$IQN"
[ "$(path_count)" -eq 2 ] || die "a portal was added twice: $("$ISER_LIST" --json)"
! grep -q "SendTargets reports" "$WORK/both/err" ||
	die "a given portal was taken for a new one: $(cat "$WORK/both/err")"
nbdcopy "$uri" - | head -c $((8 << 20)) | cmp - "$WORK/pattern" || die "read back differs"
detach_clean both
