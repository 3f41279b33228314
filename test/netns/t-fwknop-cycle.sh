#!/usr/bin/env bash
# fwknopd's command cycle with the stock fwknop client: CMD_CYCLE_OPEN adds
# the allow IP to an nft set in the server namespace, CMD_CYCLE_CLOSE removes
# it CMD_CYCLE_TIMER seconds later (argv, no shell). Then kill -9 the daemon
# while a close is pending: the restarted daemon runs it at its time, from
# the journal (stanza id + validated values; the command comes from
# access.conf).
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
spa_keys
in_srv nft -f - <<'NFT'
table inet fwk {
  set allowed { type ipv4_addr; }
}
NFT
TIMER=3
cat >"$WORK/access.conf" <<CONF
# a fwknop user's stanza, as written for fwknopd
SOURCE: 10.77.0.0/24;
    KEY_BASE64          $K
    HMAC_KEY_BASE64     $H
    OPEN_PORTS          tcp/22
    CMD_CYCLE_OPEN      /usr/sbin/nft add element inet fwk allowed { \$IP }
    CMD_CYCLE_CLOSE     /usr/sbin/nft delete element inet fwk allowed { \$SRC }
    CMD_CYCLE_TIMER     $TIMER
CONF
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
	SPA_Access = $WORK/access.conf
	Firewall = nftables
[guard]
	sequence = 7000
	command = /bin/true
CONF
"$ROOT/bin/knockd" --check -c "$WORK/knockd.conf" >"$WORK/check.out" 2>&1 && log "ok: the fwknop stanza passes --check" || fail "--check: $(cat "$WORK/check.out")"
start_knockd "$WORK/knockd.conf"
send_spa() { in_cli fwknop --no-rc-file --no-save-args -A tcp/22 -a "$CLI4" -D "$SRV4" --key-base64-rijndael "$K" --key-base64-hmac "$H" "$@" >/dev/null 2>&1; }
in_set() { in_srv nft list set inet fwk allowed | grep -q "$CLI4"; }
now_ms() { date +%s%3N; }

echo " CMD_CYCLE_OPEN adds the element, CMD_CYCLE_CLOSE removes it after CMD_CYCLE_TIMER"
in_set && fail "element present before any packet"
send_spa
t0=$(now_ms)
wait_until 5 in_set && log "ok: $CLI4 is in the nft set" || fail "CMD_CYCLE_OPEN did not add $CLI4"
t1=$(now_ms)
expect_log "$WORK/knockd.log" "running command: CMD_CYCLE_OPEN \[\"/usr/sbin/nft\",\"add\",\"element\",\"inet\",\"fwk\",\"allowed\",\"\{\",\"$CLI4\",\"\}\"\]"
wait_until $((TIMER + 5)) sh -c "! ip netns exec $SRV nft list set inet fwk allowed | grep -q $CLI4" && log "ok: CMD_CYCLE_CLOSE removed $CLI4" || fail "element still present"
t2=$(now_ms)
held=$((t2 - t1))
log "element held for ${held} ms (CMD_CYCLE_TIMER $TIMER s; open ran $((t1 - t0)) ms after the send)"
[ "$held" -ge $((TIMER * 1000 - 1000)) ] && [ "$held" -le $((TIMER * 1000 + 2500)) ] && log "ok: closed at its time" || fail "closed after $held ms"
expect_log "$WORK/knockd.log" "CMD_CYCLE_CLOSE \[\"/usr/sbin/nft\",\"delete\",\"element\",\"inet\",\"fwk\",\"allowed\",\"\{\",\"$CLI4\",\"\}\"\]"

echo " a port outside OPEN_PORTS runs no cycle (fwknopd would run it: a deliberate difference)"
in_cli fwknop --no-rc-file --no-save-args -A tcp/23 -a "$CLI4" -D "$SRV4" --key-base64-rijndael "$K" --key-base64-hmac "$H" >/dev/null 2>&1
expect_log "$WORK/knockd.log" "rejected \(tcp/23 is not in OPEN_PORTS\)"
in_set && fail "a cycle ran for tcp/23"

echo " kill -9 while the close is pending: the restarted daemon still closes at its time"
TIMER=8
sed -i "s/CMD_CYCLE_TIMER .*/CMD_CYCLE_TIMER     $TIMER/" "$WORK/access.conf"
kill -HUP "$KNOCKD_PID"
wait_log "$WORK/knockd.log" "re-reading config file" || fail "no reload"
send_spa
wait_until 5 in_set && log "ok: open ran again" || fail "no open"
t1=$(now_ms)
# The close is journaled before the open runs, so the element's presence means it is on disk.
grep -q '"cycle"' "$WORK/state/state.json" && log "ok: the pending close is in the journal" || fail "journal lacks the close: $(cat "$WORK/state/state.json")"
grep -q 'nft' "$WORK/state/state.json" && fail "command text in the journal"
kill -9 "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
in_set && log "ok: the element outlived the daemon (nobody closed it)" || fail "element gone with the daemon"
: >"$WORK/knockd.log"
start_knockd "$WORK/knockd.conf"
expect_log "$WORK/knockd.log" "restored 0 live grant\(s\) and 1 pending stop command\(s\)"
in_set && log "ok: not closed early by the restart" || fail "closed at once on restart"
wait_until $((TIMER + 5)) sh -c "! ip netns exec $SRV nft list set inet fwk allowed | grep -q $CLI4" && log "ok: the restarted daemon ran the close" || fail "the close was forgotten"
t2=$(now_ms)
held=$((t2 - t1))
log "element held for ${held} ms across the kill -9 (CMD_CYCLE_TIMER $TIMER s)"
[ "$held" -ge $((TIMER * 1000 - 1000)) ] && [ "$held" -le $((TIMER * 1000 + 2500)) ] && log "ok: closed at its time" || fail "closed after $held ms"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
