#!/usr/bin/env bash
# Knock rules on the wire: a wrong port resets, wrong TCP flags are ignored,
# seq_timeout expires, two clients interleave, a retransmitted SYN counts once.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
tutorial_firewall
start_service 22
CLI4B=10.77.0.3
add_client_addr "$CLI4B"
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 3
	tcpflags    = syn,!ack
	command     = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
[other]
	sequence    = 6000
	command     = true
[retry]
	sequence    = 7100,8100,9100
	seq_timeout = 15
	tcpflags    = syn
	command     = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
CONF
add_sync_door "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"
close_for() { in_srv iptables -D INPUT -s "$1" -p tcp --dport 22 -j ACCEPT 2>/dev/null || true; }

echo " a wrong port (another door's port) resets the attempt"
in_cli "$KNOCK" "$SRV4" 7000 8000 6000 9000
wait_log "$WORK/knockd.log" "$CLI4: other: OPEN SESAME"
sync_point "$WORK/knockd.log"
if grep -q "$CLI4: openSSH: OPEN SESAME" "$WORK/knockd.log"; then fail "opened despite a wrong knock"; else log "ok: no OPEN after a wrong knock"; fi
expect_closed "$SRV4"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: OPEN SESAME"
close_for "$CLI4"

echo " wrong TCP flags are ignored (ACK and SYN+ACK knocks replayed with tcpreplay)"
: >"$WORK/knockd.log"
mkpcap "$WORK/flags.pcap" "$CLI4>$SRV4:7000" "$CLI4>$SRV4:8000/flags=10" "$CLI4>$SRV4:9000/flags=12" "$CLI4>$SRV4:6000/flags=10"
in_cli tcpreplay -q -i veth-c "$WORK/flags.pcap" >/dev/null 2>&1
wait_log "$WORK/knockd.log" "$CLI4: openSSH: Stage 1"
sync_point "$WORK/knockd.log"
if grep -qE "openSSH: (Stage 2|OPEN)" "$WORK/knockd.log"; then fail "wrong-flag packets counted"; else log "ok: ACK knocks neither advanced nor reset"; fi
in_cli "$KNOCK" "$SRV4" 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: OPEN SESAME"
close_for "$CLI4"

echo " seq_timeout expires an attempt (logged promptly, not on the next packet)"
: >"$WORK/knockd.log"
in_cli "$KNOCK" "$SRV4" 7000 8000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: sequence timeout \(stage 2\)" 6
in_cli "$KNOCK" "$SRV4" 9000
sync_point "$WORK/knockd.log"
if grep -q "openSSH: OPEN SESAME" "$WORK/knockd.log"; then fail "opened after seq_timeout"; else log "ok: no OPEN after seq_timeout"; fi

echo " two clients knocking at once, interleaved"
: >"$WORK/knockd.log"
for p in 7000 8000 9000; do
  in_cli "$KNOCK" "$SRV4" "$p"
  in_cli nc -z -w 1 -s "$CLI4B" "$SRV4" "$p" 2>/dev/null
done
expect_log "$WORK/knockd.log" "$CLI4: openSSH: OPEN SESAME"
expect_log "$WORK/knockd.log" "$CLI4B: openSSH: OPEN SESAME"
if wait_until 5 reachable_from "$CLI4B" "$SRV4"; then log "ok: second client reachable"; else fail "second client blocked"; fi
close_for "$CLI4"
close_for "$CLI4B"

echo " retransmitted SYNs (knock ports dropped, nc -z retries) still open"
: >"$WORK/knockd.log"
in_srv iptables -I INPUT -p tcp --dport 7100:9100 -j DROP
# Each nc sends a SYN, gets no answer, and retransmits it after ~1 s.
for p in 7100 8100 9100; do in_cli timeout 1.6 nc -z -w 3 "$SRV4" "$p" 2>/dev/null; done
expect_log "$WORK/knockd.log" "$CLI4: retry: OPEN SESAME"
# Each port was seen at least twice on the wire, so the duplicates were really there.
seen=$(in_srv iptables -L INPUT -v -n -x | awk '/dpts:7100:9100/ {print $1}')
if [ "${seen:-0}" -ge 6 ]; then log "ok: $seen SYNs for 3 knocks reached the server"; else fail "expected retransmissions, saw ${seen:-0} SYNs"; fi
expect_open "$SRV4"
finish
