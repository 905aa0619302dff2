#!/bin/bash
# Build and run the libFuzzer harnesses of tests/fuzz/.
#
#   fuzz.sh build   [NAME...]   build tests/fuzz/bin/fuzz-NAME
#   fuzz.sh regress [NAME...]   run each harness once over its seed corpus
#                               and its regression inputs (no fuzzing)
#   fuzz.sh fuzz    [NAME...]   regress, then fuzz each for FUZZ_SECONDS
#
# NAME defaults to every harness.  Environment: top_srcdir (the source
# tree, default: two levels above this script), FUZZ_OUT (binaries and
# working corpora, default ./tests/fuzz), FUZZ_CC (clang), FUZZ_SECONDS
# (30), FUZZ_JOBS (parallel builds, 2).
#
# The harnesses are compiled with the project sources they need, directly
# with clang and -fsanitize=fuzzer,address,undefined: the gcc objects of the
# normal build have no coverage instrumentation.  Fuzzing writes new inputs
# to $FUZZ_OUT/work/NAME, never to the source tree; a crash leaves its input
# in $FUZZ_OUT/crashes/NAME/, which belongs in tests/fuzz/regressions/NAME/
# once the bug is fixed.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
top_srcdir=${top_srcdir:-$(cd "$here/../.." && pwd)}
FUZZ_OUT=${FUZZ_OUT:-$PWD/tests/fuzz}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
FUZZ_JOBS=${FUZZ_JOBS:-2}

ALL=(pdu text negotiate login discovery scsi tcp-rx nbd iser)

# Project sources each harness links, besides tests/fuzz/fuzz-NAME.c.
declare -A SOURCES=(
	[pdu]="initiator/pdu.c initiator/sense.c datamover/dm-common.c"
	[text]="initiator/keys.c initiator/chap.c initiator/sha3.c"
	[negotiate]="initiator/negotiate.c initiator/keys.c initiator/params.c"
	[login]="initiator/login.c initiator/chap.c initiator/sha3.c initiator/keys.c
		 initiator/negotiate.c initiator/params.c initiator/pdu.c datamover/dm-common.c"
	[discovery]="initiator/discovery.c initiator/keys.c initiator/pdu.c datamover/dm-common.c"
	[scsi]="initiator/sense.c initiator/vpd.c"
	[tcp-rx]="datamover/tcp.c datamover/netutil.c datamover/crc32c.c datamover/pool.c
		  initiator/pdu.c datamover/dm-common.c"
	[nbd]="nbd/server.c nbd/handshake.c nbd/transmission.c nbd/fence.c"
	[iser]="datamover/iser-msg.c initiator/pdu.c datamover/dm-common.c"
)

# pkg-config packages each harness links besides glib-2.0.
declare -A PACKAGES=(
	[tcp-rx]="libibverbs"
)

CFLAGS=(-g -O1 -std=gnu11 -D_GNU_SOURCE
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	-fno-omit-frame-pointer
	-Wall -Wextra -Werror -Wformat=2 -Wshadow)

die()
{
	echo "fuzz.sh: $*" >&2
	exit 1
}

usage()
{
	sed -n '2,12s/^# \{0,1\}//p' "$0" >&2
	exit 2
}

