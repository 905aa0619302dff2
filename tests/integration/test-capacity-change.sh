#!/usr/bin/env bash
# A LUN that grows, and one that shrinks, under an attachment. evil-target
# changes its size on SIGUSR1 and gives the next SCSI command UNIT
# ATTENTION CAPACITY DATA HAS CHANGED. The command that meets it is sent
# again and succeeds; the initiator reads the capacity again; iser-list
# and new NBD clients see the new size. Grown: the new last block can be
# written and read back. Shrunk: a client still connected with the old
# size gets EIO past the new end, and is served below it. The FUSE file
# follows a grown LUN.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
requires qemu-io nbdinfo
WORK=$(mktemp -d /dev/shm/isa-resize.XXXXXX)
cleanup_fn rm -rf "$WORK"
source "$top_srcdir/tests/evil-common.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"
[ -x "$EVIL" ] || skip "$EVIL not built"
[ -x "$ISER_ATTACH" ] || skip "$ISER_ATTACH not built"
export ISER_ATTACH_RUNDIR=$WORK/run
SOCK=$WORK/nbd.sock
URI="nbd+unix:///?socket=$SOCK"

# hold_start: a client that stays connected (nbd-crash-client hold) as
# coprocess HOLD; HOLD_SIZE is the size it was given.
hold_start()
{
	coproc HOLD { "$NBD_CRASH_CLIENT" hold "$URI"; }
	cleanup_fn kill "$HOLD_PID"
	HOLD_SIZE=$(hold_reply)
}

# hold_reply: the held client's next line (a hang guard of 60 s).
hold_reply()
{
	local line

	read -r -t 60 line <&"${HOLD[0]}" || die "the held client did not answer"
	echo "$line"
}

# hold_read OFFSET LENGTH: what the held client's read of that range gave.
hold_read()
{
	echo "read $1 $2" >&"${HOLD[1]}"
	hold_reply
}

size_is()
{
	[ "$(attachment_field size)" -eq "$1" ]
}

# resize FROM TO: start the target at FROM blocks of 512 bytes, attach,
# hold a client, change the size to TO blocks and wait until the
# attachment has it.
resize()
{
	evil_start none --blocks "$1" --resize-to "$2"
	rm -rf "$WORK/attach"
	attach_start "$WORK/attach" 60 "$ISER_ATTACH" --foreground --transport tcp \
		--socket "$SOCK" "$EVIL_PORTAL" "$EVIL_IQN"
	log=$WORK/attach/err
	hold_start
	[ "$HOLD_SIZE" = "size $(($1 * 512))" ] || die "the held client was told '$HOLD_SIZE'"
	kill -USR1 "$EVIL_PID"
	# The next command meets the UNIT ATTENTION, is sent again and succeeds.
	qemu-io -f raw -c "read 0 4k" "$URI" | grep -q "^read 4096/4096" ||
		die "the read that met the UNIT ATTENTION failed"
	wait_until 60 "the attachment to see $(($2 * 512)) bytes" size_is $(($2 * 512))
	grep -q "capacity changed from $(($1 * 512)) to $(($2 * 512)) bytes" "$log" ||
		die "no log line for the change: $(cat "$log")"
	[ "$(nbdinfo --size "$URI")" -eq $(($2 * 512)) ] || die "a new client is not told the new size"
}

# detach_all: detach, and the target must have seen nothing wrong.
detach_all()
{
	echo "read 0 512" >&"${HOLD[1]}"
	exec {HOLD[1]}>&-
	wait "$HOLD_PID" 2>/dev/null || :
	expect_ok_with "detached $SOCK" "$ISER_DETACH" "$SOCK" >/dev/null || die "iser-detach failed"
	rc=$(attach_wait_exit "$WORK/attach") || die "iser-attach did not exit"
	cat "$log"
	[ "$rc" -eq 0 ] || die "iser-attach exited $rc"
	! grep -q Sanitizer "$log" || die "sanitizer report"
	rc=0
	wait "$EVIL_PID" || rc=$?
	EVIL_PID=
	cat "$WORK/none.log"
	[ "$rc" -eq 0 ] || die "evil-target exited $rc"
	grep -q "UNIT ATTENTION CAPACITY DATA HAS CHANGED" "$WORK/none.log" ||
		die "the target never raised the UNIT ATTENTION"
}

# Grown from 4 to 8 MiB: the new last block is there.
resize 8192 16384
out=$(qemu-io -f raw -c "write -P 0x77 $(((16384 - 8) * 512)) 4k" \
	-c "read -P 0x77 $(((16384 - 8) * 512)) 4k" "$URI")
echo "$out"
[ "$(grep -c "^wrote 4096/4096\|^read 4096/4096" <<<"$out")" -eq 2 ] ||
	die "the new last block could not be written and read back"
[ "$(hold_read 0 4096)" = "read 0 4096: ok" ] || die "the held client lost its service"
detach_all

# Shrunk from 8 to 4 MiB: past the new end, the held client gets EIO.
resize 16384 8192
[ "$(hold_read $((6 << 20)) 4096)" = "read $((6 << 20)) 4096: error: EIO" ] ||
	die "a read past the new end did not fail with EIO"
[ "$(hold_read $(((4 << 20) - 4096)) 4096)" = "read $(((4 << 20) - 4096)) 4096: ok" ] ||
	die "the last block before the new end could not be read"
detach_all

# The FUSE file's size follows a grown LUN.
if command -v fusermount3 >/dev/null && [ -c /dev/fuse ]; then
	evil_start none --blocks 8192 --resize-to 16384
	mnt=$WORK/mnt
	mkdir -p "$mnt"
	rm -rf "$WORK/fattach"
	attach_start "$WORK/fattach" 60 "$ISER_ATTACH" --foreground --transport tcp --fuse "$mnt" \
		"$EVIL_PORTAL" "$EVIL_IQN"
	file=$ATTACH_LINE
	[ "$(stat -c %s "$file")" -eq $((4 << 20)) ] || die "the FUSE file is not 4 MiB"
	kill -USR1 "$EVIL_PID"
	dd if="$file" of=/dev/null bs=4096 count=1 status=none || die "the read that met the UNIT ATTENTION failed"
	file_grown()
	{
		[ "$(stat -c %s "$file")" -eq $((8 << 20)) ]
	}
	wait_until 60 "the FUSE file to grow to 8 MiB" file_grown
	[ "$(dd if="$file" bs=4096 skip=$(((8 << 20) / 4096 - 1)) status=none | wc -c)" -eq 4096 ] ||
		die "the FUSE file's new last block cannot be read"
	expect_ok_with "detached $mnt" "$ISER_DETACH" "$mnt" >/dev/null || die "iser-detach of the FUSE file failed"
	[ "$(attach_wait_exit "$WORK/fattach")" -eq 0 ] || die "iser-attach exited with an error"
	wait "$EVIL_PID" || die "evil-target exited $?"
	EVIL_PID=
fi
