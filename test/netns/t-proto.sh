#!/usr/bin/env bash
# UDP knocks and IPv6 knocks (with Command_6 and ip6tables).
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
tutorial_firewall
start_service 22
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[udpSSH]
	sequence      = 7001:udp,8001:udp,9001:udp
	seq_timeout   = 5
	start_command = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	start_command_6 = /sbin/ip6tables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
[mixed]
	sequence      = 7002:udp,8002,9002:udp
	seq_timeout   = 5
	tcpflags      = syn
	start_command = echo mixed %IP% >> $WORK/mixed.out
[vlan]
	sequence      = 7003,8003
	target        = 10.78.0.1
	start_command = echo vlan %IP% >> $WORK/vlan.out
[v6SSH]
	sequence      = 7000,8000,9000
	seq_timeout   = 5
	tcpflags      = syn
	start_command = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	start_command_6 = /sbin/ip6tables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
CONF
start_knockd "$WORK/knockd.conf"

echo " UDP knocks (knock -u)"
expect_closed "$SRV4"
in_cli "$KNOCK" -u "$SRV4" 7001 8001 9001
expect_log "$WORK/knockd.log" "$CLI4: udpSSH: OPEN SESAME"
expect_open "$SRV4"

echo " mixed UDP/TCP sequence with per-port protocols"
in_cli "$KNOCK" "$SRV4" 7002:udp 8002 9002:udp
expect_log "$WORK/knockd.log" "$CLI4: mixed: OPEN SESAME"
wait_until 3 grep -q "mixed $CLI4" "$WORK/mixed.out" || fail "mixed command did not run"

echo " IPv6 knocks run Command_6 with the compressed address"
if in_cli timeout 3 nc -6 -z -w 1 "$SRV6" 22; then fail "v6 port 22 should be closed"; else log "ok: [$SRV6]:22 closed"; fi
in_cli "$KNOCK" -6 "$SRV6" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI6: v6SSH: OPEN SESAME"
expect_log "$WORK/knockd.log" "v6SSH: running command: /sbin/ip6tables -I INPUT -s $CLI6 -p tcp"
if wait_until 5 in_cli timeout 3 nc -6 -z -w 1 "$SRV6" 22; then log "ok: [$SRV6]:22 reachable"; else fail "v6 port 22 should be reachable"; fi

echo " UDP over IPv6"
in_cli "$KNOCK" -6 -u "$SRV6" 7001 8001 9001
expect_log "$WORK/knockd.log" "$CLI6: udpSSH: OPEN SESAME"

echo " 802.1Q-tagged knocks, replayed with tcpreplay (knockd drops tagged frames)"
mkpcap "$WORK/vlan.pcap" "10.78.0.2>10.78.0.1:7003/vlan=5" "10.78.0.2>10.78.0.1:8003/vlan=5"
in_cli tcpreplay -q -i veth-c "$WORK/vlan.pcap" >/dev/null 2>&1
expect_log "$WORK/knockd.log" "10.78.0.2: vlan: OPEN SESAME"
wait_until 3 grep -q "vlan 10.78.0.2" "$WORK/vlan.out" || fail "vlan command did not run"

echo " -i any (Linux cooked capture)"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
in_srv iptables -F INPUT
tutorial_firewall
: >"$WORK/knockd.log"
ip netns exec "$SRV" "$ROOT/bin/knockd" -i any -c "$WORK/knockd.conf" -v >"$WORK/any.out" 2>&1 &
PIDS+=($!)
wait_log "$WORK/knockd.log" "starting up, listening on any" 10 || fail "knockd -i any did not start"
expect_closed "$SRV4"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: v6SSH: OPEN SESAME"
expect_open "$SRV4"
in_cli "$KNOCK" -6 "$SRV6" 7001:udp 8001:udp 9001:udp
expect_log "$WORK/knockd.log" "$CLI6: udpSSH: OPEN SESAME"
finish
