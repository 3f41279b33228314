#!/usr/bin/env bash
# GPG SPA with the stock fwknop 2.6.10 client against our daemon (capture
# path, nftables grants). Per-run keyrings: a server key with a passphrase
# (GPG_DECRYPT_PW reaches gpg on a pipe), a client key and an unlisted one,
# exchanged and signed as fwknopd needs (a signer of marginal trust or
# above). A packet signed by the client opens tcp/22 (a real TCP connect);
# one signed by the unlisted key, an unsigned one, a wrong passphrase, a
# replay and a spoofed flood do not, and the flood and the replays run no
# gpg at all (GPG_EXE is a wrapper that counts its runs).
. "$(dirname "$0")/lib.sh"
SG="$WORK/gpg-srv"
CG="$WORK/gpg-cli"
gpg_cleanup() {
  # The agents gpg started for these keyrings (cleanup kills those started inside the namespaces).
  for h in "$SG" "$CG"; do [ -d "$h" ] && gpgconf --homedir "$h" --kill all 2>/dev/null; done
  cleanup
}
trap gpg_cleanup EXIT
for t in fwknop gpg gpgconf; do command -v "$t" >/dev/null || {
  echo "SKIP: $t is not installed"
  exit 0
}; done
setup_net
start_service 22
mkdir -m 700 "$SG" "$CG"
g() { # g HOME ARGS...: gpg on a test keyring, quiet and non-interactive
  local h=$1
  shift
  gpg --homedir "$h" --batch --no-tty --quiet "$@"
}
fpr() { g "$1" --list-keys --with-colons "$2" | awk -F: '$1 == "fpr" { print $10; exit }'; }
PW=$(head -c 12 /dev/urandom | base64 -w0)
exec 3>&2 2>>"$WORK/gpg-setup.log" # gpg's chatter while the keyrings are made
g "$SG" --pinentry-mode loopback --passphrase "$PW" --quick-gen-key 'knockd server <srv@test>' default default never
g "$CG" --pinentry-mode loopback --passphrase '' --quick-gen-key 'client <cli@test>' default default never
g "$CG" --pinentry-mode loopback --passphrase '' --quick-gen-key 'other <other@test>' default default never
SFPR=$(fpr "$SG" srv@test)
CFPR=$(fpr "$CG" cli@test)
OFPR=$(fpr "$CG" other@test)
[ ${#SFPR} = 40 ] && [ ${#CFPR} = 40 ] && [ ${#OFPR} = 40 ] && log "ok: keys made" || fail "key generation: '$SFPR' '$CFPR' '$OFPR': $(tail -3 "$WORK/gpg-setup.log")"
g "$SG" --export "$SFPR" | g "$CG" --import
g "$CG" --export "$CFPR" "$OFPR" | g "$SG" --import
# The server vouches for both client keys: the unlisted one is refused by GPG_REMOTE_ID, not by trust.
for k in "$CFPR" "$OFPR"; do g "$SG" --pinentry-mode loopback --passphrase "$PW" --yes --quick-lsign-key "$k" >/dev/null 2>&1; done
# Forget the cached passphrase: from here on only GPG_DECRYPT_PW can unlock the server key.
gpgconf --homedir "$SG" --kill gpg-agent
exec 2>&3 3>&-

H=$(head -c 64 /dev/urandom | base64 -w0)
cat >"$WORK/gpg-wrap" <<WRAP
#!/bin/sh
echo run >>"$WORK/gpg-runs"
exec /usr/bin/gpg "\$@"
WRAP
chmod 755 "$WORK/gpg-wrap"
: >"$WORK/gpg-runs"
access() { # access PASSPHRASE
  cat >"$WORK/access.conf" <<CONF
SOURCE 10.77.0.2/32
    HMAC_KEY_BASE64 $H
    GPG_HOME_DIR $SG
    GPG_EXE $WORK/gpg-wrap
    GPG_DECRYPT_ID ${SFPR: -8}
    GPG_DECRYPT_PW $1
    GPG_REMOTE_ID ${CFPR: -8}
    OPEN_PORTS tcp/22
    FW_ACCESS_TIMEOUT 4
CONF
}
access "wrong-$PW"
spa_conf "$WORK/knockd.conf"
add_sync_door "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"
"$ROOT/bin/knockd" --check -c "$WORK/knockd.conf" 2>"$WORK/check.err" && log "ok: the GPG stanza passes --check" || fail "--check: $(cat "$WORK/check.err")"
spa() { # spa OUTFILE [fwknop args]: a GPG packet from the stock client, sent, and saved for a replay
  local out=$1
  shift
  in_cli fwknop --no-rc-file --no-save-args -A tcp/22 -a "$CLI4" -D "$SRV4" --gpg-encryption \
    --gpg-recipient-key "${SFPR: -8}" --gpg-home-dir "$CG" --key-base64-hmac "$H" -B "$out" "$@" >"$WORK/fwknop.out" 2>&1 ||
    fail "fwknop: $(tail -3 "$WORK/fwknop.out")"
}
runs() { wc -l <"$WORK/gpg-runs"; }
accepted() { grep -c 'SPA: accepted' "$WORK/knockd.log"; }

echo " a wrong GPG_DECRYPT_PW: gpg cannot unlock the key, nothing opens"
expect_closed "$SRV4"
spa "$WORK/p0.txt" --gpg-signer-key "${CFPR: -8}" --gpg-no-signing-pw
expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(GPG decryption failed\)" 10
expect_closed "$SRV4"

echo " the stock client, signed by the listed key, opens tcp/22"
access "$PW"
kill -HUP "$KNOCKD_PID"
wait_log "$WORK/knockd.log" "re-reading config file" || fail "no reload"
spa "$WORK/good.txt" --gpg-signer-key "${CFPR: -8}" --gpg-no-signing-pw
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4" 10
expect_open "$SRV4"
[ "$(wc -c <"$WORK/good.txt")" -ge 400 ] && log "ok: a GPG-sized packet ($(wc -c <"$WORK/good.txt") bytes)" || fail "packet too short for GPG"

echo " signed by a key the keyring trusts but GPG_REMOTE_ID does not list: closed"
spa "$WORK/other.txt" --gpg-signer-key "${OFPR: -8}" --gpg-no-signing-pw
expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(GPG signer ${OFPR: -8} is not in GPG_REMOTE_ID\)" 10

echo " unsigned (no --gpg-signer-key): closed, GPG_REQUIRE_SIG is on by default"
spa "$WORK/unsigned.txt"
expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(GPG packet is not signed \(GPG_REQUIRE_SIG\)\)" 10
expect_log "$WORK/knockd.log" "$CLI4: SPA: close tcp/22 \(expired\)" 8
expect_closed "$SRV4"
[ "$(accepted)" = 1 ] && log "ok: exactly one packet was accepted" || fail "accepted $(accepted) packets"

echo " replays and a spoofed flood of GPG-sized packets run no gpg"
before=$(runs)
[ "$before" = 4 ] && log "ok: one gpg run per packet so far (4)" || fail "gpg ran $before times for 4 packets"
in_cli node -e "
  const fs = require('fs'), dgram = require('dgram'), crypto = require('crypto');
  const s = dgram.createSocket('udp4');
  const good = fs.readFileSync('$WORK/good.txt', 'utf8').trim();
  const other = fs.readFileSync('$WORK/other.txt', 'utf8').trim();
  const pkts = [];
  for (let i = 0; i < 100; i++) pkts.push(i % 2 ? good : other);
  // GPG-sized base64 with a forged HMAC: refused before any process.
  for (let i = 0; i < 300; i++) pkts.push(crypto.randomBytes(900).toString('base64').replace(/=+$/, ''));
  let n = 0;
  const next = () => (n < pkts.length ? s.send(pkts[n++], 62201, '$SRV4', next) : s.close());
  next();
"
sync_point "$WORK/knockd.log"
[ "$(runs)" = "$before" ] && log "ok: 400 packets, no gpg run" || fail "gpg ran $(($(runs) - before)) more times"
grep -q "rejected (replayed packet)" "$WORK/knockd.log" && log "ok: replays logged as such" || fail "no replay rejection"
expect_closed "$SRV4"
[ "$(accepted)" = 1 ] && log "ok: still one accepted packet" || fail "accepted $(accepted) packets"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
