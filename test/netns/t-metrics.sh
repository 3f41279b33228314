#!/usr/bin/env bash
# Metrics = 127.0.0.1:9560: /metrics passes Debian's `promtool check metrics`,
# its counters move with a real knock, it listens on loopback only, a scrape
# without Metrics_Token_File's bearer token gets 401, and a non-loopback
# address without Metrics_Public is a config error.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
TOKEN="$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
echo "$TOKEN" >"$WORK/metrics.token"
chmod 600 "$WORK/metrics.token"
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
	Firewall = nftables
	Metrics = 127.0.0.1:9560
	Metrics_Token_File = $WORK/metrics.token
[openSSH]
	sequence = 7000,8000,9000
	Open = tcp/22
CONF
start_knockd "$WORK/knockd.conf"
scrape() { in_srv curl -sf --max-time 3 -H "Authorization: Bearer $TOKEN" http://127.0.0.1:9560/metrics; }
status() { in_srv curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$@" http://127.0.0.1:9560/metrics; }
value() { # value METRIC_WITH_LABELS: the sample's value, 0 when absent
  scrape | awk -v m="$1" '$1 == m { print $2; f = 1 } END { if (!f) print 0 }'
}

echo " /metrics is valid Prometheus text"
wait_until 5 sh -c "ip netns exec $SRV curl -s --max-time 1 http://127.0.0.1:9560/metrics >/dev/null" || fail "no /metrics"
scrape >"$WORK/m1.txt"
if promtool check metrics <"$WORK/m1.txt" >"$WORK/promtool.out" 2>&1; then log "ok: promtool check metrics passes"; else
  fail "promtool: $(cat "$WORK/promtool.out")"
fi
grep -q '^knockd_build_info{version=' "$WORK/m1.txt" && log "ok: build info" || fail "no build info"

echo " only with the bearer token (the knock counts tell how far a knock got)"
[ "$(status)" = 401 ] && [ "$(status -H 'Authorization: Bearer wrong-token-0123456789')" = 401 ] &&
  [ "$(status -H "Authorization: Bearer $TOKEN")" = 200 ] &&
  log "ok: 401 without the token or with another, 200 with it" ||
  fail "no token: $(status), wrong: $(status -H 'Authorization: Bearer x'), right: $(status -H "Authorization: Bearer $TOKEN")"
grep -q 'Metrics without Metrics_Token_File' "$WORK/knockd.log" "$WORK/knockd.out" 2>/dev/null &&
  fail "warned of no token with one set" || log "ok: no warning with a token file"

echo " counters move with a real knock"
before=$(value 'knockd_opens_total{door="openSSH"}')
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_open "$SRV4"
after=$(value 'knockd_opens_total{door="openSSH"}')
[ "$after" = $((before + 1)) ] && log "ok: knockd_opens_total $before -> $after" || fail "opens $before -> $after"
[ "$(value 'knockd_knocks_total{door="openSSH",stage="3"}')" -ge 1 ] && log "ok: stage 3 counted" || fail "stage 3 not counted"
[ "$(value 'knockd_grants{backend="nftables"}')" = 1 ] && log "ok: one live grant" || fail "live grants: $(value 'knockd_grants{backend="nftables"}')"
[ "$(value 'knockd_capture_packets_total{state="decoded"}')" -ge 3 ] && log "ok: capture counted" || fail "capture not counted"

echo " loopback only"
in_cli curl -sf --max-time 2 "http://$SRV4:9560/metrics" >/dev/null && fail "metrics reachable from the client" || log "ok: not reachable from the network"
sed -i 's/Metrics = 127.0.0.1:9560/Metrics = 10.77.0.1:9560/' "$WORK/knockd.conf"
"$ROOT/bin/knockd" --check -c "$WORK/knockd.conf" >"$WORK/check.out" 2>&1 && fail "non-loopback metrics accepted" ||
  { grep -q "Metrics_Public = yes" "$WORK/check.out" && log "ok: non-loopback refused without Metrics_Public"; } || fail "$(cat "$WORK/check.out")"
finish
