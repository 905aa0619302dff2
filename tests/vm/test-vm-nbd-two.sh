#!/usr/bin/env bash
# Two attachments at once: LUN 2 of one target and the LUN of a second
# target become two different /dev/nbdN, each served by its own
# iser-attach, and what is written to one device lands in its own LUN
# only; detaching one leaves the other serving.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

IQN1=iqn.2026-11.org.iser-attach.test:vm-nbd-two-a
IQN2=iqn.2026-11.org.iser-attach.test:vm-nbd-two-b
vm_nbd_requires
tgt_simple_target "$IQN1" 16
tgt_add_lun 1 2 24
tgt_add_target 2 "$IQN2"
tgt_add_lun 2 1 32
tgt_bind_all 2

kernel_attach --name 1 "$IQN1" --nbd --lun 2
kernel_attach --name 2 "$IQN2" --nbd
[ "$NBD_DEV_1" != "$NBD_DEV_2" ] || die "both attachments got $NBD_DEV_1"
[ "$NBD_PID_1" != "$NBD_PID_2" ] || die "one iser-attach serves both"

# A different pattern per device, at the same offset.
write_pattern "$TGT_TMPDIR/pattern1" 2
write_pattern "$TGT_TMPDIR/pattern2" 2
dev_write "$NBD_DEV_1" "$TGT_TMPDIR/pattern1" 1
dev_write "$NBD_DEV_2" "$TGT_TMPDIR/pattern2" 1
dev_read_cmp "$NBD_DEV_1" "$TGT_TMPDIR/pattern1" 1
dev_read_cmp "$NBD_DEV_2" "$TGT_TMPDIR/pattern2" 1
lun_cmp 1 2 "$TGT_TMPDIR/pattern1" 1
lun_cmp 2 1 "$TGT_TMPDIR/pattern2" 1
cmp -n $((16 << 20)) "$(tgt_lun_file 1 1)" /dev/zero || die "LUN 1 of $IQN1 was written"

kernel_detach 1
nbd_alive 2
dev_read_cmp "$NBD_DEV_2" "$TGT_TMPDIR/pattern2" 1
kernel_detach 2
