#!/usr/bin/env bash
# Start_Command, then Stop_Command Cmd_Timeout seconds later, scheduled by the
# daemon itself; non-zero exits are logged; capture is not blocked by a slow
# command; SIGTERM runs pending stop commands (no door left open).
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
tutorial_firewall
start_service 22
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[timed]
	sequence      = 7000,8000,9000
	seq_timeout   = 5
	tcpflags      = syn
	start_command = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	cmd_timeout   = 2
	stop_command  = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
[fails]
	sequence      = 6000
	command       = exit 3
[slow]
	sequence      = 6100
	command       = sleep 30
[long]
	sequence      = 7100,8100
	start_command = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	cmd_timeout   = 600
	stop_command  = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
CONF
start_knockd "$WORK/knockd.conf"

in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: timed: OPEN SESAME"
t0=$(date +%s%N)
expect_open "$SRV4"
expect_log "$WORK/knockd.log" "$CLI4: timed: command timeout" 5
t1=$(date +%s%N)
expect_log "$WORK/knockd.log" "timed: running command: /sbin/iptables -D INPUT -s $CLI4"
wait_rule_gone "$CLI4"
expect_closed "$SRV4"
ms=$(((t1 - t0) / 1000000))
# t0 is a little after the OPEN (log polling), so the delay seen is at most 2 s plus polling.
[ "$ms" -ge 1500 ] && [ "$ms" -le 3000 ] && log "ok: stop command came $ms ms after the OPEN was seen (cmd_timeout 2 s)" || fail "stop command came $ms ms after the OPEN (cmd_timeout 2 s)"

echo " non-zero exit status is logged"
in_cli "$KNOCK" "$SRV4" 6000
expect_log "$WORK/knockd.log" "fails: command returned non-zero status code \(3\)"

echo " a slow command does not block capture"
in_cli "$KNOCK" "$SRV4" 6100
wait_log "$WORK/knockd.log" "slow: running command: sleep 30"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
wait_until 5 sh -c "[ \$(grep -c 'timed: OPEN SESAME' '$WORK/knockd.log') = 2 ]" && log "ok: knocks handled while a command runs" || fail "capture blocked by a command"

echo " SIGTERM runs pending stop commands before exiting"
in_srv iptables -D INPUT -s "$CLI4" -p tcp --dport 22 -j ACCEPT 2>/dev/null || true
in_cli "$KNOCK" "$SRV4" 7100 8100
expect_open "$SRV4"
# The slow door's 'sleep 30' is a child of this test's daemon: end it so SIGTERM need not wait.
in_srv pkill -P "$KNOCKD_PID" || true
kill -TERM "$KNOCKD_PID"
wait_until 10 sh -c "! kill -0 $KNOCKD_PID 2>/dev/null" || fail "daemon did not stop"
expect_log "$WORK/knockd.log" "shutting down"
expect_closed "$SRV4"
finish
