#!/usr/bin/env bash
# iSER benchmark: inside one throw-away VM (tests/vm/run-vm.sh), one tgtd
# with its iSER driver on soft-RoCE (rxe0) and one LUN file in tmpfs,
# reached by these initiators with the same workloads:
#
#   ours-iser   iser-attach --transport iser --nbd -> /dev/nbdN, fio
#   ours-tcp    iser-attach --transport tcp --nbd -> /dev/nbdN, fio (a
#               second tgtd target on the same backing file: tgt refuses
#               TCP logins to a target made for iSER)
#   kernel      open-iscsi with the kernel's ib_iser -> /dev/sdX, fio
#   kernel-tcp  open-iscsi with the kernel's iscsi_tcp on the TCP target
#               -> /dev/sdY, fio: the peer of ours-tcp
#   libiscsi    iscsi-perf iser://... (libiscsi's own reader, reads only)
#   ours-api    isa-io perf --transport iser: our library driven directly,
#               the like-for-like peer of iscsi-perf (no block device)
#   ours-iser-2p  ours-iser with two paths (--paths-per-portal 2: two
#               sessions on the portal, path 2 on its own thread) ->
#               /dev/nbdN, fio: multipath against one path
#   mw-iser, mw-api   the same two with ISA_ISER_WINDOWS=mw: a type 2
#               memory window per command instead of a registration
#   before-iser, before-api   the same two from another build, given as
#               ISA_BENCH_BEFORE=BUILDDIR (the version before a change)
#
# ISA_BENCH_INITIATORS="ours-iser ours-api ..." runs only those (default:
# all; the before-* rows only with ISA_BENCH_BEFORE), ISA_BENCH_WORKLOADS=
# "4k-randread ..." only those workloads.
#
# Workloads: 4 KiB random read at queue depth 32, 1 MiB sequential read
# and 1 MiB sequential write at queue depth 16 (fio: libaio, O_DIRECT, no
# ramp time).  iscsi-perf only reads, so its write cell is n/a; and
# libiscsi 1.19's iSER refuses commands over 256 KiB (DATA_BUFFER_SIZE in
# lib/iser.c, whatever its message "Libiscsi-iSER supports messages
# smaller than 512k" says), so its sequential read, and ours-api's to
# match, run at 256 KiB and queue depth 64: the same 16 MiB in flight.
# The block devices go through the block layer, which splits 1 MiB at the
# 512 KiB tgt allows per command (ib_iser's max_sectors, our
# max_transfer); the API tools send what they are given.
#
# CPU cost, the same way for all: CPU seconds per GiB moved, where CPU
# time is the whole VM's busy time (/proc/stat: user, nice, system, irq,
# softirq, steal) over the run minus tgtd's (utime + stime from
# /proc/PID/stat), and the bytes are what the tool reports for the run.
# It counts everything the initiator side costs: the load generator (fio,
# iscsi-perf, isa-io), the block layer and nbd or ib_iser/SCSI, our
# daemon, and the soft-RoCE work in the kernel (for both ends, which no
# process accounting can split; it is the same data either way).  For the
# nbd rows the daemon's own share (iser-attach's utime + stime) is
# printed too.
#
# All sessions are up during the whole run, and each workload runs on
# every initiator in turn, so that noise from the host hits them alike.
# The ratios are of bandwidth (IOPS alike at one block size) and of CPU
# per GiB: ours-iser / libiscsi, ours-iser / kernel, ours-tcp /
# kernel-tcp, ours-iser / ours-tcp, and ours-api / libiscsi.
#
#   bench/iser-bench.sh [SECONDS_PER_RUN]      (default 5; as root)
#
# LUN_MB sets the LUN size (default 512), ISA_VM_MEM the VM's memory.
# Run it from (or with top_builddir pointing at) a build WITHOUT
# --enable-sanitizers.  Under QEMU's TCG emulator the absolute figures
# mean little; the ratios within one VM run are what to track.  Not part
# of make check or make check-vm.
set -e -u

SECONDS_PER_RUN=${1:-5}
LUN_MB=${LUN_MB:-512}

