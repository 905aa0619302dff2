#!/usr/bin/env bash
# The iSER datamover against tgtd over soft-RoCE: login, the parameters tgt
# forces on iSER, --transport auto choosing iSER where an RDMA device
# routes the portal and TCP where none does, data of 512 B to 4 MiB per
# request at queue depth 128 compared with what was written and with the
# LUN's backing file, no payload copied, session recovery across a tgtd
# restart, one-way and mutual CHAP, and tgtd killed in the middle of the
# I/O without recovery: a clear error, no hang, no crash.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/iser-vm-common.sh"

IQN=iqn.2026-11.org.iser-attach.test:iser-tgt
MIB=$((1 << 20))

iser_setup_rxe
start_tgtd_iser
tgt_simple_target "$IQN" 64
tgt_bind_initiator 1
P=$TGT_ISER_PORTAL
OUT=$TGT_TMPDIR/out
ERR=$TGT_TMPDIR/err

# tgt forces InitialR2T=Yes and ImmediateData=No on iSER; digests are
# never used there.
expect_ok_with "transport: iser" "$ISA_IO" --transport iser "$P" "$IQN" info
"$ISA_IO" --transport iser "$P" "$IQN" info >"$OUT"
grep -qx "immediate_data: no" "$OUT" || die "tgt's iSER driver took immediate data"
grep -qx "initial_r2t: yes" "$OUT" || die "tgt's iSER driver took unsolicited data"
grep -qx "header_digest: none" "$OUT" || die "digests on iSER"
grep -qx "size: $((64 * MIB))" "$OUT" || die "wrong LUN size"

# auto: iSER, quietly, where rxe0 routes the portal...
"$ISA_IO" "$P" "$IQN" info >"$OUT" 2>"$ERR" || die "auto login failed: $(cat "$ERR")"
grep -qx "transport: iser" "$OUT" || die "--transport auto did not pick iSER"
[ ! -s "$ERR" ] || die "--transport auto warned: $(cat "$ERR")"
# ...and TCP with one warning where nothing RDMA routes it (loopback).
TGT_LLD=iscsi
tgt_add_target 2 "$IQN-tcp"
tgt_add_lun 2 1 8
tgt_bind_all 2
TGT_LLD=iser
"$ISA_IO" -v "$TGT_PORTAL" "$IQN-tcp" info >"$OUT" 2>"$ERR" ||
	die "auto login over TCP failed: $(cat "$ERR")"
grep -qx "transport: tcp" "$OUT" || die "--transport auto did not fall back to TCP"
grep -q "no RDMA device routes to 127.0.0.1.*; using TCP" "$ERR" ||
	die "-v does not say why TCP: $(cat "$ERR")"
expect_fail_with "no RDMA device routes to 127.0.0.1" \
	"$ISA_IO" --transport iser "$TGT_PORTAL" "$IQN-tcp" info

# Data: every size from 512 B to 4 MiB (tgt holds 512 KiB per command, so
# the larger requests must be split), queue depth 128.
"$ISA_IO" --transport iser --qd 128 --size 12M --min-io 512 --max-io 4M --seed 3 \
	--expect-out "$TGT_TMPDIR/expect.img" "$P" "$IQN" verify >"$OUT"
cat "$OUT"
grep -q "compared: OK" "$OUT" || die "verify did not compare"
expect_copied_zero "$OUT"
cmp -n $((12 * MIB)) "$TGT_TMPDIR/expect.img" "$(tgt_lun_file 1 1)" ||
	die "the LUN's backing file does not hold what was written"
# Many small commands: more in flight than the receives posted at login.
"$ISA_IO" --transport iser --qd 128 --size 4M --min-io 512 --max-io 16K --seed 4 \
	--offset 16M --expect-out "$TGT_TMPDIR/expect2.img" "$P" "$IQN" verify >"$OUT"
cat "$OUT"
expect_copied_zero "$OUT"
cmp -n $((4 * MIB)) -i $((16 * MIB)):0 "$(tgt_lun_file 1 1)" "$TGT_TMPDIR/expect2.img" ||
	die "the LUN's backing file does not hold the small writes"

