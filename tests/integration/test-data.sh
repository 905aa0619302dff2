#!/usr/bin/env bash
# 64 MiB of random data written at queue depth 32 in sizes from 512 B to
# 1 MiB, not aligned to burst sizes, read back and compared, and compared
# with what the target stored.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/data-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:data
start_tgtd
tgt_simple_target "$IQN" 80
verify_lun "$IQN" 64M

# Data written by another initiator (qemu's libiscsi driver) reads back
# through ours.
if command -v qemu-io >/dev/null; then
	qemu-io -f raw -c 'write -P 0x3c 1048576 65536' "iscsi://$TGT_PORTAL/$IQN/1" >/dev/null
	expect_ok_with "read 65536 bytes" "$ISA_IO" "$TGT_PORTAL" "$IQN" read \
		--offset 1M --length 64K --out "$TGT_TMPDIR/read.bin"
	cmp "$TGT_TMPDIR/read.bin" <(head -c 65536 /dev/zero | tr '\0' '\074') ||
		die "data written by qemu-io reads back wrong"
fi

# WRITE SAME zeroes a range.
expect_ok_with "zeroed 1048576 bytes" "$ISA_IO" "$TGT_PORTAL" "$IQN" zero \
	--offset 1M --length 1M
cmp -n 1048576 -i 1048576:0 "$(tgt_lun_file 1 1)" /dev/zero ||
	die "WRITE SAME did not zero the range"