here=$(cd "$(dirname "$0")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
export top_srcdir top_builddir
ISA_TEST_QUIET=1
# shellcheck source=tests/functions.sh
source "$top_srcdir/tests/functions.sh"
# shellcheck source=bench/bench-common.sh
source "$top_srcdir/bench/bench-common.sh"
# shellcheck source=tests/vm/vm-functions.sh
source "$top_srcdir/tests/vm/vm-functions.sh"
# shellcheck source=tests/vm/iser-vm-common.sh
source "$top_srcdir/tests/vm/iser-vm-common.sh"
ISER_LIST=$top_builddir/iser-list

# on_host: check what the VM run needs, then run this script in a VM and
# exit with its status.
on_host()
{
	local accel

	requires qemu-system-x86_64 fio iscsiadm iscsid iscsi-perf tgtd rdma
	[ -x "$ISER_ATTACH" ] || die "$ISER_ATTACH not built"
	[ -x "$ISA_IO" ] || die "$ISA_IO not built (make tests/isa-io)"
	bench_require_plain "$ISER_ATTACH"
	if [ -n "${ISA_BENCH_BEFORE:-}" ]; then
		[ -x "$ISA_BENCH_BEFORE/iser-attach" ] && [ -x "$ISA_BENCH_BEFORE/tests/isa-io" ] ||
			die "ISA_BENCH_BEFORE=$ISA_BENCH_BEFORE has no iser-attach and tests/isa-io"
		bench_require_plain "$ISA_BENCH_BEFORE/iser-attach"
	fi
	accel=$("$top_srcdir/tests/vm/run-vm.sh" --print-accel) || die "no VM can boot"
	echo "iser-bench: VM with $accel, ${ISA_VM_MEM:-2G} memory, $SECONDS_PER_RUN s per run," \
		"host load $(cut -d' ' -f1-3 /proc/loadavg)"
	ISA_IN_VM=1 ISA_VM_ACCEL=$accel \
		"$top_srcdir/tests/vm/run-vm.sh" -- "$BASH" "$0" "$SECONDS_PER_RUN"
}

# The initiator names tgt's iSER driver must have bound (see
# tgt_bind_initiator): ours comes from the test configuration, the other
# two are set here.
KERNEL_INITIATOR=iqn.2026-11.org.iser-attach.bench:kernel
LIBISCSI_INITIATOR=iqn.2026-11.org.iser-attach.bench:libiscsi

# target_params TID: the iSCSI settings of both targets.  tgt's iSER
# driver imposes InitialR2T=Yes and ImmediateData=No whatever is set, so
# the TCP target gets them too: every initiator runs the same exchange
# (write data only after the target asks for it).
target_params()
{
	bench_tgt_params "$1" Yes No
}

# tgt_setup: target 1 for iSER, target 2 for TCP, both with LUN 1 on the
# same file, allocated up front in tmpfs.
tgt_setup()
{
	local name

	start_tgtd_iser
	cleanup_fn kill_tgtd
	bench_tgt_lun 1 "$IQN" "$LUN_MB"
	# tgt 1.0.85's iSER login (iser_text.c) wants both an address and a
	# name ACL to match, where TCP logins need either.
	tgt_bind_all 1
	for name in "$ISER_INITIATOR" "$KERNEL_INITIATOR" "$LIBISCSI_INITIATOR"; do
		tgt_adm --mode target --op bind --tid 1 --initiator-name "$name"
	done
	target_params 1
	TGT_LLD=iscsi
	tgt_add_target 2 "$IQN-tcp"
	tgt_adm --mode logicalunit --op new --tid 2 --lun 1 --backing-store "$LUN_FILE"
	tgt_bind_all 2
	target_params 2
	TGT_LLD=iser
}

# kill_tgtd: tgtd 1.0.85 keeps an iSER I_T nexus after its initiator
# logged out and the RDMA connection closed (iser_conn_close leaves the
# connection with the references of its posted receives), and deleting
# the target then (stop_tgtd's delete --force) crashes tgtd.  Nothing
# outlives the VM, so tgtd is killed instead.
kill_tgtd()
{
	kill -9 "$TGT_PID"
	wait "$TGT_PID" 2>/dev/null || :
	TGT_PID=
}

# kernel_disk NOT: wait for the kernel initiator's disk that is not NOT
# (a /dev/sdX, or "" for any) to appear, check its size and print it. The
# disk is found through its transport, /dev/disk/by-path being udev's.
kernel_disk()
{
	local i name=

	for ((i = 0; i < 100; i++)); do
		name=$(lsblk -dno NAME,TRAN | awk -v not="${1#/dev/}" \
			'$2 == "iscsi" && $1 != not { print $1; exit }')
		[ -n "$name" ] && [ -b "/dev/$name" ] && break
		sleep 0.2
	done
	[ -n "$name" ] || die "the kernel initiator's disk did not appear"
	[ "$(blockdev --getsize64 "/dev/$name")" -eq $((LUN_MB << 20)) ] ||
		die "/dev/$name is not the LUN"
	echo "/dev/$name"
}

# kernel_login: iscsid by hand (there is no service manager in the VM)
# with our own initiator name, a node record for the iSER portal on
# open-iscsi's built-in "iser" interface (no discovery: tgtd serves TCP
# only on loopback), login; sets KERNEL_DEV to the LUN's /dev/sdX.
kernel_login()
{
	# Without udev nothing loads the disk driver when the LUN shows up.
	modprobe -a ib_iser sd_mod || die "no ib_iser or sd_mod module"
	echo "InitiatorName=$KERNEL_INITIATOR" >/etc/iscsi/initiatorname.iscsi
	mkdir -p /run/lock/iscsi
	iscsid
	cleanup_fn kernel_logout
	iscsiadm -m node -o new -T "$IQN" -p "$TGT_ISER_PORTAL" -I iser >/dev/null
	iscsiadm -m node -T "$IQN" -p "$TGT_ISER_PORTAL" -I iser --login >/dev/null ||
		die "the kernel initiator cannot log in over iSER"
	KERNEL_DEV=$(kernel_disk "")
	iscsiadm -m session -P 1 | grep -q 'Iface Transport: iser' ||
		die "the kernel session is not over iSER"
}

kernel_logout()
{
	iscsiadm -m node -T "$IQN" -p "$TGT_ISER_PORTAL" -I iser --logout >/dev/null 2>&1 || :
}

# kernel_tcp_login: the kernel's iscsi_tcp on the TCP target (iscsid is
# running: kernel_login comes first); sets KERNEL_TCP_DEV to the disk that
# is not KERNEL_DEV.
kernel_tcp_login()
{
	modprobe iscsi_tcp || die "no iscsi_tcp module"
	cleanup_fn kernel_tcp_logout
	iscsiadm -m node -o new -T "$IQN-tcp" -p "$TGT_PORTAL" >/dev/null
	iscsiadm -m node -T "$IQN-tcp" -p "$TGT_PORTAL" --login >/dev/null ||
		die "the kernel initiator cannot log in over TCP"
	KERNEL_TCP_DEV=$(kernel_disk "$KERNEL_DEV")
	iscsiadm -m session -P 1 | grep -q 'Iface Transport: tcp' ||
		die "no kernel session is over TCP"
}

kernel_tcp_logout()
{
	iscsiadm -m node -T "$IQN-tcp" -p "$TGT_PORTAL" --logout >/dev/null 2>&1 || :
}

# attach DEV_VAR PID_VAR TRANSPORT PORTAL IQN DEVICE [PROGRAM]:
# iser-attach --nbd=DEVICE (or PROGRAM) as a daemon, the way a user runs
# it; sets DEV_VAR to the device and PID_VAR to the daemon's pid.  The
# device is named: a second attachment of one LUN to the next free device
# would be taken for the first one.
attach()
{
	local dev pidfile=$TGT_TMPDIR/attach-$1.pid

	dev=$("${7:-$ISER_ATTACH}" --transport "$3" "$4" "$5" --nbd="$6" --pid-file "$pidfile" \
		"${@:8}") ||
		die "iser-attach --transport $3 failed"
	cleanup_fn "$ISER_DETACH" "$dev"
	[ "$(blockdev --getsize64 "$dev")" -eq $((LUN_MB << 20)) ] || die "$dev is not the LUN"
	printf -v "$1" %s "$dev"
	printf -v "$2" %s "$(cat "$pidfile")"
}

# busy_ticks: the VM's CPU time in clock ticks, all CPUs, idle and iowait
# left out.
busy_ticks()
{
	awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

# proc_ticks PID: utime + stime of process PID (all its threads).  The
# fields are counted after the command name, which may hold blanks.
proc_ticks()
{
	local stat

	stat=$(<"/proc/$1/stat")
	stat=${stat##*) }
	awk '{ print $12 + $13 }' <<<"$stat"
}

# measure CMD...: run CMD (which prints "BYTES MIB/S IOPS") and print
# "MIB/S IOPS CPU_S_PER_GIB DAEMON_S_PER_GIB", CPU as the header says; the
# daemon column is for OUR_PID, when set.
measure()
{
	local b0 t0 d0=0 b1 t1 d1=0 out

	b0=$(busy_ticks)
	t0=$(proc_ticks "$TGT_PID")
	[ -z "${OUR_PID:-}" ] || d0=$(proc_ticks "$OUR_PID")
	out=$("$@")
	b1=$(busy_ticks)
	t1=$(proc_ticks "$TGT_PID")
	[ -z "${OUR_PID:-}" ] || d1=$(proc_ticks "$OUR_PID")
	awk -v hz="$HZ" -v b=$((b1 - b0 - (t1 - t0))) -v d=$((d1 - d0)) -v daemon="${OUR_PID:-}" \
		'{ gib = $1 / 2^30; printf "%s %s %.2f %s\n", $2, $3,
		   b / hz / gib, daemon ? sprintf("%.2f", d / hz / gib) : "-" }' <<<"$out"
}

# run_fio DEV RW BS QD: a time-based fio run on DEV; prints "BYTES MiB/s
# IOPS" of its direction, from fio's terse output (read total KiB,
# bandwidth in KiB/s and IOPS are fields 6 to 8, write 47 to 49).
run_fio()
{
	local out

	out=$(fio --name=bench --filename="$1" --ioengine=libaio --direct=1 \
		--rw="$2" --bs="$3" --iodepth="$4" --size="${LUN_MB}M" \
		--time_based --runtime="$SECONDS_PER_RUN" \
		--randrepeat=0 --output-format=terse --terse-version=3) ||
		die "fio $* failed"
	case $2 in
	*write) awk -F';' '$5 != 0 { exit 1 } { printf "%d %.1f %d\n", $47 * 1024, $48 / 1024, $49 }' <<<"$out" ;;
	*) awk -F';' '$5 != 0 { exit 1 } { printf "%d %.1f %d\n", $6 * 1024, $7 / 1024, $8 }' <<<"$out" ;;
	esac || die "fio $* reported an error"
}

