# shellcheck shell=bash
# Shared by the data tests: write random data of mixed sizes at queue
# depth 32 through isa-io, read it back and compare, then compare what the
# target stored (its LUN file) with what we wrote, so that the check does
# not rest on our own read path alone.
#
# verify_lun IQN SIZE [isa-io options...]
verify_lun()
{
	local iqn=$1 size=$2 expect out

	shift 2
	expect=$TGT_TMPDIR/expect.bin
	out=$(expect_ok_with "compared: OK" "$ISA_IO" "$@" "$TGT_PORTAL" "$iqn" verify \
		--size "$size" --qd 32 --min-io 512 --max-io 1M --seed "$RANDOM" \
		--expect-out "$expect")
	grep -q "copied payload 0," <<<"$out" || die "payload was copied: $out"
	cmp -n "$(stat -c %s "$expect")" "$expect" "$(tgt_lun_file 1 1)" ||
		die "the target's LUN file differs from what was written"
}
