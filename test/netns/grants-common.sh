# Grants end to end, for the backend in $BACKEND (iptables or nftables).
# Sourced by t-grants-iptables.sh and t-grants-nftables.sh.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
if [ "$BACKEND" = iptables ]; then
  # The tutorial's DROP stays; our chain is jumped to before it.
  tutorial_firewall
  fw_rules() { in_srv iptables -w -S KNOCKD 2>/dev/null | grep -c -- '-j ACCEPT'; }
  fw_rules6() { in_srv ip6tables -w -S KNOCKD 2>/dev/null | grep -c -- '-j ACCEPT'; }
  plant_stale() {
    in_srv iptables -w -N KNOCKD
    in_srv iptables -w -A KNOCKD -s "$CLI4/32" -p tcp --dport 22 -j ACCEPT
    in_srv iptables -w -I INPUT 1 -j KNOCKD
  }
else
  # With nftables our table is the guard of port 22: no DROP elsewhere.
  fw_rules() { in_srv nft list set inet knockd grants4 2>/dev/null | grep -o ' \. 22 ' | wc -l; }
  fw_rules6() { in_srv nft list set inet knockd grants6 2>/dev/null | grep -o ' \. 22 ' | wc -l; }
  plant_stale() {
    in_srv nft -f - <<NFT
table inet knockd {
  set grants4 { type ipv4_addr . inet_proto . inet_service; flags timeout; elements = { $CLI4 . tcp . 22 timeout 1h } }
  chain input { type filter hook input priority filter - 1; policy accept; ip saddr . meta l4proto . th dport @grants4 accept; }
}
NFT
  }
fi
write_config() {
  cat >"$WORK/knockd.conf" <<CONF
[options]
	Firewall = $BACKEND
	LogFile = $WORK/knockd.log
	StateDir = $WORK/state
	ControlSocket = $WORK/knockd.sock
[openSSH]
	sequence     = 7000,8000,9000
	seq_timeout  = 5
	tcpflags     = syn
	Open         = tcp/22
	Open_Timeout = ${1:-4}
[closeSSH]
	sequence     = 9000,8000,7000
	seq_timeout  = 5
	tcpflags     = syn
	Close        = tcp/22
[stopper]
	sequence      = 6000
	start_command = echo start %IP% >> $WORK/cmds
	cmd_timeout   = 3
	stop_command  = echo stop %IP% >> $WORK/cmds
CONF
}

echo " a stale rule planted in our chain/table is removed at start"
plant_stale
expect_open "$SRV4" 22 2
write_config 4
start_knockd "$WORK/knockd.conf"
expect_closed "$SRV4"
[ "$(fw_rules)" = 0 ] && log "ok: no rule left" || fail "stale rule kept"

echo " the tutorial flow with Open/Close"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: open tcp/22 until"
expect_open "$SRV4"
in_cli "$KNOCK" "$SRV4" 9000 8000 7000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: close tcp/22 \(closed by knock\)"
wait_until 3 sh -c "! ip netns exec $SRV timeout 3 nc -z -w 1 $SRV4 22" 2>/dev/null
expect_closed "$SRV4"

echo " expiry closes new connections; an established one survives"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_open "$SRV4"
hold_connection "$SRV4" 6 "$WORK/held"
expect_log "$WORK/knockd.log" "$CLI4: openSSH: close tcp/22 \(expired\)" 8
expect_closed "$SRV4"
wait_until 10 test -s "$WORK/held"
[ "$(cat "$WORK/held")" = alive ] && log "ok: established connection survived the expiry" || fail "established connection: $(cat "$WORK/held")"

echo " ten knocks leave one rule"
for i in 1 2 3 4 5 6 7 8 9 10; do in_cli "$KNOCK" "$SRV4" 7000 8000 9000; done
wait_until 5 sh -c "[ \$(grep -c 'openSSH: open tcp/22 until .*(refreshed)' '$WORK/knockd.log') -ge 9 ]" || fail "refreshes not logged"
# A full render or a set element cannot hold a duplicate; wait for the last change to land.
one_rule() { [ "$(fw_rules)" = 1 ]; }
wait_until 3 one_rule && log "ok: one rule after ten knocks" || fail "$(fw_rules) rules after ten knocks"

