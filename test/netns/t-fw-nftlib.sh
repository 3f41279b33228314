#!/usr/bin/env bash
# Issue #11: with Firewall = nftables, changes are applied in the daemon's own
# process through libnftables (native/nft), with no nft process at all. A
# change that fails there (the table deleted by hand) is logged and a full
# sync re-applies every grant; the next grant after it goes in-process again.
# Real TCP connects decide.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
add_client_addr 10.77.0.3
nft_grant_conf "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf" -D
grep -q 'firewall: nftables changes are applied in this process (libnftables)' "$WORK/knockd.out" &&
  log "ok: -D says the changes are applied in this process" || fail "no libnftables line: $(cat "$WORK/knockd.out")"
no_nft() { [ -z "$(ps -o pid=,comm= --ppid "$KNOCKD_PID" | awk '$2 == "nft"')" ]; }

echo " a knock opens through libnftables, with no nft process"
expect_closed "$SRV4"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: open tcp/22 until"
if wait_until 5 reachable_from "$CLI4" "$SRV4"; then log "ok: the grant is open"; else fail "grant not open"; fi
no_nft && log "ok: the daemon started no nft process" || fail "an nft child: $(ps -o pid=,comm=,args= --ppid "$KNOCKD_PID")"

echo " the table deleted by hand: the next grant fails in-process, a full sync restores both"
in_srv nft delete table inet knockd
reachable_from "$CLI4" "$SRV4" || fail "without the table nothing is guarded: the port should answer"
ctl grant 10.77.0.3 openSSH >/dev/null
expect_log "$WORK/knockd.log" "error: firewall: libnftables: Error: .*; resynchronising"
wait_until 5 sh -c "ip netns exec $SRV nft list set inet knockd grants4 | grep -q '10.77.0.3 . tcp . 22'" ||
  fail "the sync did not restore the table: $(in_srv nft list table inet knockd 2>&1)"
if wait_until 5 reachable_from 10.77.0.3 "$SRV4"; then log "ok: the grant that failed is open"; else fail "failed grant lost"; fi
reachable_from "$CLI4" "$SRV4" && log "ok: the earlier grant is open again" || fail "earlier grant lost"
in_srv nft list chain inet knockd input | grep -q '@guarded drop' && log "ok: the guard is back" || fail "no guard after the sync"
n=$(grep -c 'error: firewall:' "$WORK/knockd.log")
[ "$n" = 1 ] && log "ok: one error line" || fail "$n error lines"

echo " revokes go in-process too"
ctl revoke "$CLI4" >/dev/null
ctl revoke 10.77.0.3 >/dev/null
wait_until 3 sh -c "[ \$(ip netns exec $SRV nft list set inet knockd grants4 | grep -c ' 22 timeout') = 0 ]" &&
  log "ok: the revokes reached the kernel" || fail "elements left: $(in_srv nft list set inet knockd grants4)"
expect_closed "$SRV4"
no_nft && log "ok: still no nft process" || fail "an nft child appeared"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
