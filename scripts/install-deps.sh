#!/bin/bash
# Install everything needed to build and test iser-attach on Debian 12.
# Idempotent: when all packages are present it changes nothing and needs
# no network.
set -euo pipefail

PACKAGES=(
	# build
	build-essential autoconf automake libtool pkg-config
	libglib2.0-dev libiniparser-dev check
	libibverbs-dev librdmacm-dev ibverbs-providers
	libfuse3-dev libnbd-dev
	# alternative compiler with sanitizers, and the code formatter
	clang libclang-rt-14-dev clang-format
	# iSCSI target and independent initiators the tests check against
	tgt libiscsi-bin qemu-utils qemu-block-extra
	# NBD and FUSE front ends, benchmarks
	libnbd-bin nbdkit fio fuse3 python3
	# memcheck of attach, I/O and detach (tests/integration/test-valgrind.sh)
	valgrind
	# promtool lints iser-list --metrics and the metrics_file
	# (tests/integration/test-metrics.sh)
	prometheus
	# FUSE tests: mkfs.ext4, e2fsck, debugfs; mountpoint, fallocate
	e2fsprogs util-linux
	# used by the test scripts (ss, ps, timeout, mktemp)
	iproute2 procps psmisc coreutils
	# VM tests (tests/vm/): Debian's kernel booted in QEMU from a busybox
	# initramfs; linux-libc-dev has linux/nbd-netlink.h
	qemu-system-x86 linux-image-amd64 busybox-static kmod cpio xz-utils
	linux-libc-dev
	# iSER VM tests: the kernel target (LIO) via targetcli, which needs D-Bus
	targetcli-fb dbus-daemon
	# VM benchmarks (bench/vm-nbd-bench.sh, bench/iser-bench.sh): the
	# kernel's iSCSI initiator (iscsi_tcp, ib_iser)
	open-iscsi
)

missing=()
for p in "${PACKAGES[@]}"; do
	if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != \
	     "install ok installed" ]; then
		missing+=("$p")
	fi
done

if [ "${#missing[@]}" -eq 0 ]; then
	echo "install-deps: all ${#PACKAGES[@]} packages already installed"
	exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null || {
		echo "install-deps: run as root (or install sudo)" >&2
		exit 1
	}
	SUDO=sudo
fi
$SUDO apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive \
	apt-get install -y --no-install-recommends "${missing[@]}"
