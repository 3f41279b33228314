#!/usr/bin/env bash
# Shared attempts (issue #14) end to end: knocks 1, 2, 3 of one sequence sent
# to three different servers open all three; a wrong knock on another server
# ends the shared attempt; a spoofed first-knock flood on one server stays
# within the Redis write budget while a sequence spread over the group still
# opens. Topology and helpers: fleet-common.sh.
. "$(dirname "$0")/fleet-common.sh"

rcli() { ip netns exec "$HUB" redis-cli -h "$REDIS" -p "$RPORT" --user admin-t --pass "$PW" --no-auth-warning "$@"; }
AKEY="knockd:t$RUN_ID:a:$CLIENT/ssh"
stage_is() { [ "$(rcli GET "$AKEY")" = "$1" ]; }
knock_one() { in_cli "$ROOT/bin/knock" "${ADDR[$1]}" "$2"; } # SERVER PORT
# A counter of server N's shared attempts (sent, shed, failed, opened) from knockctl's JSON.
attempts_of() { ctl "$1" --json status | tr -d ' \n' | sed -n "s/.*\"attempts\":{[^}]*\"$2\":\([0-9]*\).*/\1/p"; }
commands() { rcli INFO stats | tr -d '\r' | sed -n 's/^total_commands_processed://p'; }
none_granted() { not_granted 0 && not_granted 1 && not_granted 2; }
all_granted() { granted 0 && granted 1 && granted 2; }
revoke_all() {
  ctl 0 revoke "$CLIENT" >/dev/null
  for i in 0 1 2; do wait_until 5 not_granted "$i" || fail "revoke did not reach s$((i + 1))"; done
}

# A door that opens two ports and a shared Close of one of them (partial Close stored in Redis).
EXTRA_DOORS='[web]
	sequence = 7100,8100
	tcpflags = syn
	Open     = tcp/22,tcp/80
	Share    = yes
[shut80]
	sequence = 9100
	tcpflags = syn
	Close    = tcp/80
	Share    = yes'
has_port() { in_s "$1" nft list set inet knockd grants4 2>/dev/null | grep -q "$CLIENT \. tcp \. $2"; } # SERVER PORT

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

echo " knocks 1 and 2 on s1 and s2: the group's attempt is at stage 2, nothing is open yet"
knock_one 0 7000
wait_until 3 stage_is 1 || fail "knock 1 on s1 did not reach Redis"
knock_one 1 8000
wait_until 3 stage_is 2 && log "ok: Redis holds stage 2 for $CLIENT" || fail "knock 2 on s2 did not advance the attempt"
ttl=$(rcli PTTL "$AKEY")
[ "$ttl" -gt 0 ] && [ "$ttl" -le 5000 ] && log "ok: the attempt's TTL is within seq_timeout ($ttl ms)" || fail "attempt TTL $ttl"
none_granted && log "ok: nothing open after two of three knocks" || fail "opened before the last knock"
for i in 0 1 2; do expect_no_reach "$i"; done

echo " knock 3 on s3 opens tcp/22 on s1, s2 and s3"
knock_one 2 9000
wait_until 3 all_granted || fail "not granted on all three"
for i in 0 1 2; do expect_reach "$i"; done
grep -q "$CLIENT: ssh: sequence completed across the fleet" "$WORK/s3/knockd.log" && log "ok: s3 logs the completion" || fail "s3 lacks the completion line"
grep -q "$CLIENT: ssh: OPEN SESAME" "$WORK/s3/knockd.log" && log "ok: s3 (the last knock) opened it" || fail "no OPEN on s3"
[ -z "$(rcli EXISTS "$AKEY" | grep -v '^0$')" ] && log "ok: the complete attempt left Redis" || fail "attempt still in Redis"
revoke_all

echo " delay from knock 3 (on another server) to the grant on all three, 5 trials"
DELAYS=()
for trial in 1 2 3 4 5; do
  knock_one 0 7000
  wait_until 3 stage_is 1 || fail "trial $trial: knock 1"
  knock_one 1 8000
  wait_until 3 stage_is 2 || fail "trial $trial: knock 2"
  knock_one 2 9000
  t0=$(now_ms)
  deadline=$((t0 + 3000))
  while ! all_granted && [ "$(now_ms)" -lt "$deadline" ]; do :; done
  t1=$(now_ms)
  if all_granted; then DELAYS+=($((t1 - t0))); else fail "trial $trial: not granted on all three within 3 s"; fi
  revoke_all
done
SORTED=($(printf '%s\n' "${DELAYS[@]}" | sort -n))
log "cross-server delay, last knock sent to the grant on all three, ms: ${DELAYS[*]} (p50 ${SORTED[2]:-?})"
# Generous: the 2 cores are shared with other work.
[ "${SORTED[2]:-99999}" -le 250 ] || fail "p50 ${SORTED[2]:-?} ms is over 250 ms"

echo " a wrong knock on another server ends the shared attempt"
knock_one 0 7000
wait_until 3 stage_is 1 || fail "knock 1"
knock_one 1 9000
wait_until 3 stage_is '' && log "ok: knock 9000 on s2 reset the attempt" || fail "the wrong knock did not reset"
sent=$(attempts_of 2 sent)
knock_one 2 8000
knock_one 2 9000
# Sync point: s3 sent both steps and had the answers.
wait_until 3 sh -c "[ \"\$(ip netns exec ${S[2]} $KNOCKCTL -s $WORK/s3/knockd.sock --json status | tr -d ' \n' | sed -n 's/.*\"attempts\":{[^}]*\"sent\":\([0-9]*\).*/\1/p')\" -ge $((sent + 2)) ]" || fail "s3 did not send its steps"
none_granted && log "ok: knocks 2 and 3 after the reset open nothing" || fail "opened after a reset"

