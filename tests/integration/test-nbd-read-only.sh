#!/usr/bin/env bash
# A read-only export, because iser-attach was told --read-only or because
# the target write-protects the LUN: advertised read-only, every write-type
# request refused with EPERM, reads served, the data untouched.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdinfo nbdcopy
[ -x "$NBD_BAD_REQUESTS" ] || skip "$NBD_BAD_REQUESTS not built"
IQN=iqn.2026-11.org.iser-attach.test:nbd-ro
nbd_requires
tgt_simple_target "$IQN" 16
tgt_add_lun 1 2 16 readonly
for lun in 1 2; do
	head -c $((16 << 20)) /dev/urandom >"$TGT_TMPDIR/orig$lun.img"
	cp "$TGT_TMPDIR/orig$lun.img" "$(tgt_lun_file 1 "$lun")"
done
nbd_attach --name 1 "$IQN" --lun 1 --read-only
nbd_attach --name 2 "$IQN" --lun 2

for n in 1 2; do
	uri_var=NBD_URI_$n
	uri=${!uri_var}
	nbdinfo --is read-only "$uri" || die "export $n is not advertised read-only"
	rc=0
	nbdinfo --can write "$uri" || rc=$?
	[ "$rc" -eq 2 ] || die "nbdinfo --can write exited $rc on read-only export $n"

	out=$(expect_ok_with "checks passed" "$NBD_BAD_REQUESTS" --read-only "$uri")
	echo "$out"
	grep -qF "ok: write to a read-only export: EPERM" <<<"$out" ||
		die "export $n: no EPERM for a write"
	grep -qF "ok: write zeroes to a read-only export: EPERM" <<<"$out" ||
		die "export $n: no EPERM for write zeroes"

	head -c $((1 << 20)) /dev/urandom >"$TGT_TMPDIR/new.img"
	expect_fail_with "read-only" nbdcopy --target-is-zero "$TGT_TMPDIR/new.img" "$uri" ||
		die "nbdcopy wrote to read-only export $n"
	nbdcopy "$uri" "$TGT_TMPDIR/out$n.img"
	cmp "$TGT_TMPDIR/orig$n.img" "$TGT_TMPDIR/out$n.img" ||
		die "export $n reads something else than the LUN holds"
	cmp "$TGT_TMPDIR/orig$n.img" "$(tgt_lun_file 1 "$n")" || die "read-only LUN $n changed"
done
nbd_detach 1
nbd_detach 2
