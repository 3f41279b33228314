#!/usr/bin/env bash
# Issue #9, finding 14: the long-lived `nft -i` coprocess that applies single
# grants can die. Its death is logged once, a full sync re-applies what it
# had not applied, and the next grant starts a new one. Killed between two
# grants: the second still reaches the kernel. Stopped with a grant unread
# in its pipe, then killed: that grant still reaches the kernel.
# NftApply = process: by default changes are applied in-process (libnftables;
# t-fw-nftlib.sh), and this path is what remains where the addon is missing.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
start_service 22
add_client_addr 10.77.0.3
nft_grant_conf "$WORK/knockd.conf" "NftApply = process"
start_knockd "$WORK/knockd.conf"
# The daemon's own `nft -i` child, by parent pid (never by name alone).
copid() { ps -o pid= -o comm= --ppid "$KNOCKD_PID" | awk '$2 == "nft" { print $1 }'; }

echo " the coprocess is killed between two grants"
wait_until 5 sh -c "[ -n \"\$(ps -o pid= -o comm= --ppid $KNOCKD_PID | awk '\$2 == \"nft\"')\" ]" || fail "no nft coprocess"
ctl grant "$CLI4" openSSH >/dev/null
if wait_until 5 reachable_from "$CLI4" "$SRV4"; then log "ok: first grant open"; else fail "first grant"; fi
co=$(copid)
log "coprocess pid $co"
kill -9 "$co"
expect_log "$WORK/knockd.log" "error: firewall: nft coprocess \(pid $co\) exited \(SIGKILL\).*resynchronising"
ctl grant 10.77.0.3 openSSH >/dev/null
if wait_until 5 reachable_from 10.77.0.3 "$SRV4"; then log "ok: second grant reached the kernel"; else fail "second grant lost"; fi
reachable_from "$CLI4" "$SRV4" && log "ok: first grant still open" || fail "first grant lost"
n=$(grep -c "nft coprocess (pid $co)" "$WORK/knockd.log")
[ "$n" = 1 ] && log "ok: the death is logged once" || fail "the death is logged $n times"

echo " a grant unread in the pipe of a stopped coprocess survives its death"
ctl revoke "$CLI4" >/dev/null
wait_until 3 sh -c "[ \$(ip netns exec $SRV nft list set inet knockd grants4 | grep -c '$CLI4 ') = 0 ]" || fail "revoke did not reach the kernel"
expect_closed "$SRV4"
co=$(copid)
[ -n "$co" ] && log "coprocess pid $co (restarted at the second grant)" || fail "no coprocess after the second grant"
kill -STOP "$co"
# knockctl replies after the daemon has handed the grant to the coprocess.
ctl grant "$CLI4" openSSH | grep -q 'granted tcp/22' && log "ok: granted while the coprocess is stopped" || fail "grant refused"
kill -9 "$co"
expect_log "$WORK/knockd.log" "nft coprocess \(pid $co\) exited"
if wait_until 5 reachable_from "$CLI4" "$SRV4"; then log "ok: the grant reached the kernel after the death"; else fail "grant lost with the coprocess"; fi
reachable_from 10.77.0.3 "$SRV4" && log "ok: the other grant is intact" || fail "other grant lost"
ctl revoke "$CLI4" >/dev/null
ctl revoke 10.77.0.3 >/dev/null
wait_until 3 sh -c "[ \$(ip netns exec $SRV nft list set inet knockd grants4 | grep -c ' 22 timeout') = 0 ]" && log "ok: revokes after the restart reach the kernel" || fail "elements left: $(in_srv nft list set inet knockd grants4)"
expect_closed "$SRV4"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
