# shellcheck shell=bash
# Shared by the iSER VM tests: soft-RoCE in the VM and iSER targets on it,
# sourced after tests/functions.sh, tests/vm/vm-functions.sh and
# run_self_in_vm.
#
#   iser_setup_rxe                 # rxe0 on veth0, ISER_ADDR=10.99.0.1
#   start_tgtd_iser                # start_tgtd, plus tgt's iSER driver
#   tgt_simple_target "$IQN" 64    # the tgt_* helpers now drive --lld iser
#   tgt_bind_initiator 1
#   "$ISA_IO" --transport iser "$ISER_ADDR" "$IQN" verify ...
#
#   lio_start                      # configfs, D-Bus for targetcli
#   lio_ramdisk_target "$IQN" 64   # LUN 0, TCP and iSER on ISER_ADDR:3260

# Our end of the veth pair, which rxe0 sits on; the other end only makes
# the link come up.
ISER_ADDR=10.99.0.1
ISER_PORT=3260
# The initiator name the test configuration of tests/functions.sh gives us.
ISER_INITIATOR=iqn.2026-11.org.iser-attach.test:initiator

# iser_setup_rxe: an RDMA device (soft-RoCE) that routes ISER_ADDR.
iser_setup_rxe()
{
	requires rdma ip
	load_module veth
	load_module rdma_rxe
	ip link add veth0 type veth peer name veth1
	ip addr add "$ISER_ADDR/24" dev veth0
	ip addr add 10.99.0.2/24 dev veth1
	ip link set veth0 up
	ip link set veth1 up
	rdma link add rxe0 type rxe netdev veth0
	rdma link show | grep -q 'link rxe0/1 state ACTIVE' || die "rxe0 is not active"
}

# tgt_adm, as tests/functions.sh has it, but for the driver in TGT_LLD, so
# that its tgt_* helpers set up iSER targets.
TGT_LLD=iser
tgt_adm()
{
	tgtadm -C "$TGT_CTL" --lld "$TGT_LLD" "$@"
}

# tgtd as start_tgtd runs it (same PID through exec, which start_tgtd
# checks), with tgt's iSER driver listening on port 3260 of every address
# (its port= option fails on a stale errno in 1.0.85).  The driver's
# default 1 GiB buffer pool does not fit a small VM.
tgtd()
{
	exec /usr/sbin/tgtd "$@" --iser pool_sz_mb=128
}

# start_tgtd_iser: start_tgtd with the iSER driver; exports
# TGT_ISER_PORTAL, where it serves iSER.
start_tgtd_iser()
{
	start_tgtd
	export TGT_ISER_PORTAL=$ISER_ADDR:$ISER_PORT
}

# tgt_bind_initiator TID: tgt 1.0.85 refuses every iSER login with "target
# not found" unless an initiator name is bound too, besides the address.
tgt_bind_initiator()
{
	tgt_adm --mode target --op bind --tid "$1" --initiator-name "$ISER_INITIATOR"
}

# lio_start: the kernel target (LIO) with targetcli, which needs the
# system D-Bus.  Nothing is torn down at exit: the VM goes away, and after
# an initiator drops a connection right after its final Login Response (a
# failed mutual CHAP check) LIO on rxe (Linux 6.1) hangs in teardown, and
# so would targetcli clearconfig.
lio_start()
{
	requires targetcli dbus-daemon
	load_module target_core_mod
	load_module iscsi_target_mod
	load_module ib_isert
	mkdir -p /run/dbus
	dbus-daemon --system --fork || die "cannot start the system D-Bus"
}

# lio: targetcli without colours.
lio()
{
	targetcli "$@" </dev/null | sed 's/\x1b\[[0-9;]*m//g'
	return "${PIPESTATUS[0]}"
}

# lio_ramdisk_target IQN SIZE_MB: target IQN with a ramdisk LUN 0 of
# SIZE_MB, open to every initiator without authentication, on one portal
# ISER_ADDR:ISER_PORT serving TCP and iSER.  Sets LIO_TPG.
lio_ramdisk_target()
{
	local iqn=$1 size=$2

	LIO_TPG=/iscsi/$iqn/tpg1
	lio /backstores/ramdisk create name=rd0 "size=${size}M"
	lio /iscsi create "$iqn"
	lio "$LIO_TPG/luns" create /backstores/ramdisk/rd0
	lio "$LIO_TPG/portals" delete 0.0.0.0 3260
	lio "$LIO_TPG/portals" create "$ISER_ADDR" "$ISER_PORT"
	lio "$LIO_TPG/portals/$ISER_ADDR:$ISER_PORT" enable_iser true
	lio "$LIO_TPG" set attribute authentication=0 demo_mode_write_protect=0 \
		generate_node_acls=1 cache_dynamic_acls=1
}

# lio_mutual_chap USER SECRET MUTUAL_USER MUTUAL_SECRET: only our
# initiator may log in, with CHAP both ways.
lio_mutual_chap()
{
	lio "$LIO_TPG" set attribute authentication=1 generate_node_acls=0
	lio "$LIO_TPG/acls" create "$ISER_INITIATOR"
	lio "$LIO_TPG/acls/$ISER_INITIATOR" set auth "userid=$1" "password=$2" \
		"mutual_userid=$3" "mutual_password=$4"
}

# expect_copied_zero FILE: the verify output in FILE reports that no
# payload was copied (zero copy over iSER).
expect_copied_zero()
{
	grep -q 'copied payload 0,' "$1" || die "payload was copied: $(grep stats: "$1")"
}
