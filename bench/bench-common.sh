# shellcheck shell=bash
# Shared by the benchmarks of bench/, sourced after tests/functions.sh.
#
#   bench_require_plain "$ISER_ATTACH"     # refuse a sanitizer build
#   start_tgtd                              # (or start_tgtd_iser)
#   bench_tgt_lun 1 "$IQN" "$LUN_MB"        # target 1, LUN 1, sets LUN_FILE
#   bench_tgt_params 1                      # large segments and bursts

# bench_require_plain BINARY: a build with sanitizers measures them, not us.
bench_require_plain()
{
	if nm -D "$1" 2>/dev/null | grep -q __asan_init; then
		die "$1 is built with sanitizers; benchmark a plain build"
	fi
}

# bench_tgt_lun TID IQN MB: target TID named IQN with LUN 1 on a file of
# MB MiB in tmpfs, allocated up front so that no initiator pays for page
# allocation on its first writes; sets LUN_FILE. The caller binds it.
bench_tgt_lun()
{
	LUN_FILE=$(tgt_lun_file "$1" 1)
	fallocate -l "${3}M" "$LUN_FILE"
	tgt_add_target "$1" "$2"
	tgt_adm --mode logicalunit --op new --tid "$1" --lun 1 --backing-store "$LUN_FILE"
}

# bench_tgt_params TID [INITIAL_R2T IMMEDIATE_DATA]: the iSCSI settings every
# initiator of a benchmark gets: 256 KiB segments, 1 MiB bursts, and by
# default InitialR2T=No, ImmediateData=Yes.
bench_tgt_params()
{
	tgt_set_param "$1" MaxRecvDataSegmentLength 262144
	tgt_set_param "$1" MaxXmitDataSegmentLength 262144
	tgt_set_param "$1" FirstBurstLength 262144
	tgt_set_param "$1" MaxBurstLength 1048576
	tgt_set_param "$1" InitialR2T "${2:-No}"
	tgt_set_param "$1" ImmediateData "${3:-Yes}"
}
