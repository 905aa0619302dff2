#!/usr/bin/env bash
# fio's nbd engine writes random blocks of mixed sizes with crc32c verify
# headers at queue depth 32 and 128 and reads them back and verifies them;
# then a fresh attachment verifies the first run's data again, so the
# data lives on the target, not in any buffer of ours.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires fio python3
fio --enghelp=nbd >/dev/null 2>&1 || skip "fio has no nbd engine"
IQN=iqn.2026-11.org.iser-attach.test:nbd-fio
nbd_requires
tgt_simple_target "$IQN" 80

# run_fio NAME QD OFFSET [fio options...]: a bounded randwrite + verify job
# over 32 MiB at OFFSET; it must do all its I/O and report no error.
run_fio()
{
	local name=$1 qd=$2 offset=$3 json=$TGT_TMPDIR/$1.json

	shift 3
	timeout -k 5 120 fio --name="$name" --ioengine=nbd --uri="$NBD_URI" \
		--rw=randwrite --bsrange=512-256k --iodepth="$qd" \
		--offset="$offset" --size=32M --runtime=60 \
		--verify=crc32c --verify_state_save=0 --do_verify=1 --verify_fatal=1 \
		--randseed=1234 --output-format=json "$@" >"$json" 2>"$json.err" ||
		{ cat "$json" "$json.err" >&2; die "fio $name failed"; }
	# Verify errors are printed before the JSON document.
	if sed -n '/^{/q;p' "$json" | cat - "$json.err" | grep -iq "verify\|err="; then
		cat "$json" "$json.err" >&2
		die "fio $name reported verify errors"
	fi
	python3 - "$json" "$name" "$@" <<'PY' || die "fio $name: wrong result"
import json, sys

text = open(sys.argv[1]).read()
job = json.loads(text[text.index("{"):])["jobs"][0]
size = 32 << 20
verify_only = "--verify_only=1" in sys.argv[3:]
problems = []
if job["error"] != 0:
    problems.append("error %d" % job["error"])
if job["read"]["io_bytes"] != size:
    problems.append("verified %d bytes, not %d" % (job["read"]["io_bytes"], size))
if not verify_only and job["write"]["io_bytes"] != size:
    problems.append("wrote %d bytes, not %d" % (job["write"]["io_bytes"], size))
if problems:
    print(sys.argv[2] + ":", ", ".join(problems), file=sys.stderr)
    sys.exit(1)
PY
}

nbd_attach "$IQN"
run_fio qd32 32 0
run_fio qd128 128 32M
nbd_detach

# The first job's blocks, read back through a new session and connection.
nbd_attach "$IQN"
run_fio qd32-again 32 0 --verify_only=1
nbd_detach
