#!/usr/bin/env bash
# Issue #11: with Firewall = nftables, changes are applied in the daemon's own
# process (native/nft), with no nft process at all: grant changes as netlink
# messages we encode (src/core/grants/netlink.ts), the table through
# libnftables. The kernel must read our messages as nft's: IPv4 and IPv6
# grants open, a refresh really resets the element's timeout. A
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
grep -q 'firewall: nftables changes are applied in this process (grant changes as netlink messages' "$WORK/knockd.out" &&
  log "ok: -D says the changes are applied in this process" || fail "no libnftables line: $(cat "$WORK/knockd.out")"
no_nft() { [ -z "$(ps -o pid=,comm= --ppid "$KNOCKD_PID" | awk '$2 == "nft"')" ]; }

echo " a knock opens through netlink messages, with no nft process"
expect_closed "$SRV4"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: openSSH: open tcp/22 until"
if wait_until 5 reachable_from "$CLI4" "$SRV4"; then log "ok: the grant is open"; else fail "grant not open"; fi
no_nft && log "ok: the daemon started no nft process" || fail "an nft child: $(ps -o pid=,comm=,args= --ppid "$KNOCKD_PID")"

echo " IPv6 through the same messages; a second knock refreshes the element's timeout"
in_cli "$KNOCK" -6 "$SRV6" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI6: openSSH: open tcp/22 until"
if wait_until 5 reachable "$SRV6"; then log "ok: the IPv6 grant is open"; else fail "IPv6 grant not open"; fi
# The door's 60 s, less the few ms between the grant and its message when the machine is busy.
in_srv nft list set inet knockd grants6 | grep -Eq "$CLI6 . tcp . 22 timeout (1m|59s[0-9]+ms) expires" &&
  log "ok: the kernel holds the IPv6 element with the door's timeout" || fail "$(in_srv nft list set inet knockd grants6)"
# expires counts down from 1m; after a refresh it starts again near 1m.
left() { in_srv nft list set inet knockd grants4 | sed -n "s/.*$CLI4 . tcp . 22 timeout [0-9ms]* expires \([0-9]*\)s.*/\1/p"; }
wait_until 10 sh -c "[ \"\$(ip netns exec $SRV nft list set inet knockd grants4 | sed -n 's/.*$CLI4 . tcp . 22 timeout [0-9ms]* expires \([0-9]*\)s.*/\1/p')\" -le 57 ] 2>/dev/null" ||
  fail "element did not count down: $(in_srv nft list set inet knockd grants4)"
before=$(left)
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
wait_until 5 sh -c "[ \"\$(grep -c '$CLI4: openSSH: open tcp/22 until' $WORK/knockd.log)\" -ge 2 ]" || fail "no second open line"
after=$(left)
[ -n "$after" ] && [ "$after" -gt "$before" ] && log "ok: the refresh reset the timeout (${before}s left, then ${after}s)" ||
  fail "not refreshed: ${before}s then ${after:-?}s: $(in_srv nft list set inet knockd grants4)"

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
grep -q 'netlink batch failed' "$WORK/knockd.out" && fail "the kernel refused our messages: $(grep 'netlink batch' "$WORK/knockd.out")"
log "ok: every change went as netlink messages (no fallback to text)"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