# build_one NAME: (re)build $FUZZ_OUT/bin/fuzz-NAME when a source changed.
build_one()
{
	local name=$1 bin=$FUZZ_OUT/bin/fuzz-$1 src f stale=0
	local -a srcs=("tests/fuzz/fuzz-$name.c")

	for f in ${SOURCES[$name]}; do
		srcs+=("$f")
	done
	if [ -x "$bin" ]; then
		# Any header of the tree may be included: compare against all.
		for src in "${srcs[@]}" tests/fuzz/fuzz-common.h common/*.h initiator/*.h \
			   datamover/*.h nbd/*.h include/*.h; do
			[ "$top_srcdir/$src" -nt "$bin" ] && stale=1 && break
		done
		[ "$stale" -eq 1 ] || return 0
	fi
	echo "  CCLD     fuzz-$name"
	# shellcheck disable=SC2046,SC2086 # pkg-config prints several words
	"$FUZZ_CC" "${CFLAGS[@]}" -I"$top_srcdir" $(pkg-config --cflags glib-2.0 ${PACKAGES[$name]:-}) \
		"${srcs[@]/#/$top_srcdir/}" -o "$bin.tmp" \
		$(pkg-config --libs glib-2.0 ${PACKAGES[$name]:-}) &&
		mv "$bin.tmp" "$bin"
}

build()
{
	local name pids=() failed=0 pid

	command -v "$FUZZ_CC" >/dev/null || die "$FUZZ_CC not found (apt-get install clang)"
	mkdir -p "$FUZZ_OUT/bin" "$FUZZ_OUT/logs"
	for name in "$@"; do
		build_one "$name" &
		pids+=($!)
		if [ "${#pids[@]}" -ge "$FUZZ_JOBS" ]; then
			wait "${pids[0]}" || failed=1
			pids=("${pids[@]:1}")
		fi
	done
	for pid in "${pids[@]}"; do
		wait "$pid" || failed=1
	done
	[ "$failed" -eq 0 ] || die "build failed"
}

# inputs NAME: the seed corpus and regression inputs of NAME, one a line.
inputs()
{
	local d

	for d in "$top_srcdir/tests/fuzz/corpus/$1" "$top_srcdir/tests/fuzz/regressions/$1"; do
		[ -d "$d" ] && find "$d" -type f ! -name 'README*'
	done | sort
}

# regress NAME: every seed and regression input once, as plain inputs.
regress()
{
	local name=$1 log=$FUZZ_OUT/logs/regress-$1.log ran
	local -a files

	mapfile -t files < <(inputs "$name")
	[ "${#files[@]}" -gt 0 ] || die "$name: no seed corpus in tests/fuzz/corpus/$name"
	if ! "$FUZZ_OUT/bin/fuzz-$name" "${files[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		die "$name: an input of its corpus or regressions fails (log above)"
	fi
	# libFuzzer reports each file it ran: none may have been skipped.
	ran=$(grep -c '^Executed ' "$log" || :)
	[ "$ran" -eq "${#files[@]}" ] ||
		die "$name: ran $ran of ${#files[@]} inputs (log $log)"
	echo "  REGRESS  fuzz-$name: ${#files[@]} inputs pass"
}

# fuzz NAME: fuzz for FUZZ_SECONDS from the seeds, regressions and the
# inputs earlier runs found.
fuzz()
{
	local name=$1 work=$FUZZ_OUT/work/$1 crashes=$FUZZ_OUT/crashes/$1/
	local log=$FUZZ_OUT/logs/fuzz-$1.log d rc=0
	local -a dirs=("$work")

	mkdir -p "$work" "$crashes"
	for d in corpus regressions; do
		[ -d "$top_srcdir/tests/fuzz/$d/$name" ] && dirs+=("$top_srcdir/tests/fuzz/$d/$name")
	done
	"$FUZZ_OUT/bin/fuzz-$name" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$crashes" "${dirs[@]}" >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		tail -n 60 "$log" >&2
		die "$name: crash after fuzzing (input in $crashes, log $log)"
	fi
	echo "  FUZZ     fuzz-$name: $(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
		"executions in ${FUZZ_SECONDS}s, corpus $(find "$work" -type f | wc -l) inputs"
}

[ $# -ge 1 ] || usage
cmd=$1
shift
names=("$@")
[ "${#names[@]}" -gt 0 ] || names=("${ALL[@]}")
for n in "${names[@]}"; do
	[ -n "${SOURCES[$n]:-}" ] || die "unknown harness $n (known: ${ALL[*]})"
done

case $cmd in
build)
	build "${names[@]}"
	;;
regress)
	build "${names[@]}"
	for n in "${names[@]}"; do
		regress "$n"
	done
	;;
fuzz)
	build "${names[@]}"
	for n in "${names[@]}"; do
		regress "$n"
		fuzz "$n"
	done
	;;
*)
	usage
	;;
esac
