#!/bin/sh
# Init of the test VM booted by tests/vm/run-vm.sh, in two stages.
#
# Stage 1 runs as /init of the initramfs under busybox: it loads the few
# modules it needs, mounts the host's root file system read-only over 9p
# under a tmpfs overlay (the guest may write anywhere, the host sees none
# of it), mounts the API file systems, the run directory and the shares
# of run-vm.sh in there, and switches root to it, running this same
# script again from the host's tree as stage 2.  Everything is mounted
# here because busybox runs from memory, while each host program run in
# stage 2 is first read over 9p, which is slow under emulation.
#
# Stage 2 ("init.sh guest") runs on the host's root: it runs the command
# with its output on the second serial port, writes the command's exit
# status to the run directory and powers off.
#
# The kernel command line carries isa_vm_init (the host path of this
# script) and isa_vm_run (the host path of the run directory), which the
# kernel passes on as environment variables.  Only POSIX sh: stage 1 runs
# under busybox, stage 2 under the host's /bin/sh.
# shellcheck disable=SC2154 # isa_vm_init, isa_vm_run come from the kernel

NINEP_OPTS=trans=virtio,version=9p2000.L,msize=512000

# fail MESSAGE: report on the console and power off; run-vm.sh finds no
# status file and prints the console log.
fail()
{
	echo "init: $*" >&2
	poweroff_now
}

poweroff_now()
{
	sync
	/bin/busybox poweroff -f
}

# load_modules: insmod the modules listed in /modules, in that order,
# which run-vm.sh took from modprobe --show-depends.
load_modules()
{
	while read -r ko; do
		insmod "$ko" || fail "cannot load $ko"
	done </modules
}

# mount_host_root: the host's / read-only (and cached: it does not change
# under the guest), with a tmpfs upper layer, assembled on /newroot.
mount_host_root()
{
	mkdir -p /lower /rw /newroot
	mount -t 9p -o "$NINEP_OPTS,cache=loose,ro" hostroot /lower ||
		fail "cannot mount the host root over 9p"
	mount -t tmpfs -o mode=0755 rw /rw
	mkdir -p /rw/upper /rw/work
	mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work \
		overlay /newroot || fail "cannot mount the overlay root"
}

# mount_api_filesystems: what a booted system has, on the new root; /dev
# moves there from the initramfs, where it already holds our console.
# /tmp stays the host's, under the overlay: build trees often live there.
# The /dev/fd links are udev's job elsewhere; bash's <(...) needs them.
mount_api_filesystems()
{
	mount --move /dev /newroot/dev
	mount -t proc proc /newroot/proc
	mount -t sysfs sysfs /newroot/sys
	mount -t configfs configfs /newroot/sys/kernel/config
	mkdir -p /newroot/dev/pts /newroot/dev/shm
	ln -s /proc/self/fd /newroot/dev/fd
	ln -s fd/0 /newroot/dev/stdin
	ln -s fd/1 /newroot/dev/stdout
	ln -s fd/2 /newroot/dev/stderr
	mount -t devpts devpts /newroot/dev/pts
	mount -t tmpfs -o mode=1777 shm /newroot/dev/shm
	mount -t tmpfs -o mode=0755 run /newroot/run
}

# mount_shares: the run directory, then each "TAG PATH" of its shares
# file, on the same paths as on the host, read-write and uncached so that
# the host sees every write.
mount_shares()
{
	mkdir -p "/newroot$isa_vm_run"
	mount -t 9p -o "$NINEP_OPTS" vmrun "/newroot$isa_vm_run" ||
		fail "cannot mount the run directory"
	while read -r tag path; do
		mkdir -p "/newroot$path"
		mount -t 9p -o "$NINEP_OPTS" "$tag" "/newroot$path" ||
			fail "cannot mount $path"
	done <"/newroot$isa_vm_run/shares"
}

# stage1: the initramfs has no /dev/console node, so the console is
# opened on devtmpfs.  ttyS1 carries the command's output byte for byte.
stage1()
{
	/bin/busybox --install -s /bin
	mkdir -p /dev
	mount -t devtmpfs devtmpfs /dev
	exec </dev/console >/dev/console 2>&1
	stty -F /dev/ttyS1 raw -echo
	load_modules
	mount_host_root
	mount_api_filesystems
	mount_shares
	ip link set lo up
	hostname isa-vm
	exec switch_root /newroot /bin/sh "$isa_vm_init" guest
}

# stage2: cmd.sh sets the caller's environment and directory and runs the
# command.
stage2()
{
	rc=0
	bash "$isa_vm_run/cmd.sh" </dev/null >/dev/ttyS1 2>&1 || rc=$?
	echo "$rc" >"$isa_vm_run/status"
	poweroff_now
}

PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
if [ "${1:-}" = guest ]; then
	stage2
else
	stage1
fi