# run_perf BLOCKS QD [-r]: iscsi-perf over iSER for SECONDS_PER_RUN,
# BLOCKS 512-byte blocks per read; prints "BYTES MiB/s IOPS".  It prints
# its final average as "iops average N (M MB/s)"; the elapsed time is
# its whole seconds of runtime.
run_perf()
{
	local out iops

	out=$(iscsi-perf -i "$LIBISCSI_INITIATOR" -m "$2" -b "$1" -t "$SECONDS_PER_RUN" ${3:+"$3"} \
		"iser://$TGT_ISER_PORTAL/$IQN/1" 2>&1) || die "iscsi-perf failed: $out"
	iops=$(tr '\r' '\n' <<<"$out" | sed -n 's/^iops average \([0-9]*\) .*/\1/p' | tail -n 1)
	[ -n "$iops" ] || die "no result from iscsi-perf: $out"
	awk -v i="$iops" -v b="$(($1 * 512))" -v s="$SECONDS_PER_RUN" \
		'BEGIN { printf "%d %.1f %d\n", i * b * s, i * b / 2^20, i }'
}

# run_api RW BS QD: isa-io perf over iSER for SECONDS_PER_RUN; prints
# "BYTES MiB/s IOPS" from its "perf: ... N requests in S s, ..." line.
run_api()
{
	local out

	out=$("${API_IO:-$ISA_IO}" --transport iser --qd "$3" "$TGT_ISER_PORTAL" "$IQN" perf \
		--rw "$1" --bs "$2" --seconds "$SECONDS_PER_RUN") || die "isa-io perf $* failed"
	grep -q 'copied payload 0$' <<<"$out" || die "isa-io perf copied payload: $out"
	awk -v bs="$2" '/^perf:/ { sub(/[kK]$/, "", bs)
		for (i = 1; i <= NF; i++) { if ($i == "requests") n = $(i - 1); if ($i == "s,") t = $(i - 1) }
		b = n * bs * 1024; printf "%d %.1f %d\n", b, b / 2^20 / t, n / t }' <<<"$out"
}

