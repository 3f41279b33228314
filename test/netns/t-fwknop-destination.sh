#!/usr/bin/env bash
# DESTINATION with the stock fwknop client (nftables grants): the server has
# two addresses; a stanza for one of them opens when the packet is sent to
# it and stays closed when the same client sends to the other. In socket
# mode (no packet destination in Node) the interface's addresses stand in:
# a DESTINATION naming none of them stays closed.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
SRV4B=10.77.0.9
in_srv ip addr add "$SRV4B/24" dev veth-s
start_service 22
spa_keys
cat >"$WORK/access.conf" <<CONF
SOURCE ANY
DESTINATION $SRV4/32
KEY_BASE64 $K
HMAC_KEY_BASE64 $H
OPEN_PORTS tcp/22
FW_ACCESS_TIMEOUT 30
CONF
spa_conf "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"
send_to() { in_cli fwknop --no-rc-file --no-save-args -A tcp/22 -a "$CLI4" -D "$1" --key-base64-rijndael "$K" --key-base64-hmac "$H" >/dev/null 2>&1; }

echo " a packet to the other server address does not match DESTINATION $SRV4"
expect_closed "$SRV4"
send_to "$SRV4B"
expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(no access.conf stanza for $CLI4 -> $SRV4B \(DESTINATION\)\)"
expect_closed "$SRV4"
expect_closed "$SRV4B"

echo " the same client to $SRV4 opens"
send_to "$SRV4"
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
expect_open "$SRV4"
[ "$(grep -c 'SPA: accepted' "$WORK/knockd.log")" = 1 ] && log "ok: exactly one accept" || fail "unexpected accepts"

echo " socket mode: a DESTINATION that is none of the interface's addresses stays closed"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
in_srv nft delete table inet knockd
rm -rf "$WORK/state" # the live grant would be restored from the journal
sed -i "s|^DESTINATION .*|DESTINATION 192.0.2.1|" "$WORK/access.conf"
sed -i "/^\[options\]/a SPA_Receive = socket" "$WORK/knockd.conf"
: >"$WORK/knockd.log"
start_knockd "$WORK/knockd.conf"
wait_until 5 sh -c "ip netns exec $SRV ss -lun | grep -q ':62201 '" || fail "no SPA socket"
send_to "$SRV4"
expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(no access.conf stanza for $CLI4 -> .*$SRV4.* \(DESTINATION\)\)"
expect_closed "$SRV4"
echo " socket mode: DESTINATION naming an interface address opens"
sed -i "s|^DESTINATION .*|DESTINATION $SRV4|" "$WORK/access.conf"
kill -HUP "$KNOCKD_PID"
wait_log "$WORK/knockd.log" "re-reading config file" || fail "no reload"
send_to "$SRV4"
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
expect_open "$SRV4"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
in_srv nft delete table inet knockd 2>/dev/null
finish
