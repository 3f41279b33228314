#!/usr/bin/env bash
# The knockd tutorial flow with our daemon and our client: closed, knock, open, close sequence, closed.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
tutorial_firewall
start_service 22
tutorial_config "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"

expect_closed "$SRV4"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: OPEN SESAME"
expect_open "$SRV4"
in_cli "$KNOCK" "$SRV4" 9000 8000 7000
expect_log "$WORK/knockd.log" "$CLI4: closeSSH: OPEN SESAME"
wait_log "$WORK/knockd.log" "closeSSH: running command"
wait_rule_gone "$CLI4"
expect_closed "$SRV4"
# knockd's exact log lines
expect_log "$WORK/knockd.log" "^\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}\] $CLI4: openSSH: Stage 1$"
expect_log "$WORK/knockd.log" "^\[[0-9-]+ [0-9:]+\] openSSH: running command: /sbin/iptables -I INPUT -s $CLI4 -p tcp --dport 22 -j ACCEPT$"
finish
