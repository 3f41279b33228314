#!/usr/bin/env bash
# Hostile SPA input (issue #9), with the stock fwknop client for the good
# packets and nftables grants:
#  - SPA_Receive = socket: one 65,000-byte datagram of spaces and an 'x' is
#    rejected by its length, and a valid packet sent right after it still
#    opens tcp/22 within a second (real TCP connect); a packet from a
#    link-local IPv6 source, which the socket reports with its zone, opens
#    nothing;
#  - allow IPs with leading zeros (010.077.000.003, 10.77.0.010, 00.0.0.0),
#    which the stock client sends as written, are rejected: they open nothing
#    for any host and 00.0.0.0 does not slip past REQUIRE_SOURCE_ADDRESS;
#  - capture mode: spoofed 1,472-byte whitespace datagrams from 10.99.0.0/16
#    at 600 packets/s for 5 s (tcpreplay) while a valid packet still opens
#    within a second.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
add_client_addr 10.77.0.3
spa_keys
cat >"$WORK/access.conf" <<CONF
SOURCE 10.77.0.0/24
    KEY_BASE64 $K
    HMAC_KEY_BASE64 $H
    OPEN_PORTS tcp/22
    FW_ACCESS_TIMEOUT 3
    REQUIRE_SOURCE_ADDRESS Y
SOURCE ANY
    KEY_BASE64 $K
    HMAC_KEY_BASE64 $H
    OPEN_PORTS tcp/22
    FW_ACCESS_TIMEOUT 3
CONF
cat >"$WORK/knockd.conf" <<CONF
[options]
	SPA_Receive = socket
	LogFile = $WORK/knockd.log
	Firewall = nftables
	SPA_Access = $WORK/access.conf
[guard]
	sequence = 7000
	Open = tcp/22
CONF
start_knockd "$WORK/knockd.conf"
wait_until 5 sh -c "ip netns exec $SRV ss -lun | grep -q ':62201 '" && log "ok: listening on udp/62201" || fail "no SPA socket"

# fwknop_send IP: the stock client sends a packet asking tcp/22 for IP.
fwknop_send() {
  in_cli fwknop --no-rc-file --no-save-args -A tcp/22 -a "$1" -D "$SRV4" --key-base64-rijndael "$K" --key-base64-hmac "$H" >/dev/null 2>&1
}
# opened_ms T0_MS: real TCP connects from the client to tcp/22 (150 ms each,
# every 50 ms, for at most 8 s); prints the ms from T0_MS to the first that
# succeeds, or "never".
opened_ms() {
  in_cli node -e "
    const net = require('net');
    const t0 = $1;
    const go = () => {
      const s = net.connect({ host: '$SRV4', port: 22 });
      const k = setTimeout(() => s.destroy(), 150);
      s.on('connect', () => { console.log(Date.now() - t0); process.exit(0); });
      s.on('error', () => {});
      s.on('close', () => {
        clearTimeout(k);
        if (Date.now() - t0 > 8000) { console.log('never'); process.exit(0); }
        setTimeout(go, 50);
      });
    };
    go();
  "
}
now_ms() { echo $(($(date +%s%N) / 1000000)); }
within_1s() { # within_1s LABEL MS
  case "$2" in
  never) fail "$1: tcp/22 never opened" ;;
  *) if [ "$2" -lt 1000 ]; then log "ok: $1: tcp/22 open after $2 ms"; else fail "$1: tcp/22 open only after $2 ms (limit 1000)"; fi ;;
  esac
}

echo " allow IPs with leading zeros open nothing (stock client, sent as written)"
for ip in 010.077.000.003 10.77.0.010 00.0.0.0; do
  fwknop_send "$ip"
  expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(bad allow IP '$ip'\)"
done
# Sync point: a valid packet after them is processed after them (and its
# time to open is the baseline for the numbers below).
T0=$(now_ms)
fwknop_send "$CLI4"
within_1s "baseline, no hostile traffic" "$(opened_ms "$T0")"
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
[ "$(count_lines "$WORK/knockd.log" 'SPA: accepted')" = 1 ] && log "ok: only the plain address was accepted" || fail "a leading-zero allow IP was accepted: $(grep 'SPA: accepted' "$WORK/knockd.log")"
reachable_from 10.77.0.3 "$SRV4" && fail "10.77.0.3 can connect" || log "ok: 10.77.0.3 cannot connect"
in_srv nft list table inet knockd >"$WORK/ruleset"
grep -qE '8\.63\.0\.3|10\.77\.0\.(3|8|10)\b|0\.0\.0\.0' "$WORK/ruleset" && fail "a grant for another host: $(cat "$WORK/ruleset")" || log "ok: the ruleset holds no grant for another host"
expect_log "$WORK/knockd.log" "$CLI4: SPA: close tcp/22 \(expired\)" 8
expect_closed "$SRV4"

