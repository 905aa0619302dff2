#!/usr/bin/env bash
# A stall longer than the block layer's timeout on /dev/nbdN with its
# default two kernel sockets. Linux's nbd driver shuts the socket of a
# request that times out and sends the request again on another; once all
# are shut, requests wait for a new socket (the dead-connection timeout)
# and then fail. iser-attach gives the driver a new socket for each it
# shuts, so the device outlives the stall and loses nothing. The timeout
# is set to 2 s (io_timeout) so that the stalls are short:
# - the target stops (SIGSTOP) under a write, for four timeouts in a row,
#   each shutting a socket: each is replaced at once, each copy of the
#   write the driver sends again is held until the first copy (stuck at
#   the target) has finished, the write completes once the target runs
#   again, the pattern reads back and is in the LUN;
# - iser-attach itself stops under a write: both sockets are shut and
#   nothing replaces them while it is stopped; once it runs, both are
#   replaced and the write waiting for a socket completes.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

requires dmesg
IQN=iqn.2026-12.org.iser-attach.test:vm-nbd-stall
vm_nbd_requires
tgt_simple_target "$IQN" 64
PATTERN=$TGT_TMPDIR/pattern
write_pattern "$PATTERN" 4
PATTERN2=$TGT_TMPDIR/pattern2
write_pattern "$PATTERN2" 1

# kernel_lines PATTERN: how many kernel log lines match PATTERN (grep -E).
kernel_lines()
{
	dmesg | grep -Ec -- "$1" || :
}

_kernel_more()
{
	[ "$(kernel_lines "$1")" -gt "$2" ]
}

# wait_kernel_line SECONDS PATTERN BEFORE: wait until more than BEFORE
# kernel log lines match PATTERN.
wait_kernel_line()
{
	wait_until "$1" "a kernel log line matching '$2' (beyond $3)" _kernel_more "$2" "$3"
}

# started_write PID: true once dd PID has a request waiting on the device
# (the driver counts it in the device's inflight file).
started_write()
{
	kill -0 "$1" 2>/dev/null || die "the write ended before the stall: $(cat "$TGT_TMPDIR/dd.err")"
	read -r r w <"$sys/inflight"
	[ "$((r + w))" -gt 0 ]
}

kernel_attach "$IQN" --nbd --transport tcp
clients_are 2 || die "expected the default two kernel sockets, iser-list shows $(attachment_field clients)"
sys=$(nbd_sysfs "$NBD_DEV")
nbd_io_timeout "$NBD_DEV" 2000
name=${NBD_DEV#/dev/}
timed_out="$name: Connection timed out"
reconnected="$name: reconnected socket"

# stall_under PID BS SEEK FILE: stop process PID (SIGSTOP), then write
# FILE to the device in BS requests at SEEK (in BS) with O_DIRECT in the
# background: sets DD_PID, and T0 and R0, the kernel's lines of timeouts
# and replaced sockets so far.
stall_under()
{
	T0=$(kernel_lines "$timed_out")
	R0=$(kernel_lines "$reconnected")
	kill -STOP "$1"
	cleanup_fn kill -CONT "$1"
	dd if="$4" of="$NBD_DEV" bs="$2" seek="$3" oflag=direct conv=fsync status=none \
		2>"$TGT_TMPDIR/dd.err" &
	DD_PID=$!
	cleanup_fn kill "$DD_PID"
}

# stall_end PID WHAT: let process PID (WHAT) run again; the write must end
# well.
stall_end()
{
	kill -0 "$DD_PID" || die "the write ended while $2 was stopped: $(cat "$TGT_TMPDIR/dd.err")"
	kill -CONT "$1"
	wait_until 240 "the write to end after the stall of $2" process_gone "$DD_PID"
	wait "$DD_PID" || die "the write failed across the stall of $2: $(cat "$TGT_TMPDIR/dd.err")"
}

# 1. The target stops under a 4 MiB write of 64 KiB requests.
stall_under "$TGT_PID" 64k $((8 << 4)) "$PATTERN"
wait_kernel_line 180 "$timed_out" $((T0 + 3))
wait_kernel_line 60 "$reconnected" $((R0 + 3))
stall_end "$TGT_PID" tgtd
echo 3 >/proc/sys/vm/drop_caches
dev_read_cmp "$NBD_DEV" "$PATTERN" 8
lun_cmp 1 1 "$PATTERN" 8
replaced=$(attachment_field sockets_replaced)
[ "$replaced" -ge 4 ] || die "four sockets were shut, iser-list says $replaced were replaced"
# Each copy the driver sent again waited for the first, stuck at tgtd.
held=$(attachment_field requests_held)
[ "$held" -ge 3 ] || die "the write was sent again after each of four timeouts, $held copies were held"
wait_until 60 "two kernel sockets again" clients_are 2
grep -q "$NBD_DEV: the driver dropped a socket" "$TGT_TMPDIR/attach0/err" ||
	die "no log line for the dropped sockets: $(cat "$TGT_TMPDIR/attach0/err")"

# 2. iser-attach stops under a 1 MiB write of 4 KiB requests.
stall_under "$NBD_PID" 4k $((16 << 8)) "$PATTERN2"
wait_until 60 "the write to reach the device" started_write "$DD_PID"
# The request times out on its socket, then again on the other one.
wait_kernel_line 180 "$timed_out" $((T0 + 1))
[ "$(kernel_lines "$reconnected")" -eq "$R0" ] || die "a socket was replaced while iser-attach was stopped"
stall_end "$NBD_PID" iser-attach
wait_kernel_line 60 "$reconnected" $((R0 + 1))
dev_read_cmp "$NBD_DEV" "$PATTERN2" 16
lun_cmp 1 1 "$PATTERN2" 16
dev_read_cmp "$NBD_DEV" "$PATTERN" 8
wait_until 60 "two kernel sockets again" clients_are 2
kernel_detach
