#!/usr/bin/env bash
# Prometheus metrics: iser-list --metrics passes promtool's lint, groups
# the samples of every attachment under one HELP and TYPE per family,
# escapes label values, and says exactly how many bytes moved each way,
# with a cumulative latency histogram per direction whose count is the
# direction's commands; a metrics_file from iser.conf (with %p for the
# pid) is written by the serving process, says the same, and goes away
# with the attachment.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"
source "$top_srcdir/tests/integration/nbd-common.sh"

requires qemu-io python3
command -v promtool >/dev/null 2>&1 || skip "promtool not found (Debian package prometheus)"
IQN=iqn.2026-11.org.iser-attach.test:metrics
nbd_requires
tgt_simple_target "$IQN" 16

textfile=$TGT_TMPDIR/textfile
mkdir -p "$textfile"
conf=$TGT_TMPDIR/iser.conf
printf '[global]\ninitiator_name = %s\nmetrics_file = %s/iser-attach-%%p.prom\n' \
	"iqn.2026-11.org.iser-attach.test:initiator" "$textfile" >"$conf"
nbd_attach "$IQN" --transport tcp --config "$conf"
prom=$textfile/iser-attach-$NBD_PID.prom

# A second attachment of the same LUN, on a socket whose name needs
# escaping in a label value.
odd=$TGT_TMPDIR/odd\"name\\x.sock
"$ISER_ATTACH" --transport tcp --socket "$odd" "$TGT_PORTAL" "$IQN" >/dev/null ||
	die "cannot attach $odd"
cleanup_fn "$ISER_DETACH" --quiet "$odd"

cat >"$TGT_TMPDIR/check.py" <<'PY'
# check.py FILE EXPORT READ WRITE [OTHER]: FILE is well formed metrics in
# which EXPORT has moved READ and WRITE bytes, with consistent histograms;
# OTHER, when given, is another attachment it must show too.
import re, sys

