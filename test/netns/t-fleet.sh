#!/usr/bin/env bash
# Shared grants (issue #14) end to end: one knock opens a group of servers.
#
#   [ $HUB ] bridge br0 10.88.0.1/24, redis-server bound to 10.88.0.1 (started here, by pid)
#     |-- veth -- [ s1 ] 10.88.0.11  knockd, nftables, stand-in service on tcp/22
#     |-- veth -- [ s2 ] 10.88.0.12  "
#     |-- veth -- [ s3 ] 10.88.0.13  "
#     `-- veth -- [ $CLI ] 10.88.0.2  knock, knockctl, TCP connects
#
# Everything lives in this run's namespaces; the host's Redis service is never started.
. "$(dirname "$0")/lib.sh"
HUB="kt-$RUN_ID-hub"
S=("kt-$RUN_ID-s1" "kt-$RUN_ID-s2" "kt-$RUN_ID-s3")
ADDR=(10.88.0.11 10.88.0.12 10.88.0.13)
CLIENT=10.88.0.2
REDIS=10.88.0.1
RPORT=6390
KNOCKCTL="$ROOT/bin/knockctl"
DPID=(0 0 0)
REDIS_PID=0

fleet_cleanup() {
  local ns p
  cleanup 2>/dev/null
  for ns in "$HUB" "${S[@]}"; do
    if ip netns list | grep -q "^$ns\b"; then
      p="$(ip netns pids "$ns" 2>/dev/null || true)"
      [ -n "$p" ] && kill -9 $p 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}
trap fleet_cleanup EXIT

in_s() { ip netns exec "${S[$1]}" "${@:2}"; }

setup_fleet_net() {
  ip netns add "$HUB"
  ip netns add "$CLI"
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" addr add "$REDIS/24" dev br0
  ip -n "$HUB" link set br0 up
  ip -n "$HUB" link set lo up
  local i
  for i in 0 1 2; do
    ip netns add "${S[$i]}"
    ip link add veth0 netns "${S[$i]}" type veth peer name "p$i" netns "$HUB"
    in_s "$i" ip addr add "${ADDR[$i]}/24" dev veth0
    in_s "$i" ip link set veth0 up
    in_s "$i" ip link set lo up
    ip -n "$HUB" link set "p$i" master br0 up
  done
  ip link add veth0 netns "$CLI" type veth peer name pc netns "$HUB"
  ip -n "$CLI" addr add "$CLIENT/24" dev veth0
  ip -n "$CLI" link set veth0 up
  ip -n "$CLI" link set lo up
  ip -n "$HUB" link set pc master br0 up
  for i in 0 1 2; do
    wait_until 5 in_cli ping -c1 -W1 "${ADDR[$i]}" >/dev/null || fail "no path to ${ADDR[$i]}"
  done
}

PW="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
start_redis() {
  mkdir -p "$WORK/redis"
  cat >"$WORK/redis.conf" <<CONF
bind $REDIS
port $RPORT
protected-mode yes
# The README's least-privilege ACL: the group's keys and channel only; no default user.
user default off
user knockd-t on >$PW ~knockd:t$RUN_ID:* &knockd:t$RUN_ID:* +@read +@write +@pubsub +scan +ping -@dangerous
save ""
appendonly no
daemonize no
dir $WORK/redis
logfile $WORK/redis.log
CONF
  ip netns exec "$HUB" redis-server "$WORK/redis.conf" &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_log "$WORK/redis.log" 'Ready to accept connections' || fail "redis did not start"
}
stop_redis() {
  kill "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  : >"$WORK/redis.log"
}

