#!/usr/bin/env bash
# nbdinfo sees the LUN through the NBD export as it is: its size, its
# block sizes, the vendor and product in the description, and the
# capabilities a writable LUN without thin provisioning has (flush, FUA,
# write zeroes, multi-conn; no trim).
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdinfo python3
IQN=iqn.2026-11.org.iser-attach.test:nbd-info
nbd_requires
tgt_simple_target "$IQN" 64
nbd_attach "$IQN"

# One export, the default one, in the list.
out=$(expect_ok_with 'export=""' nbdinfo --list "$NBD_URI")
[ "$(grep -c '^export=' <<<"$out")" -eq 1 ] || die "nbdinfo --list shows other exports: $out"
out=$(expect_ok_with "export-size: $((64 << 20))" nbdinfo "$NBD_URI")
grep -q "description: IET *VIRTUAL-DISK (LUN 1)" <<<"$out" ||
	die "nbdinfo shows no 'IET VIRTUAL-DISK (LUN 1)' description: $out"
[ "$(nbdinfo --size "$NBD_URI")" = $((64 << 20)) ] || die "wrong export size"

# nbdinfo --can/--is: exit 0 for yes, 2 for no.
can()
{
	local want=$1 rc=0

	shift
	nbdinfo "$@" "$NBD_URI" || rc=$?
	[ "$rc" -eq "$want" ] || die "nbdinfo $* exited $rc, expected $want"
}
can 0 --can connect
can 0 --can read
can 0 --can write
can 0 --can flush
can 0 --can fua
can 0 --can zero
can 0 --can multi-conn
can 0 --can structured-reply
can 2 --can trim
can 2 --is read-only

nbdinfo --json "$NBD_URI" >"$TGT_TMPDIR/info.json"
python3 - "$TGT_TMPDIR/info.json" $((64 << 20)) <<'PY' || die "nbdinfo --json: wrong export"
import json, sys

info = json.load(open(sys.argv[1]))
exports = info["exports"]
assert len(exports) == 1, exports
e = exports[0]
checks = {
    "export-name": e["export-name"] == "",
    "export-size": e["export-size"] == int(sys.argv[2]),
    "block_size_minimum": e.get("block_size_minimum") == 512,
    "block_size_maximum": e.get("block_size_maximum", 0) >= 32 << 20,
    "block_size_preferred": (
        512 <= e.get("block_size_preferred", 0) <= e.get("block_size_maximum", 0)
        and e["block_size_preferred"] & (e["block_size_preferred"] - 1) == 0),
    "description": "IET" in e.get("description", "")
                   and "VIRTUAL-DISK" in e.get("description", ""),
    "is_read_only": e["is_read_only"] is False,
    "can_flush": e["can_flush"] is True,
    "can_fua": e["can_fua"] is True,
    "can_zero": e["can_zero"] is True,
    "can_trim": e["can_trim"] is False,
    "can_multi_conn": e["can_multi_conn"] is True,
    "base:allocation": "base:allocation" in e.get("contexts", []),
    "structured": info["structured"] is True,
}
bad = [k for k, ok in checks.items() if not ok]
if bad:
    print("wrong:", ", ".join(bad), json.dumps(e, indent=1), file=sys.stderr)
    sys.exit(1)
PY

# Without thin provisioning every block is data.
out=$(expect_ok_with "data" nbdinfo --map "$NBD_URI")
if [ "$(wc -l <<<"$out")" -ne 1 ] || ! grep -Eq "^ *0 +$((64 << 20)) +0 +data$" <<<"$out"; then
	die "nbdinfo --map: expected one data extent of 64 MiB: $out"
fi
nbd_detach
