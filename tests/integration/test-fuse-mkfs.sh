#!/usr/bin/env bash
# A file system made on the FUSE file is clean: mkfs.ext4 writes it,
# e2fsck -fn finds no error through the file, and none in the target's
# backing file after the unmount either.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/fuse-common.sh"

requires mkfs.ext4 e2fsck debugfs
IQN=iqn.2026-11.org.iser-attach.test:fuse-mkfs
fuse_requires
tgt_simple_target "$IQN" 96
# Old data under the new file system, so that mkfs must really write.
head -c $((96 << 20)) /dev/urandom >"$(tgt_lun_file 1 1)"
fuse_attach "$IQN"

mkfs.ext4 -q -F -E lazy_itable_init=0 -L isa-fuse "$FUSE_FILE"
e2fsck -fn "$FUSE_FILE" || die "e2fsck finds errors through the FUSE file"
# A file written into it with debugfs (no kernel mount needed) reads back.
head -c 300000 /dev/urandom >"$TGT_TMPDIR/payload"
debugfs -w -R "write $TGT_TMPDIR/payload payload" "$FUSE_FILE"
debugfs -R "dump payload $TGT_TMPDIR/payload.out" "$FUSE_FILE"
cmp "$TGT_TMPDIR/payload" "$TGT_TMPDIR/payload.out" || die "a file in the ext4 reads back wrong"
e2fsck -fn "$FUSE_FILE" || die "e2fsck finds errors after debugfs wrote"
fuse_unmount

e2fsck -fn "$(tgt_lun_file 1 1)" || die "e2fsck finds errors on the target's copy"
[ "$(e2label "$(tgt_lun_file 1 1)")" = isa-fuse ] || die "the label did not reach the target"
