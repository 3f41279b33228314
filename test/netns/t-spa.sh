#!/usr/bin/env bash
# Single Packet Authorization with the stock fwknop client against our daemon
# (capture path, nftables grants): a good packet opens tcp/22 for
# FW_ACCESS_TIMEOUT; a replayed packet, a flipped byte, an old packet, a wrong
# HMAC key, a port outside OPEN_PORTS and a source outside SOURCE do not, and
# each is logged with its reason.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
add_client_addr 10.77.0.3
spa_keys
H2=$(head -c 64 /dev/urandom | base64 -w0)
cat >"$WORK/access.conf" <<CONF
SOURCE 10.77.0.2/32
    KEY_BASE64 $K
    HMAC_KEY_BASE64 $H
    HMAC_DIGEST_TYPE sha512
    OPEN_PORTS tcp/22
    FW_ACCESS_TIMEOUT 4
    REQUIRE_SOURCE_ADDRESS Y
CONF
spa_conf "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf" -D
# The verifier's primitives come from the native/spa addon (scripts/setup.sh builds it).
expect_log "$WORK/knockd.out" 'SPA: cryptography through the native/spa addon'
spa() { # spa OUTFILE [extra fwknop args]: build a packet with the stock client (not sent)
  local out=$1
  shift
  in_cli fwknop --no-rc-file --no-save-args -D "$SRV4" -a "$CLI4" --key-base64-rijndael "$K" --hmac-digest-type sha512 -B "$out" -T "$@" >/dev/null 2>&1
}
send() { in_cli sh -c "nc -u -w0 ${2:+-s $2} $SRV4 62201 < $1"; }

"$ROOT/bin/knockd" --check -c "$WORK/knockd.conf" --spa-access "$WORK/missing.conf" 2>"$WORK/check.err" && fail "--spa-access with a missing file passed --check" ||
  { grep -q "SPA_Access: ENOENT" "$WORK/check.err" && log "ok: --spa-access is checked"; } || fail "--spa-access error: $(cat "$WORK/check.err")"

echo " the stock fwknop client opens tcp/22"
expect_closed "$SRV4"
in_cli fwknop --no-rc-file --no-save-args -A tcp/22 -a "$CLI4" -D "$SRV4" --key-base64-rijndael "$K" --key-base64-hmac "$H" --hmac-digest-type sha512 -B "$WORK/good.txt" >/dev/null 2>&1
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
expect_open "$SRV4"
expect_log "$WORK/knockd.log" "$CLI4: SPA: close tcp/22 \(expired\)" 8
expect_closed "$SRV4"

echo " a replayed packet does not open"
send "$WORK/good.txt"
expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(replayed packet\)"
expect_closed "$SRV4"

echo " a flipped byte, a wrong HMAC key, an old packet, a port outside OPEN_PORTS, 0.0.0.0"
spa "$WORK/p1.txt" -A tcp/22 --key-base64-hmac "$H"
c61=$(cut -c61 "$WORK/p1.txt")
new=A
[ "$c61" = A ] && new=B
sed -i "s/^\(.\{60\}\)./\1$new/" "$WORK/p1.txt"
send "$WORK/p1.txt"
expect_log "$WORK/knockd.log" "rejected \(HMAC mismatch\)"
spa "$WORK/p2.txt" -A tcp/22 --key-base64-hmac "$H2"
send "$WORK/p2.txt"
expect_log "$WORK/knockd.log" "rejected \(HMAC mismatch\)"
spa "$WORK/p3.txt" -A tcp/22 --key-base64-hmac "$H" --time-offset-minus 300
send "$WORK/p3.txt"
expect_log "$WORK/knockd.log" "rejected \(packet is [0-9]+ s old\)"
spa "$WORK/p4.txt" -A tcp/2222 --key-base64-hmac "$H"
send "$WORK/p4.txt"
expect_log "$WORK/knockd.log" "rejected \(tcp/2222 is not in OPEN_PORTS\)"
in_cli fwknop --no-rc-file --no-save-args -D "$SRV4" -s -A tcp/22 --key-base64-rijndael "$K" --key-base64-hmac "$H" --hmac-digest-type sha512 -B "$WORK/p5.txt" -T >/dev/null 2>&1
send "$WORK/p5.txt"
expect_log "$WORK/knockd.log" "rejected \(0.0.0.0 when REQUIRE_SOURCE_ADDRESS is set\)"

echo " a source outside SOURCE"
spa "$WORK/p6.txt" -A tcp/22 --key-base64-hmac "$H"
send "$WORK/p6.txt" 10.77.0.3
expect_log "$WORK/knockd.log" "10.77.0.3: SPA: rejected \(no access.conf stanza for source 10.77.0.3\)"
expect_closed "$SRV4"
[ "$(grep -c 'SPA: accepted' "$WORK/knockd.log")" = 1 ] && log "ok: exactly one packet was accepted" || fail "unexpected accepts"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"