path, export, want_read, want_write = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
others = sys.argv[5:]
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')
SAMPLE = re.compile(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')

def unescape(v):
    return re.sub(r'\\(.)', lambda m: '\n' if m.group(1) == 'n' else m.group(1), v)

def labels(text):
    out, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, f"bad labels {text!r}"
        out[m.group(1)] = unescape(m.group(2))
        pos = m.end()
    return out

helps, types, samples, order = {}, {}, [], []
for line in open(path).read().splitlines():
    if line.startswith('# HELP '):
        name = line.split()[2]
        assert name not in helps, f"HELP {name} twice"
        helps[name] = line
        order.append(name)
    elif line.startswith('# TYPE '):
        _, _, name, kind = line.split()
        assert name not in types, f"TYPE {name} twice"
        types[name] = kind
    else:
        m = SAMPLE.match(line)
        assert m, f"bad line {line!r}"
        name, lab, value = m.group(1), labels(m.group(2) or ''), float(m.group(3))
        family = re.sub(r'_(bucket|sum|count)$', '', name) if name not in types else name
        assert family in types and family == order[-1], f"{name} outside its family"
        samples.append((family, name, lab, value))

assert set(helps) == set(types), "HELP and TYPE differ"
for name, kind in types.items():
    assert name.startswith('iser_attach_'), name
    assert (kind == 'counter') == name.endswith('_total'), name

def find(name, export, **want):
    got = [v for f, n, l, v in samples
           if n == name and l.get('export') == export and all(l.get(k) == w for k, w in want.items())]
    assert len(got) == 1, f"{name} {export} {want}: {got}"
    return got[0]

for e in [export] + others:
    assert find('iser_attach_up', e) == 1, e
    assert find('iser_attach_state', e, state='logged-in') == 1, e
    assert find('iser_attach_state', e, state='recovering') == 0, e
    assert find('iser_attach_errors_total', e) == 0, e
    assert find('iser_attach_reconnects_total', e) == 0, e
    for f, n, l, v in samples:
        if l.get('export') == e:
            assert set(('target', 'lun', 'portal')) <= set(l), l
assert find('iser_attach_bytes_total', export, direction='read') == want_read
assert find('iser_attach_bytes_total', export, direction='write') == want_write
assert find('iser_attach_copied_bytes_total', export) == 0

for d in ('read', 'write', 'none'):
    commands = find('iser_attach_commands_total', export, direction=d)
    buckets = sorted(((float(l['le']), v) for f, n, l, v in samples
                      if n == 'iser_attach_command_latency_seconds_bucket'
                      and l['export'] == export and l['direction'] == d))
    assert len(buckets) == 22, buckets
    assert buckets[0][0] == 0.000016 and buckets[-2][0] == 16.777216, buckets
    assert buckets[-1][0] == float('inf'), buckets
    assert all(a[1] <= b[1] for a, b in zip(buckets, buckets[1:])), f"{d}: not cumulative {buckets}"
    count = find('iser_attach_command_latency_seconds_count', export, direction=d)
    total = find('iser_attach_command_latency_seconds_sum', export, direction=d)
    assert buckets[-1][1] == count == commands, f"{d}: +Inf {buckets[-1][1]}, count {count}, commands {commands}"
    assert (total > 0) == (count > 0), f"{d}: sum {total}, count {count}"
# 1 MiB written, 512 KiB read: at least one command each way, at most one per block.
if want_write:
    assert 1 <= find('iser_attach_commands_total', export, direction='write') <= want_write // 512
if want_read:
    assert 1 <= find('iser_attach_commands_total', export, direction='read')
print(f"{path}: {len(types)} families, {len(samples)} samples")
PY

# check_metrics FILE WHAT [check.py args...]: promtool and the checks above.
check_metrics()
{
	local file=$1 what=$2 out

	shift 2
	out=$(promtool check metrics <"$file" 2>&1) || die "promtool on $what: $out"
	python3 "$TGT_TMPDIR/check.py" "$file" "$@" || {
		cat "$file" >&2
		die "$what is wrong"
	}
}

"$top_builddir/iser-list" --metrics >"$TGT_TMPDIR/before.txt" || die "iser-list --metrics failed"
check_metrics "$TGT_TMPDIR/before.txt" "the metrics before any I/O" "$NBD_SOCK" 0 0 "$odd"
[ "$(grep -c '^# TYPE iser_attach_up gauge$' "$TGT_TMPDIR/before.txt")" -eq 1 ] ||
	die "iser_attach_up has more than one TYPE line"
[ "$(grep -c '^iser_attach_up{' "$TGT_TMPDIR/before.txt")" -eq 2 ] ||
	die "iser_attach_up does not have a sample for each attachment"
grep -qF "export=\"$TGT_TMPDIR/odd\\\"name\\\\x.sock\"" "$TGT_TMPDIR/before.txt" ||
	die "the odd socket name is not escaped in its label"

# The table keeps its columns aligned however long an export path is:
# KIND starts where the header says on every line (both are sockets).
table=$("$top_builddir/iser-list") || die "iser-list failed"
echo "$table"
header=$(head -n 1 <<<"$table")
prefix=${header%%KIND*}
[ "$(tail -n +2 <<<"$table" | cut -c$((${#prefix} + 1))-$((${#prefix} + 7)) | sort -u)" = "socket " ] ||
	die "the columns of iser-list are not aligned: $table"
# The last column is the pinned memory: 0 over TCP.
[[ $header == *" PINNED" ]] || die "iser-list has no PINNED column: $header"
[ "$(tail -n +2 <<<"$table" | awk '{ print $NF }' | sort -u)" = 0 ] ||
	die "pinned memory over TCP: $table"

# 1 MiB written, then 512 KiB read; qemu-io moves exactly what it is told.
out=$(timeout -k 5 120 qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'read -P 0x5a 256k 512k' \
	"$NBD_URI" 2>&1) || die "qemu-io failed: $out"
grep -q "read 524288/524288" <<<"$out" || die "qemu-io: $out"

"$top_builddir/iser-list" --metrics >"$TGT_TMPDIR/after.txt" || die "iser-list --metrics failed"
check_metrics "$TGT_TMPDIR/after.txt" "iser-list --metrics" "$NBD_SOCK" 524288 1048576 "$odd"
# The JSON says the same, with its old keys and the new ones.
"$top_builddir/iser-list" --json | python3 -c '
import json, sys
lst = {a["export"]: a for a in json.load(sys.stdin)}
a = lst[sys.argv[1]]
assert a["bytes_read"] == 524288 and a["bytes_written"] == 1048576, a
assert a["write_commands"] >= 1 and a["read_commands"] >= 1, a
assert a["commands"] >= a["read_commands"] + a["write_commands"], a
' "$NBD_SOCK" || die "iser-list --json disagrees"

# The serving process's own file, rewritten every 5 s: wait until it shows the I/O.
file_shows_io()
{
	[ -s "$prom" ] && grep -q '^iser_attach_bytes_total{.*direction="write"} 1048576$' "$prom"
}
wait_until 30 "$prom to show the I/O" file_shows_io
check_metrics "$prom" "the metrics file" "$NBD_SOCK" 524288 1048576
! grep -qF "odd" "$prom" || die "the metrics file shows another attachment"
[ "$(find "$textfile" -type f | wc -l)" -eq 1 ] ||
	die "more than the metrics file in $textfile: $(ls -a "$textfile")"
[ "$(stat -c %a "$prom")" = 644 ] || die "$prom has mode $(stat -c %a "$prom")"

# A pattern with another % sequence is refused before anything is attached.
printf '[global]\ninitiator_name = iqn.2026-11.org.iser-attach.test:initiator\nmetrics_file = %s/x-%%d.prom\n' \
	"$textfile" >"$TGT_TMPDIR/bad.conf"
expect_fail_with "only %p" "$ISER_ATTACH" --config "$TGT_TMPDIR/bad.conf" \
	--transport tcp --socket "$TGT_TMPDIR/bad.sock" "$TGT_PORTAL" "$IQN" || die "a bad metrics_file was not refused"

nbd_detach
[ ! -e "$prom" ] || die "$prom is still there after the detach"
"$ISER_DETACH" --quiet "$odd" || die "cannot detach $odd"
"$top_builddir/iser-list" --metrics >"$TGT_TMPDIR/none.txt" || die "iser-list --metrics failed"
[ ! -s "$TGT_TMPDIR/none.txt" ] || die "metrics with no attachment: $(cat "$TGT_TMPDIR/none.txt")"
