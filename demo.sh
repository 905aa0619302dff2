#!/bin/bash
# Demo on a fresh Debian 12 machine (as root): install the dependencies,
# build, start a private tgtd on 127.0.0.1 with a 64 MiB LUN in tmpfs,
# discover it with iser-discover, then write random data to the whole LUN
# with tests/isa-io, read it back and compare.  tgtd and its files are
# removed at the end, also on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")"
top_srcdir=$(pwd)

IQN=iqn.2024-01.org.iser-attach:demo

if [ "$(id -u)" -ne 0 ]; then
	echo "demo.sh: run as root (tgtd needs it)" >&2
	exit 1
fi

echo "== installing dependencies"
bash scripts/install-deps.sh

echo "== building"
if [ -f config.status ]; then
	# Already configured in place by hand: build there.
	top_builddir=$top_srcdir
else
	[ -x configure ] || autoreconf -fi
	top_builddir=$top_srcdir/build/plain
	mkdir -p "$top_builddir"
	if [ ! -f "$top_builddir/config.status" ]; then
		(cd "$top_builddir" && "$top_srcdir/configure" --quiet)
	fi
fi
make -C "$top_builddir" -j2 iser-discover tests/isa-io
export top_srcdir top_builddir

ISA_TEST_QUIET=1
source tests/functions.sh

echo "== starting a private tgtd"
start_tgtd
tgt_simple_target "$IQN" 64
echo "tgtd $TGT_PID listens on $TGT_PORTAL, target $IQN," \
     "LUN 1: 64 MiB in $(tgt_lun_file 1 1)"

echo
echo "== $ISER_DISCOVER $TGT_PORTAL"
"$ISER_DISCOVER" "$TGT_PORTAL"

echo
echo "== isa-io: write random data to LUN 1, read it back, compare"
"$ISA_IO" "$TGT_PORTAL" "$IQN" --lun 1 verify --size 64M --qd 32 \
	--min-io 512 --max-io 1M

echo
echo "== done; stopping tgtd"
