#!/usr/bin/env bash
# Under attack and faults: a spoofed first-knock flood with a legitimate knock
# in the middle still opens; the attempt table stays within MaxAttempts; log
# lines are rate limited with a summary; an unwritable log file does not stop
# an open; a hanging command is killed and logged.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
	MaxAttempts = 1000
	CommandKillTimeout = 2
[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 5
	tcpflags    = syn
	command     = echo open %IP% >> $WORK/opens
[hang]
	sequence    = 6000
	command     = sleep 600
CONF
start_knockd "$WORK/knockd.conf"

echo " 65,536 spoofed first knocks at 20,000 packets/s with a legitimate knock inside"
mac="$(in_srv cat /sys/class/net/veth-s/address)"
node "$ROOT/dist/test/helpers/mkflood.js" "$WORK/flood.pcap" "$mac" "$SRV4" 7000 65536
in_cli timeout 20 tcpreplay --pps=20000 -i veth-c "$WORK/flood.pcap" >"$WORK/tcpreplay.out" 2>&1 &
REPLAY=$!
PIDS+=($REPLAY)
max=0
for i in $(seq 1 10); do
  sleep 0.2
  n=$(ctl --json status | sed -n 's/.*"attemptCount": \([0-9]*\).*/\1/p')
  [ "${n:-0}" -gt "$max" ] && max=$n
done
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
for i in $(seq 1 5); do
  sleep 0.2
  n=$(ctl --json status | sed -n 's/.*"attemptCount": \([0-9]*\).*/\1/p')
  [ "${n:-0}" -gt "$max" ] && max=$n
done
wait "$REPLAY"
if wait_until 5 grep -q "open $CLI4" "$WORK/opens" 2>/dev/null; then log "ok: the legitimate client got in during the flood"; else fail "legitimate knock lost in the flood"; fi
log "tcpreplay: $(grep -m1 "Rated:" "$WORK/tcpreplay.out" | sed "s/^ *//")"
[ "$max" -gt 0 ] && [ "$max" -le 1000 ] && log "ok: attempt table peaked at $max (cap 1000)" || fail "attempt table peaked at $max (cap 1000)"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died in the flood"

echo " per-knock log lines are rate limited, with a summary"
lines=$(count_lines "$WORK/knockd.log" 'openSSH: Stage 1')
[ "$lines" -lt 2000 ] && log "ok: $lines Stage 1 lines logged for 65,537 first knocks" || fail "$lines Stage lines: no rate limit"
expect_log "$WORK/knockd.log" "openSSH: [0-9]+ stage lines from (at least )?[0-9]+ sources suppressed" 15
grep -q "$CLI4: openSSH: OPEN SESAME" "$WORK/knockd.log" && log "ok: OPEN SESAME never suppressed" || fail "OPEN line missing"

echo " a hanging command is killed after CommandKillTimeout and logged"
in_cli "$KNOCK" "$SRV4" 6000
expect_log "$WORK/knockd.log" "hang: command timed out and was killed: sleep 600" 6
# Only processes in this test's namespace are looked at.
left=$(ip netns pids "$SRV" | xargs -r ps -o args= -p 2>/dev/null | grep -cx 'sleep 600' || true)
[ "$left" = 0 ] && log "ok: no sleep 600 left" || fail "the command still runs"

echo " an unwritable log file does not stop an open"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
sed -i "s|LogFile = .*|LogFile = /proc/knockd-cannot-write-here.log|" "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"
grep -q "warning: cannot open logfile" "$WORK/knockd.out" && log "ok: warned about the log file" || fail "no warning"
: >"$WORK/opens"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
wait_until 5 grep -q "open $CLI4" "$WORK/opens" && log "ok: opened without a log file" || fail "no open without a log file"
finish
