#!/usr/bin/env bash
# Issue #9, finding 8: the nftables guard drops new connections to guarded
# ports only on Guard_Interfaces (by default the capture interface), never on
# loopback: the admin's own `ssh localhost` keeps working while the veth path
# stays closed until a knock.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
local_ok() { in_srv timeout 3 nc -z -w 1 "$@" 22 2>/dev/null; }
write_config() {
  cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
	Firewall = nftables
$1
[openSSH]
	sequence     = 7000,8000,9000
	seq_timeout  = 5
	tcpflags     = syn
	Open         = tcp/22
	Open_Timeout = 30
CONF
}

echo " default guard (the capture interface): loopback open, veth guarded until a knock"
write_config ""
start_knockd "$WORK/knockd.conf"
in_srv nft list chain inet knockd input | grep -q 'iifname "veth-s"' && log "ok: guard names veth-s" || fail "guard: $(in_srv nft list chain inet knockd input)"
expect_closed "$SRV4"
local_ok 127.0.0.1 && log "ok: 127.0.0.1:22 reachable inside the server" || fail "127.0.0.1:22 guarded"
local_ok -6 ::1 && log "ok: [::1]:22 reachable inside the server" || fail "[::1]:22 guarded"
local_ok "$SRV4" && log "ok: the server reaches its own $SRV4:22 (via lo)" || fail "$SRV4:22 guarded from the server itself"
expect_closed "$SRV4"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: open tcp/22 until"
expect_open "$SRV4"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null

echo " Guard_Interfaces names another interface (nft matches names, it need not exist): veth-s is not guarded"
write_config "	Guard_Interfaces = kt-dummy0"
: >"$WORK/knockd.log"
start_knockd "$WORK/knockd.conf"
in_srv nft list chain inet knockd input | grep -q 'iifname "kt-dummy0"' && log "ok: guard names kt-dummy0" || fail "guard: $(in_srv nft list chain inet knockd input)"
expect_open "$SRV4"
write_config "	Guard_Interfaces = veth-s"
our_options "$WORK/knockd.conf"
kill -HUP "$KNOCKD_PID"
expect_log "$WORK/knockd.log" "Guard_Interfaces changes need a restart; keeping the running guard"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null

echo " Guard_Interfaces = lo is refused with file:line"
write_config "	Guard_Interfaces = veth-s, lo"
"$ROOT/bin/knockd" --check -c "$WORK/knockd.conf" 2>"$WORK/check.err" && fail "--check accepted lo" ||
  { grep -q "knockd.conf:4: Guard_Interfaces: loopback is never guarded" "$WORK/check.err" && log "ok: $(head -1 "$WORK/check.err")"; } || fail "check: $(cat "$WORK/check.err")"
finish
