#!/usr/bin/env bash
# Kernel attach benchmark: inside one throw-away VM (tests/vm/run-vm.sh),
# the same tgtd LUN in tmpfs reached through the kernel's own iSCSI
# initiator (open-iscsi, iscsi_tcp: /dev/sdX) and through iser-attach
# --nbd (/dev/nbdN), with the same fio runs on both block devices:
# 4 KiB random read at queue depth 32, 1 MiB sequential read and write at
# queue depth 16 (libaio, O_DIRECT).
#
#   bench/vm-nbd-bench.sh [SECONDS_PER_RUN]     (default 5; as root)
#
# Run it from (or with top_builddir pointing at) a build WITHOUT
# --enable-sanitizers.  Under QEMU's TCG emulator the absolute figures
# mean little; the ratio ours / kernel within one VM run is what to
# track.  Not part of make check or make check-vm.
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
ISER_ATTACH=$top_builddir/iser-attach
ISER_DETACH=$top_builddir/iser-detach

# on_host: check what the VM run needs, then run this script in a VM and
# exit with its status.
on_host()
{
	local accel

	requires qemu-system-x86_64 fio iscsiadm iscsid
	[ -x "$ISER_ATTACH" ] || die "$ISER_ATTACH not built"
	bench_require_plain "$ISER_ATTACH"
	accel=$("$top_srcdir/tests/vm/run-vm.sh" --print-accel) || die "no VM can boot"
	echo "vm-nbd-bench: VM with $accel, $SECONDS_PER_RUN s per run, host load $(cut -d' ' -f1-3 /proc/loadavg)"
	ISA_IN_VM=1 ISA_VM_ACCEL=$accel \
		"$top_srcdir/tests/vm/run-vm.sh" -- "$BASH" "$0" "$SECONDS_PER_RUN"
}

# tgt_setup: one target, one LUN allocated up front in tmpfs, with the
# same iSCSI settings as bench/nbd-bench.sh (large segments and bursts,
# immediate data) for both initiators.
tgt_setup()
{
	start_tgtd
	bench_tgt_lun 1 "$IQN" "$LUN_MB"
	tgt_bind_all 1
	bench_tgt_params 1
}

# kernel_login: iscsid by hand (there is no service manager in the VM),
# sendtargets discovery and login; sets KERNEL_DEV to the LUN's /dev/sdX.
# The disk is found through its transport, /dev/disk/by-path being udev's.
kernel_login()
{
	local i name=

	# Without udev nothing loads the disk driver when the LUN shows up.
	modprobe -a iscsi_tcp sd_mod || die "no iscsi_tcp or sd_mod module"
	mkdir -p /run/lock/iscsi
	iscsid
	cleanup_fn kernel_logout
	iscsiadm -m discovery -t sendtargets -p "$TGT_PORTAL" >/dev/null
	iscsiadm -m node -T "$IQN" -p "$TGT_PORTAL" --login >/dev/null
	for ((i = 0; i < 100; i++)); do
		name=$(lsblk -dno NAME,TRAN | awk '$2 == "iscsi" { print $1 }')
		[ -n "$name" ] && [ -b "/dev/$name" ] && break
		sleep 0.2
	done
	[ -n "$name" ] || die "the kernel initiator's disk did not appear"
	KERNEL_DEV=/dev/$name
	[ "$(blockdev --getsize64 "$KERNEL_DEV")" -eq $((LUN_MB << 20)) ] ||
		die "$KERNEL_DEV is not the LUN"
}

kernel_logout()
{
	iscsiadm -m node -T "$IQN" -p "$TGT_PORTAL" --logout >/dev/null 2>&1 || :
}

# nbd_attach_kernel: iser-attach --nbd as a daemon, the way a user runs
# it; sets OUR_DEV.
nbd_attach_kernel()
{
	modprobe nbd nbds_max=2 || die "no nbd module"
	OUR_DEV=$("$ISER_ATTACH" "$TGT_PORTAL" "$IQN" --nbd) || die "iser-attach failed"
	cleanup_fn detach_ours
	[ "$(blockdev --getsize64 "$OUR_DEV")" -eq $((LUN_MB << 20)) ] ||
		die "$OUR_DEV is not the LUN"
}

detach_ours()
{
	"$ISER_DETACH" "$OUR_DEV" >/dev/null || :
}

# run_fio DEV RW BS QD: a time-based fio run on DEV; prints "MiB/s IOPS"
# of its direction, from fio's terse output (read bandwidth and IOPS are
# fields 7 and 8, write 48 and 49, bandwidth in KiB/s).
run_fio()
{
	local out

	out=$(fio --name=bench --filename="$1" --ioengine=libaio --direct=1 \
		--rw="$2" --bs="$3" --iodepth="$4" --size="${LUN_MB}M" \
		--time_based --runtime="$SECONDS_PER_RUN" --ramp_time=1 \
		--randrepeat=0 --output-format=terse --terse-version=3) ||
		die "fio $* failed"
	case $2 in
	*write) awk -F';' '$5 != 0 { exit 1 } { printf "%.1f %d\n", $48 / 1024, $49 }' <<<"$out" ;;
	*) awk -F';' '$5 != 0 { exit 1 } { printf "%.1f %d\n", $7 / 1024, $8 }' <<<"$out" ;;
	esac || die "fio $* reported an error"
}

# in_vm: both initiators on the same LUN, each workload run on the kernel's
# device and then on ours, and the table.  The ratio is of the bandwidths
# (the same as of the IOPS, at one block size, but not rounded).
in_vm()
{
	local rows=("4k-randread randread 4k 32" "1m-seqread read 1m 16"
		    "1m-seqwrite write 1m 16")
	local row label rw bs qd k o

	IQN=iqn.2026-11.org.iser-attach.bench:vm-nbd
	tgt_setup
	kernel_login
	nbd_attach_kernel
	printf '%-16s | %-20s | %-20s | %s\n' workload "kernel $KERNEL_DEV" \
		"ours $OUR_DEV" "ratio ours/kernel"
	printf '%-16s | %9s %10s | %9s %10s |\n' "" MiB/s IOPS MiB/s IOPS
	for row in "${rows[@]}"; do
		read -r label rw bs qd <<<"$row"
		read -r -a k <<<"$(run_fio "$KERNEL_DEV" "$rw" "$bs" "$qd")"
		read -r -a o <<<"$(run_fio "$OUR_DEV" "$rw" "$bs" "$qd")"
		printf '%-16s | %9s %10s | %9s %10s | %.2f\n' "$label QD$qd" \
			"${k[0]}" "${k[1]}" "${o[0]}" "${o[1]}" \
			"$(awk -v o="${o[0]}" -v k="${k[0]}" 'BEGIN { print k ? o / k : 0 }')"
	done
	echo "VM load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
}

if [ "${ISA_IN_VM:-}" = 1 ]; then
	in_vm
else
	on_host
fi