# Workloads: fio rw, block size, queue depth; then what iscsi-perf and
# isa-io perf run instead: blocks of 512 bytes, KiB, queue depth.
declare -A WORKLOADS=(
	[4k-randread]="randread 4k 32 8 4 32"
	[1m-seqread]="read 1m 16 512 256 64"
	[1m-seqwrite]="write 1m 16 - 1024 16"
)
WORKLOAD_ORDER=(4k-randread 1m-seqread 1m-seqwrite)
# shellcheck disable=SC2206
[ -z "${ISA_BENCH_WORKLOADS:-}" ] || WORKLOAD_ORDER=($ISA_BENCH_WORKLOADS)
INITIATORS=(ours-iser ours-tcp kernel kernel-tcp libiscsi ours-api mw-iser mw-api ours-iser-2p)
[ -z "${ISA_BENCH_BEFORE:-}" ] || INITIATORS+=(before-iser before-api)
# shellcheck disable=SC2206
[ -z "${ISA_BENCH_INITIATORS:-}" ] || INITIATORS=($ISA_BENCH_INITIATORS)
# Names this script does not know are refused before anything starts.
for w in "${WORKLOAD_ORDER[@]}"; do
	[ -n "${WORKLOADS[$w]+set}" ] || {
		echo "iser-bench: unknown workload '$w' in ISA_BENCH_WORKLOADS" \
			"(known: ${!WORKLOADS[*]})" >&2
		exit 2
	}
