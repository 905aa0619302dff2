#!/usr/bin/env bash
# SendTargets discovery lists every target with its portal, as text and as
# JSON, and an unreachable portal fails with exit status 3 and the reason.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

IQN1=iqn.2026-11.org.iser-attach.test:disc-one
IQN2=iqn.2026-11.org.iser-attach.test:disc-two

start_tgtd
tgt_add_target 1 "$IQN1"
tgt_add_lun 1 1 4
tgt_bind_all 1
tgt_add_target 2 "$IQN2"
tgt_add_lun 2 1 4
tgt_bind_all 2

out=$(expect_ok_with "$IQN1" "$ISER_DISCOVER" "$TGT_PORTAL")
grep -qx "$IQN2" <<<"$out" || die "second target missing: $out"
[ "$(grep -c "^    $TGT_PORTAL,1\$" <<<"$out")" -eq 2 ] || die "portals wrong: $out"

json=$(expect_ok_with '"target"' "$ISER_DISCOVER" --json "$TGT_PORTAL")
python3 - "$json" "$IQN1" "$IQN2" "$TGT_PORTAL" <<'PY'
import json, sys
data = json.loads(sys.argv[1])
names = sorted(t["target"] for t in data)
assert names == sorted(sys.argv[2:4]), names
for t in data:
    assert t["portals"] == [sys.argv[4] + ",1"], t
PY

# Nothing listens on the port below ours (we checked it was free).
port=$((TGT_PORT + 1))
while ! _port_free "$port"; do port=$((port + 1)); done
rc=0
expect_fail_with "Connection refused" "$ISER_DISCOVER" "127.0.0.1:$port" || rc=1
[ "$rc" -eq 0 ] || die "unreachable portal not reported"
set +e
"$ISER_DISCOVER" "127.0.0.1:$port" 2>/dev/null
rc=$?
set -e
[ "$rc" -eq 3 ] || die "unreachable portal: exit status $rc, expected 3"

expect_fail_with "invalid portal" "$ISER_DISCOVER" "[::1"
