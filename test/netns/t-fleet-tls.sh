#!/usr/bin/env bash
# The fleet over TLS: Redis listens only on TLS (rediss://) with a certificate
# from a test CA named in Fleet_CA. A sequence spread over the three servers
# opens all three (shared attempts and grants both over TLS), nothing of the
# group's traffic crosses the hub in clear text, and a daemon whose Fleet_CA
# is another CA refuses the server and works locally.
# Topology and helpers: fleet-common.sh.
TLS=1
. "$(dirname "$0")/fleet-common.sh"

knock_one() { in_cli "$ROOT/bin/knock" "${ADDR[$1]}" "$2"; } # SERVER PORT
all_granted() { granted 0 && granted 1 && granted 2; }

setup_fleet_net
make_certs
FLEET_CA="$WORK/tls/ca.pem"
printf 'knockd-t %s\n' "$PW" >"$WORK/redis.pw"
chmod 600 "$WORK/redis.pw"
start_redis
# Everything between the servers and Redis, as the hub's bridge sees it.
ip netns exec "$HUB" timeout 60 tcpdump -i br0 -U -w "$WORK/hub.pcap" "tcp port $RPORT" 2>"$WORK/tcpdump.err" &
TCPDUMP=$!
PIDS+=($TCPDUMP)
wait_until 5 grep -q 'listening on' "$WORK/tcpdump.err" || fail "tcpdump did not start"
for i in 0 1 2; do
  write_conf "$i"
  start_service_in "$i"
  start_daemon "$i"
done
for i in 0 1 2; do
  wait_log "$WORK/s$((i + 1))/knockd.log" "fleet: connected to rediss://$REDIS:$RPORT" 10 || fail "s$((i + 1)) not connected over TLS"
done

echo " knocks 1, 2, 3 on s1, s2, s3 over rediss:// open all three (closed before)"
for i in 0 1 2; do expect_no_reach "$i"; done
knock_one 0 7000
knock_one 1 8000
knock_one 2 9000
if wait_until 5 all_granted; then log "ok: granted on all three"; else fail "not granted on all three"; fi
for i in 0 1 2; do expect_reach "$i"; done
grep -q "$CLIENT: ssh: sequence completed across the fleet" "$WORK/s3/knockd.log" && log "ok: the attempt went through Redis over TLS" || fail "s3 lacks the completion line"
kill "$TCPDUMP" 2>/dev/null
wait "$TCPDUMP" 2>/dev/null
bytes=$(stat -c %s "$WORK/hub.pcap")
[ "$bytes" -gt 2000 ] && log "ok: $bytes bytes of Redis traffic captured on the hub" || fail "no Redis traffic captured ($bytes bytes)"
if grep -aqE "knockd:t$RUN_ID|$PW|EVALSHA|evalsha|PUBLISH" "$WORK/hub.pcap"; then fail "group traffic in clear text on the hub"; else log "ok: no key, channel, command or password in clear text"; fi

echo " s3 with Fleet_CA naming another CA refuses the server and works locally"
kill "${DPID[2]}"
wait "${DPID[2]}" 2>/dev/null
FLEET_CA="$WORK/tls/other.pem" write_conf 2
: >"$WORK/s3/knockd.log"
start_daemon 2
wait_log "$WORK/s3/knockd.log" 'fleet: Redis at rediss://.* unreachable' 10 && log "ok: s3 logs the refused server" || fail "s3 did not refuse the server"
grep -E 'fleet: Redis at' "$WORK/s3/knockd.log" | head -1 | sed 's/^/    | /'
grep -q 'fleet: connected' "$WORK/s3/knockd.log" && fail "s3 connected despite the wrong CA"
knock_on 2
wait_log "$WORK/s3/knockd.log" "$CLIENT: ssh: OPEN SESAME" && log "ok: s3 still opens locally" || fail "s3 did not open locally"

echo " Fleet_CA is checked: a missing file and a plain redis:// URL are refused"
sed -i "s#Fleet_CA = .*#Fleet_CA = $WORK/tls/missing.pem#" "$WORK/s3/knockd.conf"
kill "${DPID[2]}"
wait "${DPID[2]}" 2>/dev/null
out=$(in_s 2 timeout 10 "$ROOT/bin/knockd" -i veth0 -c "$WORK/s3/knockd.conf" 2>&1 </dev/null || true)
echo "$out" | grep -q "Fleet_CA '$WORK/tls/missing.pem'" && log "ok: a missing Fleet_CA stops the start with its name" || { fail "missing Fleet_CA not reported"; echo "$out" | head -3; }
sed -i -e "s#Fleet_CA = .*#Fleet_CA = $WORK/tls/ca.pem#" -e "s#rediss://#redis://#" "$WORK/s3/knockd.conf"
out=$("$ROOT/bin/knockd" --check -c "$WORK/s3/knockd.conf" 2>&1 || true)
echo "$out" | grep -q 'Fleet_CA needs a TLS URL' && log "ok: --check refuses Fleet_CA with redis://" || { fail "Fleet_CA with redis:// not refused"; echo "$out" | head -3; }

finish
