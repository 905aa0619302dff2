#!/usr/bin/env bash
# Clients that vanish at the worst moment: killed halfway through sending
# a write's payload (nothing of it may land), killed while a read reply is
# on its way, killed in the middle of many large writes. The server survives,
# a client connected all along is served throughout, new clients connect,
# and the attachment still detaches cleanly.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdcopy nbdinfo fio python3
[ -x "$NBD_CRASH_CLIENT" ] || skip "$NBD_CRASH_CLIENT not built"
IQN=iqn.2026-11.org.iser-attach.test:nbd-vanish
SIZE_MB=64
OFFSET=$((4 << 20))
LEN=$((16 << 20))
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
LUN_FILE=$(tgt_lun_file 1 1)
head -c $((SIZE_MB << 20)) /dev/urandom >"$LUN_FILE"
cp "$LUN_FILE" "$TGT_TMPDIR/before.img"
nbd_attach "$IQN"

out=$(expect_ok_with "a new client connects" "$NBD_CRASH_CLIENT" vanish "$NBD_URI" "$OFFSET" "$LEN")
echo "$out"
grep -q "^ok: a client killed halfway through a write's payload: nothing landed" <<<"$out" ||
	die "no check of the half-sent write"
nbd_alive
# The only write that landed is the surviving client's 4 KiB probe of 0x3c.
cmp -n "$OFFSET" "$TGT_TMPDIR/before.img" "$LUN_FILE" ||
	die "data before the range changed"
cmp -n 4096 -i "$OFFSET:0" "$LUN_FILE" <(head -c 4096 /dev/zero | tr '\0' '\074') ||
	die "the surviving client's write is not on the target"
cmp -i $((OFFSET + 4096)) "$TGT_TMPDIR/before.img" "$LUN_FILE" ||
	die "the half-sent write (or something else) changed the target"

# SIGKILL a writer with many large requests in flight, from outside: fio
# writing 1 MiB requests 32 at a time, for as long as it is let, killed
# once it has moved 8 MiB through the export.  (--thread: the job runs in
# the process the kill ends, not in a child of it.)
fio --name=vanish --thread --ioengine=nbd --uri="$NBD_URI" --rw=write --bs=1M --iodepth=32 \
	--time_based --runtime=600 --output="$TGT_TMPDIR/fio.out" &
copy=$!
cleanup_fn kill -KILL "$copy"
wait_io_moving "$copy" fio $((8 << 20))
kill -KILL "$copy"
rc=0
wait "$copy" || rc=$?
[ "$rc" -eq 137 ] || die "fio exited $rc before it was killed"
# The writes fio had sent are still carried out; the comparison below
# starts once the server has read the dead client's last request and the
# target has answered every one.
quiet()
{
	[ "$(attachment_field clients in_flight)" = 0 ]
}
wait_until 120 "the server to close fio's connection and finish its writes" quiet
nbd_alive
[ "$(nbdinfo --size "$NBD_URI")" = $((SIZE_MB << 20)) ] ||
	die "the export does not answer after a client was killed mid-copy"
nbdcopy "$NBD_URI" "$TGT_TMPDIR/after.img"
cmp "$LUN_FILE" "$TGT_TMPDIR/after.img" || die "the export reads something else than the target holds"
nbd_detach
