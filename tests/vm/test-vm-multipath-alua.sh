#!/usr/bin/env bash
# ALUA against LIO: one ramdisk LUN 0 behind two target port groups, an
# iSER path (portal group 1 on ISER_ADDR:3260, in LIO's default target
# port group) and a TCP path (portal group 2 on 127.0.0.1:3260, in target
# port group "gp2"). The asymmetric access states are set in LIO's
# configfs, as a storage array changes them; LIO tells each I_T nexus with
# UNIT ATTENTION 2A/06, after which iser-attach reads them again (REPORT
# TARGET PORT GROUPS) and iser-list shows each path's. (a) Both
# active/optimized: both paths carry I/O. (b) The iSER path's group
# active/non-optimized: the whole pattern goes through the TCP path.
# (c) The iSER path's group optimized again, the TCP path's standby: the
# pattern goes through the iSER path only. Each pattern reads back the
# same through the export, and QEMU's libiscsi reads it from LIO.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"
requires nbdcopy qemu-img qemu-io

IQN=iqn.2026-12.org.iser-attach.test:vm-multipath-alua
WORK=$(mktemp -d)
cleanup_fn rm -rf "$WORK"
sock=$WORK/alua.sock
uri="nbd+unix:///?socket=$sock"
P1=$ISER_ADDR:$ISER_PORT
P2=127.0.0.1:$ISER_PORT
MIB=$((1 << 20))
ISER_LIST=$top_builddir/iser-list
CFG=/sys/kernel/config/target

iser_setup_rxe
lio_start
lio_ramdisk_target "$IQN" 64

# The second portal group, on the same LUN, straight in configfs: one
# relative target port more, in a target port group of its own.
lio_second_tpg()
{
	local tpg=$CFG/iscsi/$IQN/tpgt_2 dev

	dev=$(echo "$CFG"/core/rd_mcp_*/rd0)
	[ -d "$dev" ] || die "no configfs directory for the ramdisk rd0"
	mkdir "$tpg" "$tpg/lun/lun_0"
	ln -s "$dev" "$tpg/lun/lun_0/rd0"
	mkdir "$tpg/np/$P2"
	echo 0 >"$tpg/attrib/authentication"
	echo 1 >"$tpg/attrib/generate_node_acls"
	echo 1 >"$tpg/attrib/cache_dynamic_acls"
	echo 0 >"$tpg/attrib/demo_mode_write_protect"
	echo 1 >"$tpg/enable"
	mkdir "$dev/alua/gp2"
	echo 2 >"$dev/alua/gp2/tg_pt_gp_id"
	echo gp2 >"$tpg/lun/lun_0/alua_tg_pt_gp"
	grep -q '^TG Port Alias: gp2' "$tpg/lun/lun_0/alua_tg_pt_gp" ||
		die "LUN 0 of portal group 2 is not in gp2: $(cat "$tpg/lun/lun_0/alua_tg_pt_gp")"
	ALUA_GP1=$dev/alua/default_tg_pt_gp
	ALUA_GP2=$dev/alua/gp2
}

# set_alua GROUP_DIR STATE: a new asymmetric access state for the group
# (0 active/optimized, 1 active/non-optimized, 2 standby), as LIO has it.
set_alua()
{
	echo "$2" >"$1/alua_access_state" || die "LIO refused ALUA state $2 for $1"
	[ "$(cat "$1/alua_access_state")" -eq "$2" ] ||
		die "$1 is in state $(cat "$1/alua_access_state"), not $2"
}

# alua_seen A1 A2: a small read through the export (the command that
# meets LIO's UNIT ATTENTION), then true once iser-list shows path 1 in
# ALUA state A1 and path 2 in A2.
alua_seen()
{
	qemu-io -f raw -r -c "read 0 4k" "$uri" >/dev/null ||
		die "a read through the export failed while the states changed"
	[ "$(path_field 1 alua)" = "$1" ] && [ "$(path_field 2 alua)" = "$2" ]
}

wait_alua()
{
	wait_until 60 "paths 1 and 2 in ALUA states $1 and $2" alua_seen "$1" "$2"
}

