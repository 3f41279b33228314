#!/usr/bin/env bash
# Interop with peers we did not write: Debian's knock client and telnet
# against our daemon, and our knock client against Debian's knockd.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
tutorial_firewall
start_service 22
tutorial_config "$WORK/knockd.conf"

echo " Debian's knock -> our knockd"
start_knockd "$WORK/knockd.conf"
expect_closed "$SRV4"
in_cli /usr/bin/knock "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: OPEN SESAME"
expect_open "$SRV4"
in_cli /usr/bin/knock "$SRV4" 9000 8000 7000
expect_log "$WORK/knockd.log" "$CLI4: closeSSH: OPEN SESAME"
wait_rule_gone "$CLI4"
expect_closed "$SRV4"

echo " telnet -> our knockd"
for p in 7000 8000 9000; do in_cli timeout 3 telnet "$SRV4" "$p" </dev/null >/dev/null 2>&1; done
wait_until 5 sh -c "[ \$(grep -c '$CLI4: openSSH: OPEN SESAME' '$WORK/knockd.log') -ge 2 ]" || fail "telnet knocks did not open"
expect_open "$SRV4"
for p in 9000 8000 7000; do in_cli timeout 3 telnet "$SRV4" "$p" </dev/null >/dev/null 2>&1; done
wait_rule_gone "$CLI4"
expect_closed "$SRV4"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null

echo " our knock -> Debian's knockd 0.8"
sed -i "s|LogFile = .*|LogFile = $WORK/debian-knockd.log|" "$WORK/knockd.conf"
strip_our_options "$WORK/knockd.conf"
in_srv /usr/sbin/knockd -i veth-s -c "$WORK/knockd.conf" -v >"$WORK/debian.out" 2>&1 &
PIDS+=($!)
wait_log "$WORK/debian-knockd.log" "starting up, listening on veth-s" 10 || fail "Debian knockd did not start"
expect_closed "$SRV4"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/debian-knockd.log" "$CLI4: openSSH: OPEN SESAME"
expect_open "$SRV4"
# knockd keeps a closeSSH attempt from the last knock; its rule: wait it out or
# it resets. Give it the seq_timeout before knocking the close sequence.
in_cli "$KNOCK" -d 200 "$SRV4" 9000 8000 7000
wait_log "$WORK/debian-knockd.log" "closeSSH: OPEN SESAME" 3 ||
  { sleep 5.2; in_cli "$KNOCK" "$SRV4" 9000 8000 7000; }
expect_log "$WORK/debian-knockd.log" "$CLI4: closeSSH: OPEN SESAME"
wait_rule_gone "$CLI4"
expect_closed "$SRV4"
finish