done
KNOWN_INITIATORS=" ours-iser ours-tcp kernel kernel-tcp libiscsi ours-api mw-iser mw-api ours-iser-2p before-iser before-api "
for i in "${INITIATORS[@]}"; do
	[[ $KNOWN_INITIATORS == *" $i "* ]] || {
		echo "iser-bench: unknown initiator '$i' in ISA_BENCH_INITIATORS" \
			"(known:$KNOWN_INITIATORS)" >&2
		exit 2
	}
done

# wanted INITIATOR: whether this run has INITIATOR.
wanted()
{
	[[ " ${INITIATORS[*]} " == *" $1 "* ]]
}

# cell WORKLOAD INITIATOR: sets CELL (MiB/s IOPS CPU DAEMON) for one run.
cell()
{
	local rw bs qd blocks kib pqd

	read -r rw bs qd blocks kib pqd <<<"${WORKLOADS[$1]}"
	OUR_PID=
	case $2 in
	ours-iser) OUR_PID=$ISER_PID CELL=$(measure run_fio "$ISER_DEV" "$rw" "$bs" "$qd") ;;
	ours-tcp) OUR_PID=$TCP_PID CELL=$(measure run_fio "$TCP_DEV" "$rw" "$bs" "$qd") ;;
	ours-iser-2p) OUR_PID=$MP_PID CELL=$(measure run_fio "$MP_DEV" "$rw" "$bs" "$qd") ;;
	kernel) CELL=$(measure run_fio "$KERNEL_DEV" "$rw" "$bs" "$qd") ;;
	kernel-tcp) CELL=$(measure run_fio "$KERNEL_TCP_DEV" "$rw" "$bs" "$qd") ;;
	ours-api) CELL=$(measure run_api "$rw" "${kib}K" "$pqd") ;;
	mw-iser) OUR_PID=$MW_PID CELL=$(measure run_fio "$MW_DEV" "$rw" "$bs" "$qd") ;;
	mw-api) CELL=$(ISA_ISER_WINDOWS=mw measure run_api "$rw" "${kib}K" "$pqd") ;;
	before-iser) OUR_PID=$BEFORE_PID CELL=$(measure run_fio "$BEFORE_DEV" "$rw" "$bs" "$qd") ;;
	before-api) CELL=$(API_IO=$ISA_BENCH_BEFORE/tests/isa-io measure run_api "$rw" "${kib}K" "$pqd") ;;
	libiscsi)
		case $rw in
		randread) CELL=$(measure run_perf "$blocks" "$pqd" -r) ;;
		read) CELL=$(measure run_perf "$blocks" "$pqd") ;;
		*) CELL="n/a n/a n/a -" ;;
		esac
		;;
	esac
}

# ratio A B: A / B, or n/a.
ratio()
{
	awk -v a="$1" -v b="$2" 'BEGIN { if (a + 0 > 0 && b + 0 > 0) printf "%.2f", a / b; else printf "n/a" }'
}

