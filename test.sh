#!/bin/bash
# Full test on a fresh Debian 12 machine: install the dependencies, build
# with AddressSanitizer/UBSan and run the whole suite, then build plainly
# and run "make distcheck" (tarball build + the suite again).  Builds go
# to build/asan and build/plain; the source tree stays clean.
set -euo pipefail
cd "$(dirname "$0")"

JOBS=${JOBS:-2}

step()
{
	echo
	echo "=== test.sh: $* ($(date +%T))"
}

if [ -f config.status ]; then
	echo "test.sh: the source tree is configured in place;" \
	     "run 'make distclean' there first" >&2
	exit 1
fi

step "installing dependencies"
bash scripts/install-deps.sh

step "autoreconf"
autoreconf -fi

step "sanitized build and make check (build/asan)"
rm -rf build/asan
mkdir -p build/asan
(
	cd build/asan
	../../configure --enable-sanitizers
	make -j"$JOBS"
	make -j"$JOBS" check VERBOSE=1
)

step "plain build and make distcheck (build/plain)"
rm -rf build/plain
mkdir -p build/plain
(
	cd build/plain
	../../configure
	make -j"$JOBS"
	make -j"$JOBS" distcheck VERBOSE=1
)

step "fuzzing: every network parser for FUZZ_SECONDS each (build/asan, make check-fuzz)"
make -C build/asan check-fuzz FUZZ_SECONDS="${FUZZ_SECONDS:-15}"

step "VM tests: kernel nbd, rdma_rxe, LIO (build/plain, make check-vm)"
make -C build/plain -j"$JOBS" check-vm VERBOSE=1

# The hostile iSER targets once more, against the sanitized build: what
# they attack is our memory.
step "VM tests: hostile iSER targets under AddressSanitizer (build/asan)"
make -C build/asan check-vm VERBOSE=1 \
	VM_TESTS="tests/vm/test-iser-protection.sh tests/vm/test-iser-abort.sh"

step "all passed"
