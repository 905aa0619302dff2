#!/bin/bash
# Demo on a fresh Debian 12 machine (as root): install the dependencies,
# build, start a private tgtd on 127.0.0.1 with a 64 MiB LUN in tmpfs,
# discover it with iser-discover, attach it with iser-attach as an NBD
# export, copy random data in and out with nbdcopy (a real NBD client) and
# compare, show the attachment with iser-list, and detach.  tgtd and its
# files are removed at the end, also on Ctrl-C.
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
make -C "$top_builddir" -j2 iser-discover iser-attach iser-detach iser-list
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

sock=$TGT_TMPDIR/demo.sock
echo
echo "== iser-attach $TGT_PORTAL $IQN --socket $sock"
uri=$("$top_builddir/iser-attach" --transport tcp "$TGT_PORTAL" "$IQN" --socket "$sock")
echo "$uri"
detach_if_attached()
{
	"$top_builddir/iser-detach" --quiet "$1" 2>/dev/null || :
}
cleanup_fn detach_if_attached "$sock"

echo
echo "== nbdinfo $uri"
nbdinfo "$uri"

echo
echo "== nbdcopy: 64 MiB of random data in, then out again, compared"
head -c 64M /dev/urandom >"$TGT_TMPDIR/in.img"
nbdcopy "$TGT_TMPDIR/in.img" "$uri"
nbdcopy "$uri" "$TGT_TMPDIR/out.img"
cmp "$TGT_TMPDIR/in.img" "$TGT_TMPDIR/out.img"
cmp "$TGT_TMPDIR/in.img" "$(tgt_lun_file 1 1)"
echo "identical: what was written, what was read back, and what tgtd stored"

echo
echo "== iser-list"
"$top_builddir/iser-list"

echo
echo "== iser-detach $sock"
"$top_builddir/iser-detach" "$sock"

echo
echo "== done; stopping tgtd"
