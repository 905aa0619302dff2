#!/usr/bin/env bash
# fio through the kernel: random writes of mixed sizes at iodepth 32 on
# /dev/nbdN (libaio, O_DIRECT), each block verified with crc32c when read
# back, the whole run read back again after a detach and a new attach.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/vm/vm-functions.sh"
run_self_in_vm "$@"
source "$top_srcdir/tests/vm/nbd-vm-common.sh"

requires fio
IQN=iqn.2026-11.org.iser-attach.test:vm-nbd-fio
# TCG emulates every instruction: a small area keeps the run short.
SIZE=24M
vm_nbd_requires
tgt_simple_target "$IQN" 32

# fio_run ARGS...: fio on $NBD_DEV; it must report no error and have
# verified blocks (a run that verified nothing cannot fail).
fio_run()
{
	local out=$TGT_TMPDIR/fio.out

	fio --name=verify --filename="$NBD_DEV" --ioengine=libaio --direct=1 \
		--iodepth=32 --size="$SIZE" --offset=4M --verify=crc32c \
		--verify_fatal=1 --eta=never --output="$out" "$@" || {
		cat "$out" >&2
		die "fio failed on $NBD_DEV: $*"
	}
	cat "$out"
	grep -q 'err= 0' "$out" || die "fio reported an error: $*"
	grep -Eq 'READ: bw=' "$out" || die "fio read nothing back: $*"
}

kernel_attach "$IQN" --nbd
# Writes then the verifying reads, in one job.
fio_run --rw=randwrite --bsrange=4k-128k --randrepeat=1 --randseed=4242 \
	--do_verify=1
kernel_detach

kernel_attach "$IQN" --nbd
# Only the verifying reads of the same sequence of blocks.
fio_run --rw=randwrite --bsrange=4k-128k --randrepeat=1 --randseed=4242 \
	--verify_only=1
kernel_detach