# print_results: the table and the ratios, from RES.
print_results()
{
	local w i rw bs qd blocks kib pqd what
	local -a c o l k t a

	echo "CPU: the VM's busy CPU time minus tgtd's, in seconds per GiB moved;"
	echo "daemon: iser-attach's own share.  libiscsi and ours-api read 256 KiB at QD64 where fio reads 1 MiB at QD16."
	printf '%-12s %-10s %-20s %9s %8s %9s %9s\n' workload initiator request MiB/s IOPS "CPU s/GiB" daemon
	for w in "${WORKLOAD_ORDER[@]}"; do
		read -r rw bs qd blocks kib pqd <<<"${WORKLOADS[$w]}"
		for i in "${INITIATORS[@]}"; do
			case $i in
			libiscsi | ours-api) what="${kib}K QD$pqd" ;;
			*) what="$bs QD$qd" ;;
			esac
			read -r -a c <<<"${RES[$w,$i]}"
			printf '%-12s %-10s %-20s %9s %8s %9s %9s\n' "$w" "$i" "$rw $what" "${c[@]}"
		done
	done
	echo
	echo "ratios: bandwidth (MiB/s) and, after the bar, CPU s/GiB (A/B: A's over B's)"
	local -a pairs=() heads=()
	local p x y
	for p in ours-iser:libiscsi ours-iser:kernel ours-tcp:kernel-tcp ours-iser:ours-tcp \
		ours-api:libiscsi \
		ours-iser:before-iser ours-api:before-api ours-iser:mw-iser ours-api:mw-api \
		ours-iser-2p:ours-iser; do
		wanted "${p%%:*}" && wanted "${p##*:}" || continue
		pairs+=("$p")
		x=${p%%:*} y=${p##*:}
		heads+=("${x#ours-}/${y#ours-}")
	done
	printf '%-12s' ""
	printf ' %11s' "${heads[@]}"
	printf ' |'
	printf ' %11s' "${heads[@]}"
	echo
	for w in "${WORKLOAD_ORDER[@]}"; do
		printf '%-12s' "$w"
		for i in 0 2; do
			[ "$i" -eq 0 ] || printf ' |'
			for p in "${pairs[@]}"; do
				read -r -a o <<<"${RES[$w,${p%%:*}]}"
				read -r -a l <<<"${RES[$w,${p##*:}]}"
				printf ' %11s' "$(ratio "${o[$i]}" "${l[$i]}")"
			done
		done
		echo
	done
}

in_vm()
{
	local w i copied
	declare -A RES

	IQN=iqn.2026-11.org.iser-attach.bench:iser
	HZ=$(getconf CLK_TCK)
	iser_setup_rxe
	tgt_setup
	modprobe nbd nbds_max=5 || die "no nbd module"
	! wanted ours-iser || attach ISER_DEV ISER_PID iser "$TGT_ISER_PORTAL" "$IQN" /dev/nbd0
	! wanted ours-tcp || attach TCP_DEV TCP_PID tcp "$TGT_PORTAL" "$IQN-tcp" /dev/nbd1
	! wanted mw-iser ||
		ISA_ISER_WINDOWS=mw attach MW_DEV MW_PID iser "$TGT_ISER_PORTAL" "$IQN" /dev/nbd2
	! wanted ours-iser-2p || attach MP_DEV MP_PID iser "$TGT_ISER_PORTAL" "$IQN" /dev/nbd4 \
		"$ISER_ATTACH" --paths-per-portal 2
	! wanted before-iser || attach BEFORE_DEV BEFORE_PID iser "$TGT_ISER_PORTAL" "$IQN" \
		/dev/nbd3 "$ISA_BENCH_BEFORE/iser-attach"
	if wanted kernel-tcp && ! wanted kernel; then
		die "kernel-tcp needs kernel too (it starts iscsid)"
	fi
	! wanted kernel || kernel_login
	! wanted kernel-tcp || kernel_tcp_login
	echo "devices: ours-iser ${ISER_DEV:-}, ours-tcp ${TCP_DEV:-}, kernel ${KERNEL_DEV:-}," \
		"kernel-tcp ${KERNEL_TCP_DEV:-}," \
		"mw-iser ${MW_DEV:-}, before-iser ${BEFORE_DEV:-};" \
		"libiscsi: iscsi-perf iser://$TGT_ISER_PORTAL/$IQN/1"
	echo "negotiated over iSER (ours):" \
		"$("$ISA_IO" --transport iser "$TGT_ISER_PORTAL" "$IQN" info |
			grep -E '^(max_|first_burst|initial_r2t|immediate_data)' | tr '\n' ' ')"
	for w in "${WORKLOAD_ORDER[@]}"; do
		for i in "${INITIATORS[@]}"; do
			cell "$w" "$i"
			RES[$w,$i]=$CELL
		done
	done
	echo
	print_results
	echo
	"$ISER_LIST"
	copied=$("$ISER_LIST" --json | awk -v dev="${ISER_DEV:-}" -F'"copied_bytes": ' \
		'index($0, "\"" dev "\"") { split($2, v, /[,}]/); print v[1] }')
	echo "ours-iser copied payload: ${copied:-?} bytes"
	echo "VM load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ "${ISA_IN_VM:-}" = 1 ]; then
	in_vm
else
	on_host
fi
