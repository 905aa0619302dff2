#!/bin/bash
# Run one command inside a throw-away VM and exit with its status:
#
#   tests/vm/run-vm.sh [--share DIR]... [--timeout SECONDS] -- COMMAND [ARGS...]
#   tests/vm/run-vm.sh --print-accel
#
# The VM boots Debian's stock kernel (the newest /boot/vmlinuz-*, or
# $ISA_VM_KERNEL) under QEMU, so tests can use kernel drivers the host
# does not have (nbd, rdma_rxe, LIO).  Its root is the host's root file
# system, read-only over 9p under a tmpfs overlay: every host program and
# the build tree are there, and whatever the guest writes is lost at
# power-off.  Each --share DIR is mounted read-write on the same path in
# the guest, for results the host should see.  There is no network card;
# only loopback is up.
#
# COMMAND runs as root in the caller's directory with the caller's
# environment.  Its stdout and stderr, merged, come out on our stdout
# (through the VM's second serial port); the kernel console goes to a log
# that is printed on stderr when the VM fails or when ISA_VM_VERBOSE is
# set.  Exit status 125 means the VM itself failed (no kernel, boot
# failure, timeout), as opposed to the command.
#
# KVM is used when it works, else QEMU's TCG emulator (ISA_VM_ACCEL=kvm
# or tcg forces one; --print-accel prints which one works, so that a
# series of runs can probe only once).  Memory: $ISA_VM_MEM (default 2G).  The initramfs is
# built at each run from busybox-static and the kernel's own modules; the
# uncompressed kernel is cached in $ISA_VM_CACHE (~/.cache/iser-attach).
set -euo pipefail

VM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_TIMEOUT=600
VM_MEM=${ISA_VM_MEM:-2G}
SHARES=()
PRINT_ACCEL=0
# Modules the initramfs loads to mount the host root and configfs (with their
# dependencies, in load order).
INITRAMFS_MODULES=(virtio_pci 9pnet_virtio 9p overlay configfs)
# Environment variables that describe the host session, not the command.
HOST_ONLY_ENV='^(BASH.*|SHELLOPTS|SHLVL|_|PWD|OLDPWD|DISPLAY|SSH_.*|XDG_.*|DBUS_.*|MAKEFLAGS|MFLAGS|MAKELEVEL|TMPDIR)$'

die()
{
	echo "run-vm: $*" >&2
	exit 125
}

usage()
{
	echo "usage: $0 [--share DIR]... [--timeout SECONDS] -- COMMAND [ARGS...]" >&2
	echo "       $0 --print-accel" >&2
	exit 125
}

# check_path PATH: paths go on the kernel command line and into QEMU
# options, where blanks and commas would split them.
check_path()
{
	[[ $1 != *[[:space:],]* ]] || die "path with blanks or commas: $1"
}

parse_args()
{
	if [ "$*" = --print-accel ]; then
		PRINT_ACCEL=1
		return
	fi
	while [ $# -gt 0 ]; do
		case $1 in
		--share)
			[ -d "${2:-}" ] || die "--share needs a directory"
			SHARES+=("$(cd "$2" && pwd)")
			shift 2
			;;
		--timeout)
			[[ ${2:-} =~ ^[0-9]+$ ]] || die "--timeout needs seconds"
			VM_TIMEOUT=$2
			shift 2
			;;
		--)
			shift
			break
			;;
		*) usage ;;
		esac
	done
	[ $# -gt 0 ] || usage
	COMMAND=("$@")
}

