#!/usr/bin/env bash
# iser-detach while fio keeps /dev/nbdN busy: iser-detach returns, fio
# gets I/O errors promptly (well before the driver's 60 s dead-connection
# timeout) instead of hanging, the device is released once fio has gone,
# and it can be attached again and moves data.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

requires fio
IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-busy
# After the detach fio must be gone within this many seconds.
FIO_EXIT_LIMIT=40
vm_nbd_requires
tgt_simple_target "$IQN" 32

# stop_fio: at exit, end a fio the test left running.
stop_fio()
{
	[ -z "${FIO_PID:-}" ] || kill -KILL "$FIO_PID" 2>/dev/null || :
}

# io_count DEV: reads plus writes completed by DEV, from its sysfs stat.
io_count()
{
	local stat

	read -ra stat <"$(nbd_sysfs "$1")/stat"
	echo $((stat[0] + stat[4]))
}

kernel_attach "$IQN" --nbd
DEV=$NBD_DEV
fio --name=busy --filename="$DEV" --ioengine=libaio --direct=1 --iodepth=32 \
	--rw=randrw --bsrange=4k-64k --size=16M --time_based --runtime=600 \
	--eta=never --output="$TGT_TMPDIR/fio.out" 2>"$TGT_TMPDIR/fio.err" &
FIO_PID=$!
cleanup_fn stop_fio

# fio is busy once the device has completed a few hundred requests.
for ((i = 0; i < 120; i++)); do
	[ "$(io_count "$DEV")" -lt 300 ] || break
	kill -0 "$FIO_PID" || die "fio exited before the detach"
	sleep 0.5
done
[ "$(io_count "$DEV")" -ge 300 ] || die "fio moved no data through $DEV"
kill -0 "$FIO_PID" || die "fio exited before the detach"

kernel_detach_only
start=$SECONDS
rc=0
for ((i = 0; i < FIO_EXIT_LIMIT * 2; i++)); do
	kill -0 "$FIO_PID" 2>/dev/null || break
	sleep 0.5
done
kill -0 "$FIO_PID" 2>/dev/null &&
	die "fio still runs $((SECONDS - start)) s after the detach"
wait "$FIO_PID" || rc=$?
FIO_PID=
cat "$TGT_TMPDIR/fio.out" "$TGT_TMPDIR/fio.err"
echo "fio exited $rc, $((SECONDS - start)) s after iser-detach returned"
[ "$rc" -ne 0 ] || die "fio saw no error when the device went away"
grep -Eq 'Input/output error|err= *-?5\b|error=EIO' "$TGT_TMPDIR/fio.out" \
	"$TGT_TMPDIR/fio.err" ||
	die "fio failed without an I/O error"
kernel_wait_free "$DEV"

# The same device again, with data.
kernel_attach "$IQN" --nbd="$DEV"
[ "$NBD_DEV" = "$DEV" ] || die "attached to $NBD_DEV, asked for $DEV"
write_pattern "$TGT_TMPDIR/pattern" 2
dev_write "$NBD_DEV" "$TGT_TMPDIR/pattern" 20
dev_read_cmp "$NBD_DEV" "$TGT_TMPDIR/pattern" 20
kernel_detach
lun_cmp 1 1 "$TGT_TMPDIR/pattern" 20
