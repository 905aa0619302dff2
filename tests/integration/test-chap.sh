#!/usr/bin/env bash
# CHAP: one-way, mutual, and wrong secrets on either side, with the exact
# message and exit status a script sees.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

IQN=iqn.2026-11.org.iser-attach.test:chap
USER=isa-user
SECRET=isa-secret-0123
TUSER=isa-target
TSECRET=isa-target-secret-9

start_tgtd
tgt_simple_target "$IQN" 8
tgt_add_chap 1 "$USER" "$SECRET"

# No credentials: the target refuses us.
expect_fail_with "authentication failed" "$ISA_IO" "$TGT_PORTAL" "$IQN" info

# One-way CHAP with the secret from the environment, then from a file.
ISER_CHAP_SECRET=$SECRET expect_ok_with "size: 8388608" \
	"$ISA_IO" --chap-user "$USER" "$TGT_PORTAL" "$IQN" info
secret_file=$TGT_TMPDIR/secret
printf '%s\n' "$SECRET" >"$secret_file"
chmod 600 "$secret_file"
expect_ok_with "size: 8388608" "$ISA_IO" --chap-user "$USER" \
	--chap-secret-file "$secret_file" "$TGT_PORTAL" "$IQN" info
chmod 644 "$secret_file"
expect_fail_with "readable by group or others" "$ISA_IO" --chap-user "$USER" \
	--chap-secret-file "$secret_file" "$TGT_PORTAL" "$IQN" info

# A wrong secret: exit status 4 and the target's verdict in words.
set +e
ISER_CHAP_SECRET=wrong-secret-000 "$ISA_IO" --chap-user "$USER" "$TGT_PORTAL" "$IQN" info \
	2>"$TGT_TMPDIR/err"
rc=$?
set -e
cat "$TGT_TMPDIR/err"
[ "$rc" -eq 4 ] || die "wrong secret: exit status $rc, expected 4"
grep -q "authentication failed: the target rejected our CHAP credentials" "$TGT_TMPDIR/err" ||
	die "wrong secret: unexpected message"

# Mutual CHAP: the target proves itself with its own secret.
tgt_add_mutual_chap 1 "$TUSER" "$TSECRET"
ISER_CHAP_SECRET=$SECRET ISER_MUTUAL_SECRET=$TSECRET expect_ok_with "size: 8388608" \
	"$ISA_IO" --chap-user "$USER" --mutual-user "$TUSER" "$TGT_PORTAL" "$IQN" info
ISER_CHAP_SECRET=$SECRET ISER_MUTUAL_SECRET=wrong-target-secret expect_fail_with \
	"mutual CHAP failed: $IQN does not know the secret we share with it" \
	"$ISA_IO" --chap-user "$USER" --mutual-user "$TUSER" "$TGT_PORTAL" "$IQN" info

# Data moves over the authenticated session.
ISER_CHAP_SECRET=$SECRET ISER_MUTUAL_SECRET=$TSECRET expect_ok_with "compared: OK" \
	"$ISA_IO" --chap-user "$USER" --mutual-user "$TUSER" "$TGT_PORTAL" "$IQN" verify \
	--size 4M
