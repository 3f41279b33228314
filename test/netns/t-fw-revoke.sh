#!/usr/bin/env bash
# Issue #9, findings 3 and 9 (nftables): two SPA requests from one source for
# different ports are one grant (door SPA, the source) holding both ports; a
# `knockctl revoke` must close both, in the kernel, not only the last one.
# And a grant longer than 27.7 hours must still reach the kernel (nft
# refuses a bare `100000000ms`).
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
start_service 80
spa_keys
cat >"$WORK/access.conf" <<CONF
SOURCE 10.77.0.2/32
    KEY_BASE64 $K
    HMAC_KEY_BASE64 $H
    HMAC_DIGEST_TYPE sha512
    OPEN_PORTS tcp/22, tcp/80
    FW_ACCESS_TIMEOUT 60
    REQUIRE_SOURCE_ADDRESS Y
CONF
# The two doors exist only so the guard covers tcp/22 and tcp/80.
spa_conf "$WORK/knockd.conf" 22 80
start_knockd "$WORK/knockd.conf"
spa() { # spa PORT [fwknop args]: the stock client sends one SPA packet for PORT
  local port=$1
  shift
  in_cli fwknop --no-rc-file --no-save-args -A "$port" -a "$CLI4" -D "$SRV4" --key-base64-rijndael "$K" --key-base64-hmac "$H" --hmac-digest-type sha512 "$@" >/dev/null 2>&1
}
elements() { in_srv nft list set inet knockd grants4 | grep -cE '\. (22|80) timeout' || true; }

echo " SPA tcp/22, then SPA tcp/80 from the same source"
expect_closed "$SRV4" 22
expect_closed "$SRV4" 80
spa tcp/22
expect_log "$WORK/knockd.log" "$CLI4: SPA: open tcp/22 until"
expect_open "$SRV4" 22
expect_closed "$SRV4" 80
spa tcp/80
expect_log "$WORK/knockd.log" "$CLI4: SPA: open tcp/80 until .*\(refreshed\)"
expect_open "$SRV4" 80
expect_open "$SRV4" 22
ctl grants >"$WORK/grants.txt"
grep -q 'tcp/22,tcp/80' "$WORK/grants.txt" && log "ok: knockctl grants shows both ports" || fail "grants: $(cat "$WORK/grants.txt")"

echo " knockctl revoke closes every port the grant opened"
ctl revoke "$CLI4" | grep -q 'revoked 1' && log "ok: revoke" || fail "revoke"
expect_log "$WORK/knockd.log" "$CLI4: SPA: close tcp/22,tcp/80 \(revoked by admin\)"
if wait_until 3 sh -c "[ \$(ip netns exec $SRV nft list set inet knockd grants4 | grep -cE '\. (22|80) timeout') = 0 ]"; then
  log "ok: no element left in the kernel"
else
  fail "elements left after the revoke: $(in_srv nft list set inet knockd grants4 | grep timeout)"
fi
expect_closed "$SRV4" 22
expect_closed "$SRV4" 80
ctl --json grants | grep -q '"grants": \[\]' && log "ok: knockctl grants is empty" || fail "grants not empty"

echo " a day-long grant (FW_ACCESS_TIMEOUT 86400, the most access.conf allows) reaches the kernel"
sed -i 's/FW_ACCESS_TIMEOUT 60/FW_ACCESS_TIMEOUT 86400/' "$WORK/access.conf"
kill -HUP "$KNOCKD_PID"
expect_log "$WORK/knockd.log" "re-reading config file"
spa tcp/22
wait_until 5 sh -c "[ \$(grep -c '$CLI4: SPA: open tcp/22 until' '$WORK/knockd.log') = 2 ]" && log "ok: granted" || fail "no second grant: $(tail -3 "$WORK/knockd.log")"
expect_open "$SRV4" 22
in_srv nft list set inet knockd grants4 | grep -qE 'tcp \. 22 timeout (1d|23h59m5[0-9]s[0-9]*m?s?) ' && log "ok: kernel timeout 1d" || fail "kernel element: $(in_srv nft list set inet knockd grants4 | grep timeout)"
grep -q 'error: firewall' "$WORK/knockd.log" && fail "firewall errors: $(grep 'error: firewall' "$WORK/knockd.log" | head -2)" || log "ok: no firewall error logged"
ctl revoke "$CLI4" >/dev/null
wait_until 3 sh -c "[ \$(ip netns exec $SRV nft list set inet knockd grants4 | grep -c timeout) = 0 ]"
expect_closed "$SRV4" 22
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
