#!/usr/bin/env bash
# Many attach cycles of /dev/nbdN, in the VM: CYCLES (default 30) times
# iser-attach --nbd (as a daemon, until it prints the device), a first
# direct read, iser-detach (until the process is gone). Every exit status
# and line is checked, and nothing is left: every nbd device free, no
# state file, no serving process, no session on the target, no descriptor
# of ours. Next to it, the kernel's own initiator doing the same job:
# iscsiadm --login until the disk appears, a first read, --logout until it
# is gone. p50 and p99 of both are printed for the record (not asserted).
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

CYCLES=${CYCLES:-30}
IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-cycles
vm_nbd_requires
tgt_simple_target "$IQN" 16
fds_before=$(ls /proc/$$/fd | wc -l)
now_us()
{
	echo $(($(date +%s%N) / 1000))
}
pids=()
: >"$TGT_TMPDIR/ours"
for ((i = 0; i < CYCLES; i++)); do
	t0=$(now_us)
	dev=$("$ISER_ATTACH" --pid-file "$TGT_TMPDIR/pid" --transport tcp "$TGT_PORTAL" "$IQN" --nbd) ||
		die "cycle $i: attach exited $?"
	t1=$(now_us)
	[[ $dev =~ ^/dev/nbd[0-9]+$ ]] || die "cycle $i: attach printed '$dev'"
	pids+=("$(cat "$TGT_TMPDIR/pid")")
	[ "$(dd if="$dev" bs=4096 count=1 iflag=direct status=none | wc -c)" -eq 4096 ] ||
		die "cycle $i: no first read from $dev"
	t2=$(now_us)
	out=$("$ISER_DETACH" "$dev") || die "cycle $i: detach exited $?"
	t3=$(now_us)
	[ "$out" = "detached $dev" ] || die "cycle $i: detach printed '$out'"
	kernel_wait_free "$dev"
	echo "$((t1 - t0)) $((t3 - t2))" >>"$TGT_TMPDIR/ours"
done
for ((i = 0; i < NBDS_MAX; i++)); do
	nbd_is_free "/dev/nbd$i" || die "/dev/nbd$i is still attached after $CYCLES cycles"
done
[ -z "$(ls -A "$ISER_ATTACH_RUNDIR")" ] || die "left in the state directory: $(ls -A "$ISER_ATTACH_RUNDIR")"
for pid in "${pids[@]}"; do
	process_gone "$pid" || die "serving process $pid is still there"
done
[ "$(tgt_adm --mode conn --op show --tid 1 | grep -c Connection || :)" -eq 0 ] ||
	die "sessions left on the target"
[ "$(ls /proc/$$/fd | wc -l)" -eq "$fds_before" ] || die "file descriptors of the test leaked"

# pctl FILE COLUMN: "p50 p99" in ms of that column.
pctl()
{
	awk -v c="$2" '{print $c}' "$1" | sort -n |
		awk '{v[NR] = $1} END {i = int(NR * 0.99); if (i < 1) i = 1;
			printf "p50 %.1f p99 %.1f", v[int((NR + 1) / 2)] / 1000, v[i] / 1000}'
}
echo "vm-cycles: iser-attach --nbd: attach $(pctl "$TGT_TMPDIR/ours" 1) ms," \
	"detach $(pctl "$TGT_TMPDIR/ours" 2) ms ($CYCLES cycles)"

# The kernel initiator, for comparison, when the VM has it.
if command -v iscsiadm >/dev/null && command -v iscsid >/dev/null &&
	modprobe -a iscsi_tcp sd_mod 2>/dev/null; then
	mkdir -p /run/lock/iscsi
	iscsid
	cleanup_fn iscsiadm -m node -T "$IQN" -p "$TGT_PORTAL" --logout
	iscsiadm -m discovery -t sendtargets -p "$TGT_PORTAL" >/dev/null
	disk()
	{
		lsblk -dno NAME,TRAN | awk '$2 == "iscsi" { print $1 }'
	}
	disk_there()
	{
		name=$(disk)
		[ -n "$name" ] && [ -b "/dev/$name" ]
	}
	disk_gone()
	{
		[ -z "$(disk)" ]
	}
	# Polled every 10 ms, not 100: the times are what is measured here.
	wait_fast()
	{
		local deadline=$((SECONDS + 60))

		until "$2"; do
			[ "$SECONDS" -lt "$deadline" ] || die "waited 60 s for $1"
			sleep 0.01
		done
	}
	: >"$TGT_TMPDIR/kernel"
	for ((i = 0; i < CYCLES; i++)); do
		t0=$(now_us)
		iscsiadm -m node -T "$IQN" -p "$TGT_PORTAL" --login >/dev/null
		wait_fast "the kernel initiator's disk" disk_there
		t1=$(now_us)
		[ "$(dd if="/dev/$name" bs=4096 count=1 iflag=direct status=none | wc -c)" -eq 4096 ] ||
			die "no first read from /dev/$name"
		t2=$(now_us)
		iscsiadm -m node -T "$IQN" -p "$TGT_PORTAL" --logout >/dev/null
		wait_fast "the kernel initiator's disk to go" disk_gone
		t3=$(now_us)
		echo "$((t1 - t0)) $((t3 - t2))" >>"$TGT_TMPDIR/kernel"
	done
	echo "vm-cycles: iscsiadm: login $(pctl "$TGT_TMPDIR/kernel" 1) ms," \
		"logout $(pctl "$TGT_TMPDIR/kernel" 2) ms ($CYCLES cycles)"
fi