# find_kernel: sets KERNEL and KVER; the modules of that kernel must be
# installed, the guest loads them from the host's root.
find_kernel()
{
	KERNEL=${ISA_VM_KERNEL:-$(ls -v /boot/vmlinuz-* 2>/dev/null | tail -n 1)}
	[ -n "$KERNEL" ] && [ -r "$KERNEL" ] ||
		die "no readable kernel in /boot (apt-get install linux-image-amd64)"
	KVER=${KERNEL##*/vmlinuz-}
	[ -d "/lib/modules/$KVER" ] || die "no /lib/modules/$KVER for $KERNEL"
}

# extract_vmlinux: sets BOOT_KERNEL.  TCG takes over ten seconds to
# decompress a bzImage; the ELF image inside it boots through its PVH
# entry point straight away.  Debian compresses its kernels with xz.
# Extracting takes seconds too, so the image is kept in a cache directory
# until the kernel changes.
extract_vmlinux()
{
	local cache=${ISA_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/iser-attach}
	local vmlinux=$cache/vmlinux-$KVER off tmp

	BOOT_KERNEL=$KERNEL
	grep -qs '^CONFIG_PVH=y' "/boot/config-$KVER" || return 0
	if [ "$vmlinux" -nt "$KERNEL" ]; then
		BOOT_KERNEL=$vmlinux
		return 0
	fi
	off=$(LC_ALL=C grep -abo $'\xfd7zXZ' "$KERNEL" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] && mkdir -p "$cache" || return 0
	tmp=$(mktemp "$vmlinux.XXXXXX")
	if xz -dc --single-stream <(tail -c +$((off + 1)) "$KERNEL") \
		>"$tmp" 2>/dev/null; then
		mv "$tmp" "$vmlinux"
		BOOT_KERNEL=$vmlinux
	else
		rm -f "$tmp"
	fi
}

# make_initramfs: busybox, the modules listed in /modules in load order,
# and init.sh as /init, packed into $RUN/initramfs.cpio.
make_initramfs()
{
	local root=$RUN/initramfs m ko

	mkdir -p "$root/bin"
	cp /bin/busybox "$root/bin/busybox" ||
		die "no /bin/busybox (apt-get install busybox-static)"
	install -m 0755 "$VM_DIR/init.sh" "$root/init"
	ln -s busybox "$root/bin/sh"
	for m in "${INITRAMFS_MODULES[@]}"; do
		modprobe -S "$KVER" --show-depends "$m" ||
			die "kernel $KVER has no module $m"
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$root/modules"
	while read -r ko; do
		mkdir -p "$root${ko%/*}"
		cp "$ko" "$root$ko"
	done <"$root/modules"
	(cd "$root" && find . | cpio --quiet -o -H newc) >"$RUN/initramfs.cpio"
}

# write_command: cmd.sh recreates the caller's environment and directory
# in the guest and runs the command.
write_command()
{
	local name

	{
		for name in $(compgen -e); do
			[[ $name =~ $HOST_ONLY_ENV ]] ||
				printf 'export %s=%q\n' "$name" "${!name}"
		done
		printf 'cd %q || exit 125\n' "$PWD"
		printf 'exec'
		printf ' %q' "${COMMAND[@]}"
		printf '\n'
	} >"$RUN/cmd.sh"
}

# write_shares: "TAG PATH" per share, read by init.sh.
write_shares()
{
	local i

	for i in "${!SHARES[@]}"; do
		echo "share$i ${SHARES[i]}"
	done >"$RUN/shares"
}

# kvm_works: /dev/kvm can exist without being usable for a full x86 guest
# (nested or paravirtualised hosts), so boot a guest that powers off at
# once and check that it got there.
kvm_works()
{
	[ -r /dev/kvm ] && [ -w /dev/kvm ] || return 1
	timeout 5 qemu-system-x86_64 -accel kvm -cpu host -m 256M \
		-nodefaults -no-user-config -display none -no-reboot \
		-serial "file:$RUN/kvm-probe.log" -kernel "$BOOT_KERNEL" \
		-initrd "$RUN/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 rdinit=/bin/busybox poweroff -f" \
		</dev/null >/dev/null 2>&1
}

choose_accel()
{
	# shellcheck disable=SC2054 # commas separate QEMU sub-options
	local kvm=(-accel kvm -cpu host) tcg=(-accel tcg,thread=multi -cpu max)

	case ${ISA_VM_ACCEL:-auto} in
	kvm) ACCEL=("${kvm[@]}") ;;
	tcg) ACCEL=("${tcg[@]}") ;;
	auto)
		if kvm_works; then
			ACCEL=("${kvm[@]}")
		else
			ACCEL=("${tcg[@]}")
		fi
		;;
	*) die "ISA_VM_ACCEL must be kvm, tcg or auto" ;;
	esac
}

# boot: ttyS0 is the kernel console (to a log), ttyS1 the command's output
# (to our stdout).  A kernel panic powers off (-no-reboot, panic=-1).
boot()
{
	local virtfs=(-virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap")
	local i append rc=0

	virtfs+=(-virtfs "local,path=$RUN,mount_tag=vmrun,security_model=none,multidevs=remap")
	for i in "${!SHARES[@]}"; do
		virtfs+=(-virtfs "local,path=${SHARES[i]},mount_tag=share$i,security_model=none,multidevs=remap")
	done
	append="console=ttyS0 quiet panic=-1 rdinit=/init"
	append+=" isa_vm_init=$VM_DIR/init.sh isa_vm_run=$RUN"

	timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 "${ACCEL[@]}" \
		-m "$VM_MEM" -smp 2 -nodefaults -no-user-config -display none \
		-no-reboot -nic none \
		-serial "file:$RUN/console.log" -serial stdio \
		"${virtfs[@]}" \
		-kernel "$BOOT_KERNEL" -initrd "$RUN/initramfs.cpio" \
		-append "$append" </dev/null || rc=$?
	[ "$rc" -ne 124 ] || echo "run-vm: timed out after $VM_TIMEOUT s" >&2
	[ "$rc" -eq 0 ] || echo "run-vm: qemu exited with status $rc" >&2
}

show_console()
{
	echo "--- VM console ($KERNEL, ${ACCEL[*]}):" >&2
	cat "$RUN/console.log" >&2 || :
	echo "--- end of VM console" >&2
}

main()
{
	parse_args "$@"
	command -v qemu-system-x86_64 >/dev/null ||
		die "qemu-system-x86_64 not found (apt-get install qemu-system-x86)"
	find_kernel
	RUN=$(mktemp -d "${TMPDIR:-/tmp}/isa-vm.XXXXXX")
	trap 'rm -rf "$RUN"' EXIT
	check_path "$RUN"
	check_path "$VM_DIR"
	for share in "${SHARES[@]}"; do
		check_path "$share"
	done

	extract_vmlinux
	make_initramfs
	choose_accel
	if [ "$PRINT_ACCEL" -eq 1 ]; then
		echo "${ACCEL[1]%%,*}"
		exit 0
	fi
	write_command
	write_shares
	boot
	if [ ! -s "$RUN/status" ]; then
		show_console
		die "the command did not run to completion in the VM"
	fi
	[ -z "${ISA_VM_VERBOSE:-}" ] || show_console
	exit "$(cat "$RUN/status")"
}

main "$@"
