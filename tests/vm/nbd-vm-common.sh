# shellcheck shell=bash
# Shared by the VM tests of iser-attach --nbd: attach a LUN to the kernel's
# nbd driver and detach it again, inside the VM (sourced after
# tests/functions.sh, tests/vm/vm-functions.sh and run_self_in_vm).
#
#   vm_nbd_requires              # tgtd, the nbd driver, the state directory
#   tgt_simple_target "$IQN" 64
#   kernel_attach "$IQN"         # sets NBD_DEV, NBD_PID
#   dd ... of="$NBD_DEV" oflag=direct
#   kernel_detach                # checks the clean exit and the free device
#
# iser-attach runs in the foreground under the wrapper shell of
# tests/integration/nbd-common.sh (same attachment directories, same
# checks of its exit status and log), with --nbd instead of --socket.

source "$top_srcdir/tests/integration/nbd-common.sh"

# Under emulation every command costs; timestamps in the trace show where
# the time of a slow run went.
PS4='+ ${EPOCHREALTIME} '

# How many /dev/nbdN the driver creates at load time.
NBDS_MAX=4

# vm_nbd_requires [START_TGTD_OPTIONS]: what every test needs:
# iser-attach and iser-detach, a private tgtd (start_tgtd with the
# options), and the nbd driver with its NBDS_MAX idle devices.
vm_nbd_requires()
{
	nbd_requires "$@"
	modprobe nbd nbds_max="$NBDS_MAX" || die "cannot load kernel module nbd"
	[ "$(cat /sys/module/nbd/parameters/nbds_max)" -eq "$NBDS_MAX" ] ||
		die "nbd did not take nbds_max=$NBDS_MAX"
	local i
	for ((i = 0; i < NBDS_MAX; i++)); do
		[ -b "/dev/nbd$i" ] || die "no /dev/nbd$i after modprobe nbd"
		nbd_is_free "/dev/nbd$i" || die "/dev/nbd$i is in use before the test"
	done
}

# nbd_sysfs DEV: /sys/block/nbdN of DEV.
nbd_sysfs()
{
	echo "/sys/block/${1#/dev/}"
}

# nbd_io_timeout DEV MS: the block layer's timeout of DEV, after which
# the driver drops the socket of an unanswered request (with several).
nbd_io_timeout()
{
	local f

	f=$(nbd_sysfs "$1")/queue/io_timeout
	echo "$2" >"$f"
	[ "$(cat "$f")" -eq "$2" ] || die "$1: io_timeout did not take $2 ms"
}

# clients_are N: iser-list shows N NBD clients (the kernel's sockets) for
# the one attachment of the test.
clients_are()
{
	[ "$(attachment_field clients)" -eq "$1" ]
}

# nbd_is_free DEV: true if no server is attached to DEV: no size and no
# "pid" attribute (the driver shows it while a connection is set up).
nbd_is_free()
{
	local sys

	sys=$(nbd_sysfs "$1")
	[ "$(cat "$sys/size")" -eq 0 ] && [ ! -e "$sys/pid" ]
}

# kernel_attach [--name N] [--portal P] [--size BYTES] IQN [iser-attach
# options...]: attach the target's LUN to the nbd driver (the first free
# device unless an option names one).  The options follow PORTAL and IQN:
# a bare --nbd takes the next argument that does not start with "-" as
# its device.  Waits until iser-attach printed the device, checks that it
# is a block device of the LUN's size (BYTES, by default the size of the
# tgt LUN's backing file; in 512-byte sectors in sysfs) served by
# iser-attach, and sets NBD_DEV and NBD_PID (also as NBD_DEV_N,
# NBD_PID_N).  N defaults to 0, P to our tgtd's portal.  The attachment
# is detached at exit if the test did not do it.
kernel_attach()
{
	local n=0 portal=$TGT_PORTAL lun_bytes="" iqn dir line sys

	while [[ $1 == --* ]]; do
		case $1 in
		--name) n=$2 ;;
		--portal) portal=$2 ;;
		--size) lun_bytes=$2 ;;
		*) die "kernel_attach: unknown option $1" ;;
		esac
		shift 2
	done
	iqn=$1
	shift
	dir=$TGT_TMPDIR/attach$n
	# Attaching N again after a detach starts from scratch.
	if [ -d "$dir" ]; then
		[ -e "$dir/rc" ] || die "attachment $n is still attached"
		rm -rf "$dir"
	else
		cleanup_fn _kernel_cleanup "$dir"
	fi
	attach_start "$dir" 60 "$ISER_ATTACH" --foreground --pid-file "$dir/pid" \
		"$portal" "$iqn" "$@"
	line=$ATTACH_LINE
	[[ $line =~ ^/dev/nbd[0-9]+$ ]] ||
		die "iser-attach printed '$line', expected /dev/nbdN"
	NBD_DEV=$line
	[ -b "$NBD_DEV" ] || die "$NBD_DEV is not a block device"
	NBD_PID=$(cat "$dir/child")
	[ "$(cat "$dir/pid")" = "$NBD_PID" ] ||
		die "the pid file says '$(cat "$dir/pid")', iser-attach is $NBD_PID"
	sys=$(nbd_sysfs "$NBD_DEV")
	[ -n "$lun_bytes" ] || lun_bytes=$(_lun_bytes "$iqn" "$@")
	[ "$(cat "$sys/size")" -eq $((lun_bytes / 512)) ] ||
		die "$sys/size is $(cat "$sys/size"), the LUN has $((lun_bytes / 512)) sectors"
	[ "$(blockdev --getsize64 "$NBD_DEV")" -eq "$lun_bytes" ] ||
		die "$NBD_DEV has $(blockdev --getsize64 "$NBD_DEV") bytes, the LUN $lun_bytes"
	printf -v "NBD_DEV_$n" %s "$NBD_DEV"
	printf -v "NBD_PID_$n" %s "$NBD_PID"
}