# Session recovery over iSER: tgtd dies under load and comes back; the
# session logs in again on a new RDMA connection, with the buffers it holds
# still registered, resends what was in flight, and the data verifies.
restart_tgtd()
{
	tgtd_crash_restart "$ERR"
	tgt_simple_target "$IQN" 64
	tgt_bind_initiator 1
}
# isa-io writes the 24 MiB over and over until told to stop: tgtd dies
# once a pass has completed, the session logs in again, and isa-io is
# stopped after a pass that ended after the reconnect.
stop=$TGT_TMPDIR/stop-writing
# Its two 24 MiB buffers (32 MiB each in the pool) need more than the
# default 64 MiB of pinned memory.
"$ISA_IO" --transport iser --max-pinned 96M --replacement-timeout 120 --qd 32 --size 24M \
	--max-io 512K \
	--seed 9 --until "$stop" --expect-out "$TGT_TMPDIR/expect3.img" "$P" "$IQN" verify \
	>"$OUT" 2>"$ERR" &
io_pid=$!
cleanup_fn kill "$io_pid"
wait_for_line_of "$io_pid" 300 "write pass [0-9]+ done" "$ERR"
restart_tgtd
wait_for_line_of "$io_pid" 300 "reconnected to $P" "$ERR"
passes=$(count_lines "write pass [0-9]+ done" "$ERR")
wait_for_line_of "$io_pid" 300 "write pass [0-9]+ done" "$ERR" "$passes"
touch "$stop"
wait "$io_pid" || die "verify failed across a tgtd restart: $(cat "$ERR")"
cat "$OUT" "$ERR"
grep -q "compared: OK" "$OUT" || die "verify did not compare after the restart"
grep -q "reconnected to $P" "$ERR" || die "the session did not reconnect"
expect_copied_zero "$OUT"
cmp -n $((24 * MIB)) "$TGT_TMPDIR/expect3.img" "$(tgt_lun_file 1 1)" ||
	die "the LUN's backing file does not hold what was written across the restart"

# CHAP over iSER, one-way then mutual, and a wrong secret.
tgt_add_chap 1 iser-user iser-secret-0123
ISER_CHAP_SECRET=iser-secret-0123 expect_ok_with "transport: iser" \
	"$ISA_IO" --transport iser --chap-user iser-user "$P" "$IQN" info
rc=0
ISER_CHAP_SECRET=wrong-secret-0123 "$ISA_IO" --transport iser --chap-user iser-user \
	"$P" "$IQN" info >/dev/null 2>"$ERR" || rc=$?
cat "$ERR"
[ "$rc" -eq 4 ] || die "a wrong CHAP secret exited $rc, expected 4"
tgt_add_mutual_chap 1 iser-target tgt-secret-01234
ISER_CHAP_SECRET=iser-secret-0123 ISER_MUTUAL_SECRET=tgt-secret-01234 \
	"$ISA_IO" --transport iser --chap-user iser-user --mutual-user iser-target \
	--size 2M --max-io 1M "$P" "$IQN" verify >"$OUT"
grep -q "compared: OK" "$OUT" || die "verify with mutual CHAP failed"

# tgtd dies under load: the session fails with the reason, promptly.
# isa-io writes until tgtd dies (no stop file this time).
rm -f "$stop"
ISER_CHAP_SECRET=iser-secret-0123 ISER_MUTUAL_SECRET=tgt-secret-01234 \
	"$ISA_IO" --transport iser --chap-user iser-user --mutual-user iser-target \
	--max-pinned 160M --qd 32 --size 48M --max-io 512K --until "$stop" "$P" "$IQN" verify \
	>"$OUT" 2>"$ERR" &
io_pid=$!
cleanup_fn kill "$io_pid"
wait_for_line_of "$io_pid" 300 "write pass [0-9]+ done" "$ERR"
kill -0 "$io_pid" || die "the I/O ended before tgtd was killed: $(cat "$ERR")"
kill -9 "$TGT_PID"
isa_io_gone()
{
	! kill -0 "$io_pid" 2>/dev/null
}
wait_until 60 "isa-io to end after tgtd died (it hangs)" isa_io_gone
rc=0
wait "$io_pid" || rc=$?
cat "$ERR"
[ "$rc" -eq 1 ] || die "isa-io exited $rc after tgtd died, expected 1"
grep -Eq "connection closed by target|completion failed" "$ERR" ||
	die "no clear error after tgtd died"
! grep -q Sanitizer "$ERR" || die "isa-io crashed"
