#!/usr/bin/env bash
# LUNs past the old limits, on tgt: a sparse 4 TiB backing file (LBAs
# past 2^32, so READ CAPACITY (16) and 16-byte CDBs all the way; tgt's
# null backing store is fixed at 1 TiB, hence the file) and a LUN of
# 4096-byte blocks. Through the NBD export: the size and block size are
# told right; a write at the last block, and one just past 2 TiB, land
# in the backing file where they belong and read back; 16 MiB go to the
# 4096-byte-block LUN and back with nbdcopy; write-zeroes of 64 MiB at an
# offset aligned to nothing but the 512-byte block, with and without
# holes allowed, zeroes exactly its range on a third LUN.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires qemu-io nbdcopy nbdinfo
IQN=iqn.2026-11.org.iser-attach.test:big-lun
nbd_requires
tgt_add_target 1 "$IQN"
tgt_add_lun 1 1 $((4 << 20))
tgt_add_lun 1 2 16 bs=4096
tgt_add_lun 1 3 96
tgt_bind_all 1

# The 4 TiB LUN.
nbd_attach "$IQN" --transport tcp --lun 1
[ "$(nbdinfo --size "$NBD_URI")" -eq $((4 << 40)) ] || die "the export is not 4 TiB"
last=$(((4 << 40) - 4096))
past2t=$(((2 << 40) + 4096))
out=$(qemu-io -f raw -c "write -P 0x42 $last 4k" -c "write -P 0x24 $past2t 4k" \
	-c "read -P 0x42 $last 4k" -c "read -P 0x24 $past2t 4k" "$NBD_URI")
echo "$out"
[ "$(grep -c "^wrote 4096/4096\|^read 4096/4096" <<<"$out")" -eq 4 ] ||
	die "the writes at the end and past 2 TiB did not read back"
file=$(tgt_lun_file 1 1)
cmp <(dd if="$file" bs=4096 skip=$((last / 4096)) count=1 status=none) \
	<(head -c 4096 /dev/zero | tr '\0' '\102') || die "the last block is not in the backing file"
cmp <(dd if="$file" bs=4096 skip=$((past2t / 4096)) count=1 status=none) \
	<(head -c 4096 /dev/zero | tr '\0' '\044') || die "the block past 2 TiB is not where it belongs"
"$ISER_DETACH" "$NBD_SOCK" | grep -qx "detached $NBD_SOCK" || die "detach failed"
[ "$(attach_wait_exit "$TGT_TMPDIR/attach0")" -eq 0 ] || die "iser-attach exited with an error"

# The LUN of 4096-byte blocks.
nbd_attach "$IQN" --transport tcp --lun 2
json=$(nbdinfo --json "$NBD_URI")
[[ $json == *'"block_size_minimum": 4096'* ]] || die "the minimum block size is not 4096: $json"
[ "$(attachment_field block_size)" -eq 4096 ] || die "iser-list does not say 4096-byte blocks"
head -c $((16 << 20)) /dev/urandom >"$TGT_TMPDIR/in"
nbdcopy --flush "$TGT_TMPDIR/in" "$NBD_URI"
nbdcopy "$NBD_URI" "$TGT_TMPDIR/out"
cmp "$TGT_TMPDIR/in" "$TGT_TMPDIR/out" || die "nbdcopy did not read back what it wrote"
cmp "$TGT_TMPDIR/in" "$(tgt_lun_file 1 2)" || die "the backing file does not hold it"
"$ISER_DETACH" "$NBD_SOCK" | grep -qx "detached $NBD_SOCK" || die "detach failed"
[ "$(attach_wait_exit "$TGT_TMPDIR/attach0")" -eq 0 ] || die "iser-attach exited with an error"

# Write-zeroes of 64 MiB from 1 MiB + 512 bytes.
nbd_attach "$IQN" --transport tcp --lun 3
start=$(((1 << 20) + 512))
for how in "" "-u"; do
	out=$(qemu-io -f raw -c "write -P 0x5a 0 96M" -c "write -z $how $start 64M" \
		-c "read -P 0x5a 0 $start" -c "read -P 0 $start 64M" \
		-c "read -P 0x5a $((start + (64 << 20))) $(((96 << 20) - start - (64 << 20)))" \
		"$NBD_URI")
	echo "$out"
	[ "$(grep -c "^read " <<<"$out")" -eq 3 ] && ! grep -qi "mismatch\|error" <<<"$out" ||
		die "write-zeroes $how of 64 MiB at $start did not zero exactly its range"
done
"$ISER_DETACH" "$NBD_SOCK" | grep -qx "detached $NBD_SOCK" || die "detach failed"
rc=$(attach_wait_exit "$TGT_TMPDIR/attach0") || die "iser-attach did not exit"
cat "$TGT_TMPDIR/attach0/err"
[ "$rc" -eq 0 ] || die "iser-attach exited $rc"
! grep -q Sanitizer "$TGT_TMPDIR/attach0/err" || die "sanitizer report"