echo " IPv6 grants"
in_cli "$KNOCK" -6 "$SRV6" 7000 8000 9000
if wait_until 5 in_cli timeout 3 nc -6 -z -w 1 "$SRV6" 22; then log "ok: [$SRV6]:22 reachable"; else fail "v6 grant did not open"; fi
[ "$(fw_rules6)" = 1 ] && log "ok: one IPv6 rule" || fail "$(fw_rules6) IPv6 rules"

echo " knockctl status, grants, revoke, grant"
ctl status >"$WORK/status.txt" && grep -q "openSSH" "$WORK/status.txt" && log "ok: status" || fail "status: $(cat "$WORK/status.txt")"
ctl --json grants >"$WORK/grants.json"
grep -q "\"address\": \"$CLI6\"" "$WORK/grants.json" && log "ok: grants lists the IPv6 grant" || fail "grants: $(cat "$WORK/grants.json")"
# A fresh grant: the one from the ten knocks may have expired (Open_Timeout 4) on a busy machine.
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_open "$SRV4"
ctl revoke "$CLI4" >"$WORK/revoke.out" 2>&1; grep -q "revoked 1" "$WORK/revoke.out" && log "ok: revoke" || fail "revoke: $(cat "$WORK/revoke.out")"
expect_closed "$SRV4"
ctl revoke "$CLI6" openSSH >/dev/null
ctl grant "$CLI4" openSSH | grep -q 'granted tcp/22' && log "ok: grant" || fail "grant"
expect_open "$SRV4"
ctl revoke "$CLI4" >/dev/null
ctl grant not-an-ip openSSH 2>"$WORK/ctl.err" && fail "bad address accepted" || log "ok: bad address refused: $(cat "$WORK/ctl.err")"
printf 'garbage\n{"cmd":"grant","address":"1.2.3.4"}\n' | in_srv timeout 3 nc -U "$WORK/knockd.sock" >"$WORK/bad.out"
[ "$(grep -c '"ok":false' "$WORK/bad.out")" = 2 ] && log "ok: malformed requests get error replies" || fail "bad replies: $(cat "$WORK/bad.out")"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"

echo " kill -9 mid-grant, then restart: the grant ends on time, journal and firewall agree"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
write_config 6
: >"$WORK/knockd.log"
start_knockd "$WORK/knockd.conf"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
in_cli "$KNOCK" "$SRV4" 6000
wait_log "$WORK/knockd.log" "openSSH: open tcp/22 until"
wait_until 3 grep -q "start $CLI4" "$WORK/cmds"
kill -9 "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
t_knock=$(date +%s)
start_knockd "$WORK/knockd.conf"
expect_log "$WORK/knockd.log" "restored 1 live grant\(s\) and 1 pending stop command\(s\)"
expect_open "$SRV4"
echo " a pending Stop_Command survives the restart"
wait_until 5 grep -q "stop $CLI4" "$WORK/cmds" && log "ok: stop command ran after the restart" || fail "stop command lost"
wait_log "$WORK/knockd.log" "close tcp/22 \(expired\)" 8
t_close=$(date +%s)
expect_closed "$SRV4"
d=$((t_close - t_knock))
# The grant was made shortly before the kill: it must close about 6 s after the knock, not early, not late.
[ "$d" -ge 3 ] && [ "$d" -le 8 ] && log "ok: grant of 6 s closed $d s after the kill" || fail "grant of 6 s closed $d s after the kill (expected 3-8)"
grep -q '"grants":\[\]' "$WORK/state/state.json" && log "ok: journal empty" || fail "journal: $(cat "$WORK/state/state.json")"
[ "$(fw_rules)" = 0 ] && log "ok: firewall empty" || fail "firewall still has $(fw_rules) rule(s)"

echo " kill -9 with the daemon never coming back: the grant still stops matching"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_open "$SRV4"
kill -9 "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
t0=$(date +%s%N)
expect_open "$SRV4"
if wait_until 9 sh -c "! ip netns exec $CLI timeout 2 nc -z -w 1 $SRV4 22 2>/dev/null"; then
  ms=$((($(date +%s%N) - t0) / 1000000))
  [ "$ms" -ge 3000 ] && log "ok: closed $ms ms after the kill, grant was 6 s, with no daemon" || fail "closed only $ms ms after the kill: too early for a 6 s grant"
else
  fail "grant outlived its expiry with the daemon dead"
fi
finish
