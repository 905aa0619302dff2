#!/usr/bin/env bash
# Self-test of tests/functions.sh: the private tgtd it starts serves a LUN,
# enforces CHAP and mutual CHAP, and write-protects a read-only LUN, as seen
# by libiscsi's tools and qemu's iSCSI driver, which are independent of
# this project.

source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires iscsi-inq iscsi-ls iscsi-readcapacity16 qemu-io

IQN=iqn.2024-01.org.iser-attach.test:harness
USER=initiator-user
SECRET=initiator-secret12
TUSER=target-user
TSECRET=target-secret123

start_tgtd
tgt_simple_target "$IQN" 16
tgt_add_lun 1 2 8 readonly

url="iscsi://$TGT_PORTAL/$IQN"

# Discovery lists our target on our portal, with both LUNs.
expect_ok_with "Target:$IQN Portal:$TGT_PORTAL" iscsi-ls -s "iscsi://$TGT_PORTAL"

# LUN 1 is a disk of 16 MiB = 32768 blocks of 512 bytes.
expect_ok_with "Peripheral Device Type:DIRECT_ACCESS" iscsi-inq "$url/1"
out=$(expect_ok_with "Total size:16777216" iscsi-readcapacity16 "$url/1")
grep -q "RETURNED LOGICAL BLOCK ADDRESS:32767" <<<"$out"
grep -q "LOGICAL BLOCK LENGTH IN BYTES:512" <<<"$out"

# Data written through the target lands in the LUN file.
qemu-io -f raw -c 'write -P 0x5a 4096 8192' "$url/1"
qemu-io -f raw -c 'read -P 0x5a 4096 8192' "$url/1"
cmp -n 8192 -i 4096:0 "$(tgt_lun_file 1 1)" <(head -c 8192 /dev/zero | tr '\0' '\132')

# The read-only LUN refuses writes.
expect_ok_with "DIRECT_ACCESS" iscsi-inq "$url/2"
expect_fail_with "write protected" qemu-io -f raw -c 'write 0 512' "$url/2"

# With CHAP, only the right secret logs in.
tgt_add_chap 1 "$USER" "$SECRET"
expect_fail_with "Login Failed" iscsi-inq "$url/1"
expect_fail_with "Login Failed" iscsi-inq "iscsi://$USER%wrong-secret99@$TGT_PORTAL/$IQN/1"
expect_ok_with "DIRECT_ACCESS" iscsi-inq "iscsi://$USER%$SECRET@$TGT_PORTAL/$IQN/1"

# With mutual CHAP, the initiator checks the target's secret too.
tgt_add_mutual_chap 1 "$TUSER" "$TSECRET"
curl="iscsi://$USER%$SECRET@$TGT_PORTAL/$IQN/1?target_user=$TUSER"
expect_ok_with "DIRECT_ACCESS" iscsi-inq "$curl&target_password=$TSECRET"
expect_fail_with "Invalid CHAP_R" iscsi-inq "$curl&target_password=wrong-secret99"

# Target parameters reach the target's configuration.
tgt_set_param 1 MaxRecvDataSegmentLength 512
tgt_adm --mode target --op show --tid 1 | grep -qx "MaxRecvDataSegmentLength=512"

# stop_tgtd leaves nothing behind.
pid=$TGT_PID
dir=$TGT_TMPDIR
stop_tgtd
if kill -0 "$pid" 2>/dev/null; then
	die "tgtd $pid still running"
fi
[ ! -e "$TGT_RUNDIR/socket.$TGT_CTL" ]
rm -rf "$dir"
