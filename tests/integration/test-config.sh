#!/usr/bin/env bash
# The configuration file: per-target CHAP settings, precedence (command
# line over [target] over [portal] over [global]), a file holding secrets
# that others can read is refused, and a generated initiator name is
# stored once and used for login.
source "${top_srcdir:-$(dirname "$0")/../..}/tests/functions.sh"

IQN=iqn.2026-11.org.iser-attach.test:config
USER=conf-user
SECRET=conf-secret-0123
start_tgtd
tgt_simple_target "$IQN" 8
tgt_add_chap 1 "$USER" "$SECRET"

conf=$TGT_TMPDIR/iser.conf
write_conf()
{
	cat >"$conf"
	chmod 600 "$conf"
}

# The [target] section supplies user and secret; [global] has a wrong user
# that the target section overrides.
write_conf <<EOF2
[global]
initiator_name = iqn.2026-11.org.iser-attach.test:initiator
chap_user = nobody
chap_secret = wrong-secret-000

[target $IQN]
chap_user = $USER
chap_secret = $SECRET
EOF2
expect_ok_with "size: 8388608" "$ISA_IO" --config "$conf" "$TGT_PORTAL" "$IQN" info

# A [portal] section applies when no [target] section sets the key.
write_conf <<EOF2
[global]
initiator_name = iqn.2026-11.org.iser-attach.test:initiator
chap_user = nobody

[portal $TGT_PORTAL]
chap_user = $USER
chap_secret = $SECRET
EOF2
expect_ok_with "size: 8388608" "$ISA_IO" --config "$conf" "$TGT_PORTAL" "$IQN" info

# The command line wins over the file.
expect_fail_with "authentication failed" "$ISA_IO" --config "$conf" --chap-user nobody \
	"$TGT_PORTAL" "$IQN" info

# Secrets in a file that others can read: refused, and it says why.
chmod 644 "$conf"
expect_fail_with "readable by group or others (mode 0644)" "$ISA_IO" --config "$conf" \
	"$TGT_PORTAL" "$IQN" info
expect_fail_with "config file $TGT_TMPDIR/missing.conf" "$ISA_IO" \
	--config "$TGT_TMPDIR/missing.conf" "$TGT_PORTAL" "$IQN" info

# No initiator name anywhere: one is generated, stored, and used; the
# target admits only that name.
tgt_adm --mode account --op unbind --tid 1 --user "$USER"
namefile=$TGT_TMPDIR/initiatorname
write_conf <<EOF2
[global]
initiator_name_file = $namefile
EOF2
expect_ok_with "size: 8388608" "$ISA_IO" --config "$conf" "$TGT_PORTAL" "$IQN" info
name=$(sed -n 's/^InitiatorName=//p' "$namefile")
[[ $name == iqn.2026-11.org.iser-attach:* ]] || die "generated name: '$name'"
expect_ok_with "size: 8388608" "$ISA_IO" --config "$conf" "$TGT_PORTAL" "$IQN" info
[ "$(sed -n 's/^InitiatorName=//p' "$namefile")" = "$name" ] || die "the name changed"
tgt_adm --mode target --op unbind --tid 1 --initiator-address ALL
tgt_adm --mode target --op bind --tid 1 --initiator-name "$name"
expect_ok_with "size: 8388608" "$ISA_IO" --config "$conf" "$TGT_PORTAL" "$IQN" info
# tgt hides targets an initiator may not see: "not found" (0x0203).
expect_fail_with "target not found" "$ISA_IO" --config "$conf" \
	-I iqn.2026-11.org.example:other "$TGT_PORTAL" "$IQN" info

# max_pinned: a size, from the file or the command line; anything else is
# refused before anything connects. Over TCP nothing is pinned.
write_conf <<EOF2
[global]
initiator_name_file = $namefile
max_pinned = 12X
EOF2
expect_fail_with "max-pinned: '12X' is not a size (e.g. 64M, 1G)" "$ISA_IO" --config "$conf" \
	"$TGT_PORTAL" "$IQN" info
expect_fail_with "max-pinned: '0' is not a size" "$ISA_IO" --config "$conf" --max-pinned 0 \
	"$TGT_PORTAL" "$IQN" info
expect_ok_with "size: 8388608" "$ISA_IO" --config "$conf" --max-pinned 1G "$TGT_PORTAL" "$IQN" \
	info
write_conf <<EOF2
[global]
initiator_name_file = $namefile
max_pinned = 96MiB
EOF2
expect_ok_with "size: 8388608" "$ISA_IO" --config "$conf" "$TGT_PORTAL" "$IQN" info