echo " a shared Close of tcp/80 is stored in Redis: s3, started after it, opens tcp/22 only"
kill "${DPID[2]}"
wait "${DPID[2]}" 2>/dev/null
rm -rf "$WORK/s3/state"
in_s 2 nft delete table inet knockd 2>/dev/null
in_cli "$ROOT/bin/knock" "${ADDR[0]}" 7100 8100
wait_until 3 has_port 1 80 || fail "web did not open tcp/80 on s2"
knock_one 0 9100
wait_until 3 sh -c "! ip netns exec ${S[1]} nft list set inet knockd grants4 | grep -q '$CLIENT . tcp . 80'" || fail "the Close did not reach s2"
has_port 0 22 && has_port 1 22 && ! has_port 0 80 && log "ok: s1 and s2 keep tcp/22, tcp/80 closed" || fail "s1/s2 after the Close"
rcli --raw GET "knockd:t$RUN_ID:g:$CLIENT/web" | grep -qE '"closed":"tcp\\?/80"' && log "ok: the stored grant lists tcp/80 as closed" || fail "the Close is not stored"
start_daemon 2
wait_until 10 has_port 2 22 && log "ok: s3 read the grant from Redis (tcp/22)" || fail "s3 did not read the grant"
has_port 2 80 && fail "s3 opened tcp/80 that the Close took" || log "ok: s3 did not open tcp/80"
revoke_all

echo " a spoofed first-knock flood on s1 (tcpreplay at top speed) with a spread sequence inside"
N=${FLOOD_COUNT:-200000}
mac="$(in_s 0 cat /sys/class/net/veth0/address)"
node "$ROOT/dist/test/helpers/mkflood.js" "$WORK/raw.pcap" "$mac" "${ADDR[0]}" 7000 "$N"
# The hub is a bridge: with br_netfilter loaded it drops IPv4 headers without a checksum.
tcprewrite --fixcsum -i "$WORK/raw.pcap" -o "$WORK/flood.pcap"
c0=$(commands)
f0=$(now_ms)
in_cli timeout 60 nice tcpreplay --topspeed -i veth0 "$WORK/flood.pcap" >"$WORK/tcpreplay.out" 2>&1 &
REPLAY=$!
PIDS+=($REPLAY)
# Inside the flood: s1 is shedding first knocks.
wait_until 10 sh -c "[ \"\$(ip netns exec ${S[0]} $KNOCKCTL -s $WORK/s1/knockd.sock --json status | tr -d ' \n' | sed -n 's/.*\"attempts\":{[^}]*\"shed\":\([0-9]*\).*/\1/p')\" -gt 0 ]" || fail "s1 never shed a step"
inside=0
kill -0 "$REPLAY" 2>/dev/null && inside=1
knock_one 0 7000
knock_one 1 8000
knock_one 2 9000
wait "$REPLAY"
f1=$(now_ms)
# The steps still queued on s1 are written within a moment; then count.
wait_until 5 sh -c "ip netns exec ${S[0]} $KNOCKCTL -s $WORK/s1/knockd.sock --json status | tr -d ' \n' | grep -q '\"queued\":0}'" || true
c1=$(commands)
f2=$(now_ms)
ctl 0 status | grep -qE 'shared attempts: [0-9]+ steps sent, [1-9][0-9]* shed' && log "ok: knockctl status shows the shed steps" || fail "knockctl status lacks the shared attempts line"
log "tcpreplay: $(grep -m1 'Rated:' "$WORK/tcpreplay.out" | sed 's/^ *//')"
[ "$inside" = 1 ] && log "ok: the spread sequence started while the flood ran" || log "note: the flood ended before the spread sequence started"
if wait_until 5 all_granted; then log "ok: the spread sequence opened all three during the flood"; else fail "the spread sequence was lost in the flood"; fi
ms=$((f2 - f0))
cmds=$((c1 - c0))
sent=$(attempts_of 0 sent)
shed=$(attempts_of 0 shed)
log "Redis: $cmds commands in $ms ms = $((cmds * 1000 / ms)) commands/s; s1 sent $sent steps, shed $shed"
# The budget: 2000 steps/s plus a burst of 2000, each step at most 3 commands
# (EVALSHA, GET, SET or DEL); plus heartbeats, grants and the counts themselves.
bound=$((3 * (2000 * ms / 1000 + 2000) + 100 * ms / 1000 + 200))
[ "$cmds" -le "$bound" ] && log "ok: within the budget bound ($bound commands for $ms ms)" || fail "$cmds Redis commands in $ms ms: over the bound $bound"
[ "${shed:-0}" -gt 0 ] && log "ok: s1 shed steps locally" || fail "s1 shed nothing"
in_s 0 curl -s http://127.0.0.1:9560/metrics | grep -qE '^knockd_fleet_attempts_total\{outcome="shed"\} [1-9]' &&
  log "ok: s1's metrics count the shed steps" || fail "knockd_fleet_attempts_total lacks the shed steps"
kill -0 "${DPID[0]}" && log "ok: s1 alive" || fail "s1 died in the flood"

finish