write_conf() { # N
  local n=$(($1 + 1)) d="$WORK/s$(($1 + 1))"
  mkdir -p "$d"
  cat >"$d/knockd.conf" <<CONF
[options]
	Firewall = nftables
	LogFile = $d/knockd.log
	StateDir = $d/state
	ControlSocket = $d/knockd.sock
	Fleet = redis://$REDIS:$RPORT/0
	Fleet_Name = t$RUN_ID
	Fleet_Host = s$n
	Fleet_Password_File = $WORK/redis.pw
	Metrics = 127.0.0.1:9560
[ssh]
	sequence     = 7000,8000,9000
	seq_timeout  = 5
	tcpflags     = syn
	Open         = tcp/22
	Open_Timeout = ${OPEN_TIMEOUT:-60}
	Share        = yes
CONF
}
start_daemon() { # N
  local d="$WORK/s$(($1 + 1))"
  ip netns exec "${S[$1]}" "$ROOT/bin/knockd" -i veth0 -c "$d/knockd.conf" -v >>"$d/knockd.out" 2>&1 &
  DPID[$1]=$!
  PIDS+=("${DPID[$1]}")
  wait_until 10 grep -q 'starting up, listening on' "$d/knockd.out" || {
    fail "knockd s$(($1 + 1)) did not start"
    cat "$d/knockd.out"
  }
}
start_service_in() { # N
  ip netns exec "${S[$1]}" node -e "
    const s = require('net').createServer((c) => { c.on('error', () => {}); c.end('SSH-2.0-standin\r\n'); });
    s.listen({ port: 22, host: '0.0.0.0' });
  " &
  PIDS+=($!)
  wait_until 5 in_s "$1" sh -c "ss -ltn | grep -q ':22 '" || fail "service in s$(($1 + 1)) did not start"
}
ctl() { in_s "$1" "$KNOCKCTL" -s "$WORK/s$(($1 + 1))/knockd.sock" "${@:2}"; }
# granted N: the client's address is in server N's nftables grant set.
granted() { in_s "$1" nft list set inet knockd grants4 2>/dev/null | grep -q "$CLIENT \. tcp \. 22"; }
not_granted() { ! granted "$1"; }
reach() { in_cli timeout 3 nc -z -w 1 "${ADDR[$1]}" 22 2>/dev/null; }
expect_reach() {
  if wait_until "${2:-5}" reach "$1"; then log "ok: s$(($1 + 1)) tcp/22 reachable"; else fail "s$(($1 + 1)) tcp/22 should be reachable"; fi
}
expect_no_reach() {
  if reach "$1"; then fail "s$(($1 + 1)) tcp/22 should be closed"; else log "ok: s$(($1 + 1)) tcp/22 closed"; fi
}
knock_on() { in_cli "$ROOT/bin/knock" "${ADDR[$1]}" 7000 8000 9000; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

setup_fleet_net
printf 'knockd-t %s\n' "$PW" >"$WORK/redis.pw"
chmod 600 "$WORK/redis.pw"
start_redis
for i in 0 1 2; do
  write_conf "$i"
  start_service_in "$i"
  start_daemon "$i"
done
for i in 0 1 2; do
  wait_log "$WORK/s$((i + 1))/knockd.log" 'fleet: connected to redis://' 10 || fail "s$((i + 1)) not connected"
done
grep -q "$PW" "$WORK"/s*/knockd.log && fail "the password reached a log"

echo " before any knock: tcp/22 is closed on all three"
for i in 0 1 2; do expect_no_reach "$i"; done

echo " a knock on s1 opens tcp/22 on s1, s2 and s3 (delay to the last one measured, 5 trials)"
DELAYS=()
for trial in 1 2 3 4 5; do
  knock_on 0
  t0=$(now_ms)
  # Bounded: at most 3 s of polling the three grant sets (an nft list costs a few ms).
  deadline=$((t0 + 3000))
  while :; do
    granted 0 && granted 1 && granted 2 && break
    [ "$(now_ms)" -ge "$deadline" ] && break
  done
  t1=$(now_ms)
  if granted 1 && granted 2; then DELAYS+=($((t1 - t0))); else fail "trial $trial: not granted on all three within 3 s"; fi
  if [ "$trial" = 1 ]; then for i in 0 1 2; do expect_reach "$i"; done; fi
  ctl 0 revoke "$CLIENT" >/dev/null
  for i in 0 1 2; do wait_until 5 not_granted "$i" || fail "trial $trial: revoke did not reach s$((i + 1))"; done
done
SORTED=($(printf '%s\n' "${DELAYS[@]}" | sort -n))
log "delay from the last knock packet to the grant on all three, ms: ${DELAYS[*]} (p50 ${SORTED[2]:-?})"
[ "${SORTED[2]:-99999}" -le 100 ] || fail "p50 ${SORTED[2]:-?} ms is over 100 ms"

echo " knockctl: status shows the fleet, grants --fleet lists the group's grants with their origin"
knock_on 0
for i in 0 1 2; do wait_until 3 granted "$i" || fail "not granted on s$((i + 1))"; done
ctl 1 status | grep -q 'fleet: group t'"$RUN_ID"' on redis://10.88.0.1:'"$RPORT"'/0, connected' && log "ok: status shows connected" || {
  fail "status lacks the fleet line"
  ctl 1 status
}
wait_until 8 sh -c "ip netns exec ${S[1]} $KNOCKCTL -s $WORK/s2/knockd.sock status | grep -q 'peers seen: s1, s3'" && log "ok: s2 sees peers s1, s3" || fail "s2 does not see s1 and s3"
ctl 2 grants --fleet | grep -qE "ssh +$CLIENT +s1 " && log "ok: grants --fleet names origin s1" || {
  fail "grants --fleet lacks the grant from s1"
  ctl 2 grants --fleet
}
ctl 2 grants | grep -qE "ssh +$CLIENT .* s1$" && log "ok: s3's local grant names origin s1" || fail "grants lacks the origin"

METRICS="$(in_s 1 curl -s http://127.0.0.1:9560/metrics)"
echo "$METRICS" | grep -q '^knockd_fleet_connected 1' && echo "$METRICS" | grep -q '^knockd_fleet_peers 2' &&
  echo "$METRICS" | grep -qE '^knockd_fleet_changes_total\{outcome="applied"\} [1-9]' &&
  log "ok: s2's metrics show the fleet (connected, 2 peers, applied changes)" || {
  fail "fleet metrics missing"
  echo "$METRICS" | grep fleet
}

echo " a revoke on s2 closes all three"
ctl 1 revoke "$CLIENT" | grep -q 'revoked 1' || fail "revoke on s2 revoked nothing"
for i in 0 1 2; do wait_until 3 not_granted "$i" || fail "still granted on s$((i + 1))"; done
for i in 0 1 2; do expect_no_reach "$i"; done
[ "$(ctl 0 grants --fleet | grep -c "$CLIENT")" = 0 ] && log "ok: gone from Redis too" || fail "still in Redis after revoke"

echo " Redis stopped: a local knock on s2 still opens s2 (only)"
stop_redis
for i in 0 1 2; do
  wait_log "$WORK/s$((i + 1))/knockd.log" 'fleet: Redis at .* unreachable' 10 || fail "s$((i + 1)) did not notice"
done
knock_on 1
expect_reach 1
wait_log "$WORK/s2/knockd.log" "$CLIENT: ssh: open tcp/22" || fail "no open line on s2"
not_granted 0 && not_granted 2 && log "ok: s1 and s3 have no grant while Redis is away" || fail "granted elsewhere without Redis"
ctl 1 status | grep -q 'NOT connected (working locally)' && log "ok: status says not connected" || fail "status does not say not connected"
[ "$(grep -c 'unreachable' "$WORK/s2/knockd.log")" = 1 ] && log "ok: the outage is logged once" || fail "the outage was logged $(grep -c 'unreachable' "$WORK/s2/knockd.log") times"

echo " Redis back: the grant made during the outage reaches s1 and s3"
start_redis
for i in 0 2; do
  if wait_until 12 granted "$i"; then log "ok: s$((i + 1)) got the outage grant"; else fail "s$((i + 1)) lacks the outage grant"; fi
done
expect_reach 0
expect_reach 2

echo " s3 restarted (journal and table wiped) during a live group grant re-applies it from Redis"
kill "${DPID[2]}"
wait "${DPID[2]}" 2>/dev/null
rm -rf "$WORK/s3/state"
in_s 2 nft delete table inet knockd 2>/dev/null
not_granted 2 || fail "s3's table still holds the grant"
start_daemon 2
if wait_until 10 granted 2; then log "ok: s3 re-applied the grant from Redis"; else fail "s3 did not re-apply the grant"; fi
expect_reach 2
grep -q "$CLIENT: ssh: open tcp/22 .*(from fleet host s2)" "$WORK/s3/knockd.log" && log "ok: s3 logs the origin" || fail "s3 log lacks the origin"

echo " a hostile message on the channel opens nothing beyond the shared door's ports"
ip netns exec "$HUB" redis-cli -h "$REDIS" -p "$RPORT" --user knockd-t --pass "$PW" --no-auth-warning PUBLISH "knockd:t$RUN_ID:ch" \
  '{"v":1,"from":"x","host":"evil","ops":[{"op":"open","door":"nope","address":"10.88.0.77","ttlMs":60000},{"op":"open","door":"ssh","address":"10.88.0.077","ttlMs":60000}]}' >/dev/null
ip netns exec "$HUB" redis-cli -h "$REDIS" -p "$RPORT" --user knockd-t --pass "$PW" --no-auth-warning PUBLISH "knockd:t$RUN_ID:ch" \
  '{"v":1,"from":"x","host":"evil","ops":[{"op":"open","door":"ssh","address":"10.88.0.78","ttlMs":60000,"ports":"tcp/1-65535"}]}' >/dev/null
# Sync point: the last message's valid open is logged; the earlier ones were handled before it.
wait_log "$WORK/s1/knockd.log" '10.88.0.78: ssh: open tcp/22 .*from fleet host evil' || fail "no sync point"
in_s 0 nft list set inet knockd grants4 | grep -q '10.88.0.77' && fail "an unknown door opened"
in_s 0 nft list ruleset | grep -q '10.88.0.78 . tcp . 1-65535' && fail "attacker ports applied"
[ "$(in_s 0 nft list set inet knockd grants4 | grep -o '10.88.0.78 \. [a-z]* \. [0-9-]*' | sort -u)" = "10.88.0.78 . tcp . 22" ] &&
  log "ok: only the shared door's tcp/22 for the hostile open" || fail "unexpected grants for 10.88.0.78"

finish