echo " the stock client with each HMAC digest type (one access.conf stanza per type)"
: >"$WORK/all.conf"
for t in md5 sha1 sha256 sha384 sha512 sha3_256 sha3_512; do
  printf 'SOURCE 10.77.0.2\n  KEY_BASE64 %s\n  HMAC_KEY_BASE64 %s\n  HMAC_DIGEST_TYPE %s\n  OPEN_PORTS tcp/22\n  FW_ACCESS_TIMEOUT 4\n' "$K" "$H" "$t" >>"$WORK/all.conf"
done
sed -i "s|SPA_Access = .*|SPA_Access = $WORK/all.conf|" "$WORK/knockd.conf"
kill -HUP "$KNOCKD_PID"
wait_log "$WORK/knockd.log" "re-reading config file"
n0=$(grep -c 'SPA: accepted' "$WORK/knockd.log")
for t in md5 sha1 sha256 sha384 sha512 sha3_256 sha3_512; do
  in_cli fwknop --no-rc-file --no-save-args -A tcp/22 -a "$CLI4" -D "$SRV4" --key-base64-rijndael "$K" --key-base64-hmac "$H" --hmac-digest-type "$t" >/dev/null 2>&1
done
if wait_until 5 sh -c "[ \$(grep -c 'SPA: accepted' '$WORK/knockd.log') -ge $((n0 + 7)) ]"; then log "ok: all 7 HMAC digest types accepted"; else fail "only $(($(grep -c 'SPA: accepted' "$WORK/knockd.log") - n0)) of 7 digest types accepted"; fi
expect_open "$SRV4"

echo " our client (knock --spa) against our daemon"
printf 'KEY_BASE64 %s\nHMAC_KEY_BASE64 %s\nHMAC_DIGEST_TYPE sha512\n' "$K" "$H" >"$WORK/profile"
chmod 600 "$WORK/profile" # knock refuses key files others can read, as ssh does
in_cli "$KNOCK" --spa --spa-profile "$WORK/profile" "$SRV4" tcp/22
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
expect_open "$SRV4"

echo " SPA_Receive = socket: a plain UDP socket instead of the capture path"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
sed -i "/^\[options\]/a SPA_Receive = socket" "$WORK/knockd.conf"
: >"$WORK/knockd.log"
start_knockd "$WORK/knockd.conf"
wait_until 5 sh -c "ip netns exec $SRV ss -lun | grep -q ':62201 '" && log "ok: listening on udp/62201" || fail "no SPA socket"
in_cli "$KNOCK" --spa --spa-profile "$WORK/profile" "$SRV4" tcp/22
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
[ "$(grep -c 'SPA: accepted' "$WORK/knockd.log")" = 1 ] && log "ok: accepted once (not also from capture)" || fail "accepted twice"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
in_srv nft delete table inet knockd

echo " our client against the stock fwknopd (UDP server mode, its own iptables rules)"
tutorial_firewall
expect_closed "$SRV4"
printf 'SOURCE ANY\n    KEY_BASE64 %s\n    HMAC_KEY_BASE64 %s\n    HMAC_DIGEST_TYPE sha512\n    OPEN_PORTS tcp/22\n    FW_ACCESS_TIMEOUT 30\n' "$K" "$H" >"$WORK/fwknop-access.conf"
printf 'ENABLE_UDP_SERVER Y\nPCAP_INTF veth-s\nENABLE_RULE_PREPEND Y\n' >"$WORK/fwknopd.conf"
chmod 600 "$WORK/fwknop-access.conf" "$WORK/fwknopd.conf"
mkdir -p "$WORK/fwknop-run"
ip netns exec "$SRV" fwknopd -f -U -c "$WORK/fwknopd.conf" -a "$WORK/fwknop-access.conf" -d "$WORK/fwknop-run/digest.cache" -p "$WORK/fwknop-run/fwknopd.pid" -r "$WORK/fwknop-run" >"$WORK/fwknopd.out" 2>&1 &
PIDS+=($!)
wait_until 10 sh -c "ip netns exec $SRV ss -lun | grep -q ':62201 '" || { fail "fwknopd did not start"; cat "$WORK/fwknopd.out"; }
in_cli "$KNOCK" --spa --key-base64 "$K" --hmac-key-base64 "$H" --hmac-digest-type sha512 "$SRV4" tcp/22
expect_open "$SRV4"
grep -qE "Added access rule|ACCEPT" "$WORK/fwknopd.out" && log "ok: fwknopd added its rule" || log "fwknopd output: $(tail -3 "$WORK/fwknopd.out")"
finish
