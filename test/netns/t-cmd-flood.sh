#!/usr/bin/env bash
# Security finding 2: a door whose sequence is replayed from spoofed sources
# must not fork without bound. MaxCommands caps the commands a door runs at
# once, a per-(door, source) cooldown stops one source from forking per
# packet, OPEN lines are rate limited with a summary, and a flooded door does
# not starve another door's commands.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[flooded]
	sequence = 7000
	command  = sleep 4
[other]
	sequence = 6000
	command  = echo other %IP% >> $WORK/opens
CONF
start_knockd "$WORK/knockd.conf"

echo " 3,000 complete one-knock sequences from spoofed sources at 1,500 packets/s"
mac="$(in_srv cat /sys/class/net/veth-s/address)"
node "$ROOT/dist/test/helpers/mkflood.js" "$WORK/flood.pcap" "$mac" "$SRV4" 7000 3000
in_cli timeout 10 tcpreplay --pps=1500 -i veth-c "$WORK/flood.pcap" >"$WORK/tcpreplay.out" 2>&1 &
REPLAY=$!
PIDS+=($REPLAY)
wait_log "$WORK/knockd.log" "flooded: OPEN SESAME" 5 || fail "the flood did not reach the daemon"
peak=0
other_sent=0
for i in $(seq 1 40); do
  # Children of this daemon only (each command is /bin/sh -c in its own session).
  n=$(pgrep -c -P "$KNOCKD_PID" || true)
  [ "${n:-0}" -gt "$peak" ] && peak=$n
  if [ "$other_sent" = 0 ] && [ "$i" = 5 ]; then
    in_cli "$KNOCK" "$SRV4" 6000
    other_sent=1
  fi
  if [ "$i" -gt 10 ] && ! kill -0 "$REPLAY" 2>/dev/null; then break; fi
  sleep 0.1
done
wait "$REPLAY"
log "tcpreplay: $(grep -m1 "Rated:" "$WORK/tcpreplay.out" | sed "s/^ *//")"
[ "$peak" -gt 0 ] && [ "$peak" -le 16 ] && log "ok: at most $peak commands at once (MaxCommands 16)" || fail "$peak commands ran at once (cap 16)"
wait_until 5 grep -q "other $CLI4" "$WORK/opens" && log "ok: the other door's command ran during the flood" || fail "the other door was starved"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died in the flood"
opens=$(count_lines "$WORK/knockd.log" 'flooded: OPEN SESAME')
[ "$opens" -lt 500 ] && log "ok: $opens OPEN lines for 3,000 opens" || fail "$opens OPEN lines: not rate limited"
expect_log "$WORK/knockd.log" "flooded: [0-9]+ command\(s\) dropped \(MaxCommands or the per-source cooldown\)" 15
expect_log "$WORK/knockd.log" "flooded: [0-9]+ OPEN lines from (at least )?[0-9]+ sources suppressed" 15

echo " one source repeating a complete sequence forks once per cooldown"
sed -i 's/command  = sleep 4/command  = echo flooded %IP% >> WORKDIR\/repeats/' "$WORK/knockd.conf"
sed -i "s|WORKDIR|$WORK|" "$WORK/knockd.conf"
kill -HUP "$KNOCKD_PID"
expect_log "$WORK/knockd.log" "re-reading config file"
wait_until 10 sh -c "[ \$(pgrep -c -P $KNOCKD_PID || true) = 0 ]" || fail "flood commands still running"
t0=$(date +%s%N)
for i in 1 2 3 4 5 6 7 8 9 10; do in_cli "$KNOCK" "$SRV4" 7000; done
ms=$((($(date +%s%N) - t0) / 1000000))
# One start per second at most: the bound follows how long the ten knocks took.
max=$((ms / 1000 + 1))
wait_log "$WORK/knockd.log" "running command: echo flooded $CLI4" 5
started=$(count_lines "$WORK/knockd.log" "running command: echo flooded $CLI4")
wait_until 3 sh -c "[ \$(grep -c 'flooded $CLI4' '$WORK/repeats' 2>/dev/null || echo 0) -ge $started ]"
n=$(grep -c "flooded $CLI4" "$WORK/repeats" 2>/dev/null || echo 0)
[ "$n" -ge 1 ] && [ "$n" -le "$max" ] && log "ok: 10 sequences in $ms ms from one source ran $n command(s) (at most $max)" || fail "$n commands for 10 sequences in $ms ms from one source (at most $max)"
finish
