#!/usr/bin/env bash
# Payload crosses the attachment without being copied: after writes and
# reads of every size through the export, the statistics iser-attach logs
# when it stops (SIGTERM, as a service manager stops it) count all the
# bytes moved and 0 bytes of payload copied.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires nbdcopy fio
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"
IQN=iqn.2026-11.org.iser-attach.test:nbd-zero-copy
SIZE_MB=32
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
nbd_attach "$IQN"

head -c $((SIZE_MB << 20)) /dev/urandom >"$TGT_TMPDIR/in.img"
nbdcopy --request-size=$((1 << 20)) "$TGT_TMPDIR/in.img" "$NBD_URI"
nbdcopy --request-size=$((64 << 10)) "$NBD_URI" "$TGT_TMPDIR/out.img"
cmp "$TGT_TMPDIR/in.img" "$TGT_TMPDIR/out.img" || die "read back something else"
timeout -k 5 120 fio --name=mixed --ioengine=nbd --uri="$NBD_URI" --rw=randrw \
	--bsrange=512-1m --iodepth=32 --size=16M --io_size=64M --runtime=30 \
	--output="$TGT_TMPDIR/fio.log" || { cat "$TGT_TMPDIR/fio.log" >&2; die "fio failed"; }
nbd_stop

log=$TGT_TMPDIR/attach0/err
cat "$log"
stats=$(grep "stats: " "$log") || die "iser-attach logged no statistics"
read_bytes=$(sed -n 's/.*[ ,]read \([0-9]\+\),.*/\1/p' <<<"$stats")
written=$(sed -n 's/.*[ ,]written \([0-9]\+\),.*/\1/p' <<<"$stats")
copied=$(sed -n 's/.*[ ,]copied payload \([0-9]\+\)\b.*/\1/p' <<<"$stats")
[ -n "$read_bytes" ] && [ -n "$written" ] && [ -n "$copied" ] ||
	die "cannot parse the statistics: $stats"
# nbdcopy alone moved the whole LUN each way; fio added more.
[ "$read_bytes" -ge $((SIZE_MB << 20)) ] || die "only $read_bytes bytes read: $stats"
[ "$written" -ge $((SIZE_MB << 20)) ] || die "only $written bytes written: $stats"
[ "$copied" -eq 0 ] || die "$copied bytes of payload were copied: $stats"