path_bytes()
{
	echo $(($(path_field "$1" bytes_read) + $(path_field "$1" bytes_written)))
}

# pattern_through N: a 16 MiB pattern written through the export and read
# back, compared; path N must carry it all, the other path no data.
pattern_through()
{
	local other=$((3 - $1)) b1 b2 moved idle

	b1=$(path_bytes "$1")
	b2=$(path_bytes "$other")
	head -c $((16 * MIB)) /dev/urandom >"$WORK/pattern"
	nbdcopy --request-size=$MIB "$WORK/pattern" "$uri"
	nbdcopy --request-size=$MIB "$uri" - | head -c $((16 * MIB)) | cmp - "$WORK/pattern" ||
		die "read back through the export differs"
	moved=$(($(path_bytes "$1") - b1))
	idle=$(($(path_bytes "$other") - b2))
	echo "path $1 moved $moved bytes, path $other $idle"
	[ "$moved" -ge $((32 * MIB)) ] || die "path $1 moved only $moved bytes of 32 MiB"
	# REPORT TARGET PORT GROUPS may go on either path: a few KiB.
	[ "$idle" -lt $((64 << 10)) ] ||
		die "path $other moved $idle bytes: $("$ISER_LIST" --json)"
}

# The attachment's log goes to the test's log when it fails.
show_log()
{
	[ "$_test_status" -eq 0 ] || { "$ISER_LIST" --json; tail -n 40 "$WORK/a/err"; } >&2
}

lio_second_tpg
cleanup_fn show_log
attach_start "$WORK/a" 120 "$ISER_ATTACH" --foreground --transport auto --lun 0 \
	--socket "$sock" "$P1,$P2" "$IQN"
[ "$(path_field 1 transport)" = iser ] || die "path 1 is not iSER: $("$ISER_LIST" --json)"
[ "$(path_field 2 transport)" = tcp ] || die "path 2 is not TCP: $("$ISER_LIST" --json)"

# (a) Both optimized, as LIO starts.
[ "$(path_field 1 alua)" = active/optimized ] && [ "$(path_field 2 alua)" = active/optimized ] ||
	die "not both active/optimized at attach: $("$ISER_LIST" --json)"
"$ISER_LIST" | grep -q "^  path 2 $P2 logged-in .* alua active/optimized$" ||
	die "iser-list shows no ALUA state on path 2's line: $("$ISER_LIST")"
b1=$(path_bytes 1)
b2=$(path_bytes 2)
head -c $((16 * MIB)) /dev/urandom >"$WORK/warm"
nbdcopy --request-size=$MIB "$WORK/warm" "$uri"
[ $(($(path_bytes 1) - b1)) -gt 0 ] && [ $(($(path_bytes 2) - b2)) -gt 0 ] ||
	die "both optimized, yet one path carried nothing: $("$ISER_LIST" --json)"

# (b) The iSER path's group non-optimized: the TCP path carries it all.
set_alua "$ALUA_GP1" 1
wait_alua active/non-optimized active/optimized
grep -q "path 1 to $P1: ALUA active/optimized -> active/non-optimized" "$WORK/a/err" ||
	die "the change of path 1 was not logged: $(cat "$WORK/a/err")"
pattern_through 2

# (c) The iSER path's group optimized again, the TCP path's standby.
set_alua "$ALUA_GP1" 0
set_alua "$ALUA_GP2" 2
wait_alua active/optimized standby
pattern_through 1
[ "$(path_field 2 state)" = logged-in ] || die "the standby path is not logged in"

expect_ok_with "detached $sock" "$ISER_DETACH" "$sock" >/dev/null || die "iser-detach failed"
[ "$(attach_wait_exit "$WORK/a")" = 0 ] || die "iser-attach did not exit cleanly"
! grep -q Sanitizer "$WORK/a/err" || die "sanitizer: $(cat "$WORK/a/err")"
qemu-img convert -O raw "iscsi://$P1/$IQN/0" "$WORK/lun.img"
cmp -n $((16 * MIB)) "$WORK/lun.img" "$WORK/pattern" || die "LIO's LUN holds other data than was written"
echo "ALUA: paths chosen by the states set in LIO, data compared"
