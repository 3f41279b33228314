#!/usr/bin/env bash
# One_Time_Sequences to exhaustion: each sequence opens once, its line is
# marked with '#', and a used-up file disables the door with knockd's log
# line (knockd 0.8 crashes with a double free here).
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
printf '# one-time sequences\n 7000,8000,9000\n 7100,8100:udp,9100\n' >"$WORK/otp"
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[otp]
	one_time_sequences = $WORK/otp
	seq_timeout = 5
	command = echo open %IP% >> $WORK/opens
CONF
add_sync_door "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"

in_cli "$KNOCK" "$SRV4" 7000 8000 9000
expect_log "$WORK/knockd.log" "$CLI4: otp: OPEN SESAME"
wait_until 3 grep -q "^#7000,8000,9000" "$WORK/otp" && log "ok: first line marked used" || fail "first line not marked: $(cat "$WORK/otp")"

echo " the used sequence no longer opens"
in_cli "$KNOCK" "$SRV4" 7000 8000 9000
sync_point "$WORK/knockd.log"
[ "$(count_lines "$WORK/knockd.log" 'otp: OPEN SESAME')" = 1 ] && log "ok: replay of a used sequence ignored" || fail "used sequence opened again"

echo " the next sequence opens, then the file is used up"
sleep 1 # past the per-(door, source) command cooldown of the first open
in_cli "$KNOCK" "$SRV4" 7100 8100:udp 9100
wait_until 5 sh -c "[ \$(grep -c 'otp: OPEN SESAME' '$WORK/knockd.log') = 2 ]" && log "ok: second sequence opened" || fail "second sequence did not open"
expect_log "$WORK/knockd.log" "no more sequences left in the one time sequences file for door otp --> disabling the door"
grep -q "^#7100" "$WORK/otp" && log "ok: second line marked used" || fail "second line not marked"

echo " the daemon survives and the disabled door stays shut"
in_cli "$KNOCK" "$SRV4" 7100 8100:udp 9100
sync_point "$WORK/knockd.log"
[ "$(count_lines "$WORK/knockd.log" 'otp: OPEN SESAME')" = 2 ] && log "ok: the disabled door did not open" || fail "the disabled door opened"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
wait_until 5 sh -c "[ \$(wc -l <$WORK/opens) = 2 ]" && log "ok: two commands ran in all" || fail "expected 2 opens, got $(wc -l <"$WORK/opens")"
finish