echo " SPA_Receive = socket: a link-local sender (the socket reports its zone) opens nothing"
ll() { ip netns exec "$1" ip -6 -o addr show dev "$2" scope link | sed -n 's/.*inet6 \([^/]*\).*/\1/p'; }
wait_until 5 sh -c "! ip -n $CLI -6 addr show dev veth-c scope link | grep -q tentative" || fail "no link-local address"
CLL=$(ll "$CLI" veth-c)
SLL=$(ll "$SRV" veth-s)
in_cli fwknop --no-rc-file --no-save-args -A tcp/22 -s -D "$SRV4" --key-base64-rijndael "$K" --key-base64-hmac "$H" -T -B "$WORK/ll.txt" >/dev/null 2>&1
in_cli node -e "
  const s = require('dgram').createSocket('udp6');
  s.on('error', (e) => { console.error(e.message); process.exit(1); });
  s.bind({ address: '$CLL%veth-c', port: 0 }, () =>
    s.send(require('fs').readFileSync('$WORK/ll.txt'), 62201, '$SLL%veth-c', () => s.close()));
" || fail "could not send from $CLL"
expect_log "$WORK/knockd.log" "SPA: rejected \(source 'fe80::[0-9a-f:]+%veth-s' is not a plain IP address \(zones are refused\)\)"
if grep -q 'SPA: accepted for fe80' "$WORK/knockd.log" || in_srv nft list table inet knockd | grep -q 'fe80'; then
  fail "a grant for a link-local address: $(grep 'accepted for fe80' "$WORK/knockd.log")"
else log "ok: no link-local grant"; fi

echo " SPA_Receive = socket: a 65,000-byte datagram of spaces, then a valid packet"
in_cli node -e "
  const b = Buffer.alloc(65000, 0x20); b[64999] = 0x78;
  const s = require('dgram').createSocket('udp4');
  s.send(b, 62201, '$SRV4', (e) => { if (e) { console.error(e.message); process.exit(1); } s.close(); });
" || fail "could not send the 65,000-byte datagram"
T0=$(now_ms)
fwknop_send "$CLI4"
within_1s "socket mode after 64 KB of spaces" "$(opened_ms "$T0")"
expect_log "$WORK/knockd.log" "$CLI4: SPA: rejected \(bad length 65000\)"
wait_until 8 sh -c "[ \$(grep -c 'SPA: close tcp/22 (expired)' '$WORK/knockd.log') -ge 2 ]" || fail "the second grant did not expire"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
wait_until 5 sh -c "! ip netns exec $SRV nft list table inet knockd | grep -q '$CLI4'" || fail "grant not closed"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null

echo " capture mode: 3,000 spoofed 1,472-byte whitespace datagrams at 600/s, a valid packet inside"
sed -i '/SPA_Receive = socket/d' "$WORK/knockd.conf"
: >"$WORK/knockd.log"
start_knockd "$WORK/knockd.conf"
mac="$(in_srv cat /sys/class/net/veth-s/address)"
node "$ROOT/dist/test/helpers/mkspaflood.js" "$WORK/flood.pcap" "$mac" "$SRV4" 62201 3000 1472
in_cli timeout 20 nice tcpreplay --pps=600 -i veth-c "$WORK/flood.pcap" >"$WORK/tcpreplay.out" 2>&1 &
REPLAY=$!
PIDS+=($REPLAY)
# Sync point: the flood reaches the daemon; then let it run for a second.
expect_log "$WORK/knockd.log" "10\.99\.[0-9.]+: SPA: rejected \(not base64 text\)"
sleep 1
T0=$(now_ms)
fwknop_send "$CLI4"
within_1s "capture mode inside the flood" "$(opened_ms "$T0")"
wait "$REPLAY"
log "tcpreplay: $(grep -m1 "Rated:" "$WORK/tcpreplay.out" | sed "s/^ *//")"
grep -q "Successful packets: *3000" "$WORK/tcpreplay.out" && log "ok: 3000 packets sent" || fail "tcpreplay: $(cat "$WORK/tcpreplay.out")"
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
log "$(count_lines "$WORK/knockd.log" 'rejected \(not base64 text\)') rejection lines logged for 3000 flood packets"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died in the flood"
finish
