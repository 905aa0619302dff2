#!/usr/bin/env bash
# The daemon keeps serving while its session recovers. tgtd is killed and
# a listener that takes connections and never answers (a real target that
# hangs in its login looks the same) holds its port; with a login timeout
# of 60 s the session sits in a login attempt. Meanwhile iser-list answers
# and says recovering (it said "unresponsive" while a blocking re-login
# held the daemon), a new NBD client gets through the handshake and learns
# the size, and its read waits for the recovery. Once tgtd is back on the
# port, the attempt on the silent listener ends with it, the session logs
# in again, the waiting read completes and what was written before the
# fault reads back.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires qemu-io nbdcopy nbdinfo python3
IQN=iqn.2026-11.org.iser-attach.test:recovery-responsive
nbd_requires
tgt_simple_target "$IQN" 16
nbd_attach "$IQN" --transport tcp --timeout 60 --replacement-timeout 600
log=$TGT_TMPDIR/attach0/err

head -c $((1 << 20)) /dev/urandom >"$TGT_TMPDIR/in"
nbdcopy --flush "$TGT_TMPDIR/in" "$NBD_URI"

# The silent listener: it accepts, notes each Login Request it reads, and
# never writes a byte.
silent_listener()
{
	python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
print("listening", flush=True)
held = []
while True:
    c, _ = s.accept()
    held.append(c)
    got = b""
    while len(got) < 48:
        more = c.recv(48 - len(got))
        if not more:
            break
        got += more
    if len(got) == 48 and got[0] & 0x3f == 0x03:
        print("got a Login Request", flush=True)
' "${TGT_PORTAL##*:}" >"$TGT_TMPDIR/listener.out" 2>&1 &
	listener=$!
	cleanup_fn kill "$listener"
}

lost=$(connections_lost)
kill -9 "$TGT_PID"
wait "$TGT_PID" 2>/dev/null || :
wait_connection_lost 60 "$lost"
silent_listener
wait_for_line 60 "got a Login Request" "$TGT_TMPDIR/listener.out"

# The session waits in LOGGING_IN for up to 60 s: the daemon still answers.
# (The times are printed for the record, not asserted.)
t0=$(date +%s%N)
json=$("$top_builddir/iser-list" --json)
t1=$(date +%s%N)
[[ $json == *'"state": "recovering"'* ]] || die "iser-list does not say recovering: $json"
size=$(nbdinfo --size "$NBD_URI") || die "no NBD handshake during the recovery"
t2=$(date +%s%N)
echo "measured: iser-list took $(((t1 - t0) / 1000000)) ms, nbdinfo --size $(((t2 - t1) / 1000000)) ms"
[ "$size" -eq $((16 << 20)) ] || die "nbdinfo says $size bytes, expected $((16 << 20))"
qemu-io -f raw -c "read -v 0 4096" "$NBD_URI" >"$TGT_TMPDIR/read.out" 2>&1 &
reader=$!
cleanup_fn kill "$reader"
reading()
{
	[ "$(attachment_field in_flight)" -ge 1 ]
}
wait_until 60 "the read to reach the server" reading
kill -0 "$reader" || die "the read ended while the target was away: $(cat "$TGT_TMPDIR/read.out")"
[ "$(count_lines "reconnected to" "$log")" -eq 0 ] || die "reconnected to the silent listener"

# tgtd back on its port, with its LUN file; the listener goes.
reconnects=$(attachment_field reconnects)
kill "$listener"
wait "$listener" 2>/dev/null || :
tgtd -f -C "$TGT_CTL" --iscsi "portal=$TGT_PORTAL" >>"$TGT_TMPDIR/tgtd.log" 2>&1 &
TGT_PID=$!
export TGT_PID
wait_until 60 "tgtd to answer again" _tgtd_answers
tgt_simple_target "$IQN" 16
logged_in_again()
{
	[ "$(attachment_field reconnects)" -gt "$reconnects" ]
}
wait_until 120 "the session to log in again" logged_in_again
wait "$reader" || die "the read failed: $(cat "$TGT_TMPDIR/read.out")"
grep -q "read 4096/4096 bytes" "$TGT_TMPDIR/read.out" || die "$(cat "$TGT_TMPDIR/read.out")"
nbdcopy "$NBD_URI" "$TGT_TMPDIR/out"
cmp <(head -c $((1 << 20)) "$TGT_TMPDIR/out") "$TGT_TMPDIR/in" ||
	die "what was written before the fault does not read back"
# (The listener goes with a Login Request unread: its kernel resets the connection.)
grep -Eq "reconnect to $TGT_PORTAL failed: (connection closed by target|receive: Connection reset by peer)" "$log" ||
	die "the attempt on the silent listener did not end with it: $(cat "$log")"

"$ISER_DETACH" "$NBD_SOCK" | grep -qx "detached $NBD_SOCK" || die "detach failed"
rc=$(attach_wait_exit "$TGT_TMPDIR/attach0") || die "iser-attach did not exit"
cat "$log"
[ "$rc" -eq 0 ] || die "iser-attach exited $rc"
! grep -q Sanitizer "$log" || die "sanitizer report"