# _kernel_cleanup DIR: at exit, take down the attachment of DIR if the
# test left it behind, through the device it printed.
_kernel_cleanup()
{
	_nbd_cleanup "$1" "$(cat "$1/out" 2>/dev/null)"
}

# _lun_bytes IQN [iser-attach options...]: the size of the tgt LUN that
# the options select (--lun N, else LUN 1 of the target named IQN), from
# its backing file.
_lun_bytes()
{
	local iqn=$1 lun=1 tid

	shift
	while [ $# -gt 0 ]; do
		case $1 in
		--lun | -l)
			lun=$2
			shift
			;;
		--lun=*) lun=${1#--lun=} ;;
		esac
		shift
	done
	tid=$(tgt_adm --mode target --op show |
	      sed -n "s/^Target \([0-9]\+\): $iqn\$/\1/p")
	[ -n "$tid" ] || die "no tgt target $iqn"
	stat -c %s "$(tgt_lun_file "$tid" "$lun")"
}

# kernel_detach [N]: detach attachment N (default 0) with iser-detach
# and check that the device is free again.
kernel_detach()
{
	local dev_var=NBD_DEV_${1:-0}

	kernel_detach_only "${1:-0}"
	kernel_wait_free "${!dev_var}"
}

# kernel_detach_only [N]: iser-detach of attachment N (default 0) must
# report it, and iser-attach must exit 0 with a clean log.  The device
# stays in the driver until its last opener closes it.
kernel_detach_only()
{
	local n=${1:-0} dir dev_var dev out rc

	dir=$TGT_TMPDIR/attach$n
	dev_var=NBD_DEV_$n
	dev=${!dev_var}
	out=$(expect_ok_with "detached $dev" "$ISER_DETACH" "$dev") ||
		die "iser-detach $dev failed"
	[ "$out" = "detached $dev" ] ||
		die "iser-detach printed '$out', expected 'detached $dev'"
	rc=$(attach_wait_exit "$dir") || die "iser-attach did not exit after iser-detach"
	[ "$rc" -eq 0 ] || die "iser-attach exited $rc after iser-detach"
	_nbd_check_log "$dir" || die "iser-attach reported a sanitizer error"
}

# kernel_wait_free DEV: wait up to 10 s for the driver to release DEV
# (the disconnect is asynchronous: the driver tears the device down after
# its sockets are shut).
kernel_wait_free()
{
	local i

	for ((i = 0; i < 100; i++)); do
		nbd_is_free "$1" && return 0
		sleep 0.1
	done
	die "$1 is still attached: size $(cat "$(nbd_sysfs "$1")/size")"
}

# write_pattern FILE MIB: MIB MiB of random data in FILE.
write_pattern()
{
	head -c $(($2 << 20)) /dev/urandom >"$1"
}

# dev_write DEV FILE OFFSET_MIB: write FILE to DEV at OFFSET_MIB MiB with
# O_DIRECT, then flush the device.
dev_write()
{
	dd if="$2" of="$1" bs=1M seek="$3" oflag=direct conv=fsync status=none
}

# dev_read_cmp DEV FILE OFFSET_MIB: what DEV holds at OFFSET_MIB MiB,
# read with O_DIRECT, must be FILE.
dev_read_cmp()
{
	local mib=$(($(stat -c %s "$2") >> 20))

	cmp <(dd if="$1" bs=1M skip="$3" count="$mib" iflag=direct status=none) "$2" ||
		die "$1 holds other data at $3 MiB than was written"
}

# lun_cmp TID LUN FILE OFFSET_MIB: the tgt LUN's backing file must hold
# FILE at OFFSET_MIB MiB.
lun_cmp()
{
	cmp -n "$(stat -c %s "$3")" -i "$(($4 << 20)):0" "$(tgt_lun_file "$1" "$2")" "$3" ||
		die "LUN $2 of target $1 holds other data at $4 MiB than was written"
}
