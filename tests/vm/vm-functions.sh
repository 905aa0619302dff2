# shellcheck shell=bash
#
# Helpers for the VM tests (tests/vm/test-*.sh), sourced after
# tests/functions.sh.  A VM test is one script that runs twice: on the
# host, where run_self_in_vm checks what booting needs and runs the
# script again inside a VM (tests/vm/run-vm.sh), and in the VM, where it
# tests like an integration test, as root with the Debian kernel's
# modules at hand.

# run_self_in_vm: on the host, skip unless a VM can boot, else run this
# test in a VM and exit with its status (99, a hard error, when the VM
# itself failed); in the VM, return.
run_self_in_vm()
{
	local rc=0

	[ "${ISA_IN_VM:-}" != 1 ] || return 0
	requires qemu-system-x86_64
	compgen -G '/boot/vmlinuz-*' >/dev/null ||
		skip "no kernel in /boot (apt-get install linux-image-amd64)"
	[ -x /bin/busybox ] || skip "no /bin/busybox (apt-get install busybox-static)"
	ISA_IN_VM=1 "$top_srcdir/tests/vm/run-vm.sh" -- "$BASH" "$0" "$@" || rc=$?
	[ "$rc" -ne 125 ] || exit 99
	exit "$rc"
}

# load_module NAME: modprobe NAME in the VM, failing the test if the
# kernel does not have it.
load_module()
{
	modprobe "$1" || die "cannot load kernel module $1"
}
