#!/usr/bin/env bash
# Two clients at once: each writes its own half of the LUN in 256 KiB
# chunks of distinct patterns, many requests in flight, while the other
# writes its half; then each reads back the other's half, and the target's
# backing file holds both halves.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires qemu-io
IQN=iqn.2026-11.org.iser-attach.test:nbd-multi
SIZE_MB=64
CHUNK=$((256 << 10))
CHUNKS=$(((SIZE_MB << 20) / 2 / CHUNK))
nbd_requires
tgt_simple_target "$IQN" "$SIZE_MB"
LUN_FILE=$(tgt_lun_file 1 1)
nbd_attach "$IQN"

# pattern HALF I: the byte chunk I of HALF (0 or 1) is written with.
pattern()
{
	echo $((($1 * 128 + $2 * 7) % 256))
}

# ops HALF VERB: qemu-io commands over HALF, one per chunk.
ops()
{
	local i base=$(($1 * CHUNKS * CHUNK))

	for ((i = 0; i < CHUNKS; i++)); do
		printf -- '-c\0%s -P %d %d %d\0' "$2" "$(pattern "$1" "$i")" \
			$((base + i * CHUNK)) "$CHUNK"
	done
}

# client NAME HALF VERB [FINAL-OP]: one qemu-io process doing VERB over
# HALF, its output in $TGT_TMPDIR/NAME.log.
client()
{
	local args

	mapfile -d '' args < <(ops "$2" "$3")
	[ -z "${4:-}" ] || args+=(-c "$4")
	timeout -k 5 120 qemu-io -f raw "${args[@]}" "$NBD_URI" >"$TGT_TMPDIR/$1.log" 2>&1
}

# together NAME0 NAME1 VERB [FINAL-OP]: client NAME0 on half 0 and NAME1 on
# half 1 for writes, the other way round for reads, at the same time; both
# must complete every request.
together()
{
	local pid0 pid1 rc0=0 rc1=0 h0=0 h1=1 c done

	[ "$3" = aio_write ] || { h0=1; h1=0; }
	client "$1" "$h0" "$3" "${4:-}" &
	pid0=$!
	client "$2" "$h1" "$3" "${4:-}" &
	pid1=$!
	wait "$pid0" || rc0=$?
	wait "$pid1" || rc1=$?
	for c in "$1" "$2"; do
		! grep -q "Pattern verification failed" "$TGT_TMPDIR/$c.log" ||
			die "$c does not read what the other client wrote"
		done=$(grep -c "^\(read\|wrote\) $CHUNK/$CHUNK bytes" "$TGT_TMPDIR/$c.log" || :)
		[ "$done" -eq "$CHUNKS" ] || {
			cat "$TGT_TMPDIR/$c.log" >&2
			die "$c completed $done of its $CHUNKS requests"
		}
	done
	[ "$rc0" -eq 0 ] && [ "$rc1" -eq 0 ] || die "a client failed ($rc0, $rc1)"
}

together writer0 writer1 aio_write aio_flush
together reader0 reader1 read

for c in 0 1; do
	for ((i = 0; i < CHUNKS; i++)); do
		head -c "$CHUNK" /dev/zero | tr '\0' "\\$(printf '%03o' "$(pattern "$c" "$i")")"
	done
done >"$TGT_TMPDIR/expect.img"
cmp "$TGT_TMPDIR/expect.img" "$LUN_FILE" || die "the target does not hold what the two clients wrote"
nbd_detach
