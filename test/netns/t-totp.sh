#!/usr/bin/env bash
# Time-based doors (Sequence_Secret): Debian's unchanged knock 0.8 client
# opens the door with the sequence `knock --totp-show` prints; a replay of a
# sequence that opened stays closed; the previous step's sequence still
# opens; a sequence from two steps ago does not. The kernel filter follows
# the steps (the knocks below only reach the daemon through it).
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
STEP=6
SECRET=$("$KNOCK" --totp-gen)
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[totp]
	Sequence_Secret = $SECRET
	Sequence_Length = 3
	Sequence_Step = $STEP
	Sequence_Ports = 20000-40000
	seq_timeout = 5
	command = echo open %IP% >> $WORK/opens
CONF
add_sync_door "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"
mkdir -p "$WORK/cfg/knock"
printf '%s\n' "$SECRET" >"$WORK/cfg/knock/otp.secret"
chmod 600 "$WORK/cfg/knock/otp.secret"
cat >"$WORK/cfg/knock/hosts" <<CONF
Host srv
    Address $SRV4
    TOTP_Secret_File $WORK/cfg/knock/otp.secret
    Sequence_Length 3
    Port_Range 20000-40000
    TOTP_Step $STEP
CONF
show() { XDG_CONFIG_HOME="$WORK/cfg" "$KNOCK" --totp-show srv; }
# fresh_sequence: the current sequence, with at least 3 s of its step left
fresh_sequence() {
  local out
  out=$(show)
  if [ "$(echo "$out" | sed -n 's/.*(\([0-9]*\) s left).*/\1/p')" -lt 3 ]; then
    sleep 3
    out=$(show)
  fi
  echo "$out" | sed 's/  (.*//'
}
opens() { count_lines "$WORK/knockd.log" "$CLI4: totp: OPEN SESAME"; }
# until_next_step: wait for the step after the one whose sequence was $1
until_next_step() { wait_until $((STEP + 2)) sh -c "[ \"\$(XDG_CONFIG_HOME=$WORK/cfg $KNOCK --totp-show srv | sed 's/  (.*//')\" != '$1' ]"; }

echo " Debian's knock opens the current step's sequence"
seq1=$(fresh_sequence)
log "sequence now: $seq1"
in_cli knock "$SRV4" $seq1
expect_log "$WORK/knockd.log" "$CLI4: totp: OPEN SESAME"
wait_until 5 grep -q "open $CLI4" "$WORK/opens" && log "ok: the command ran" || fail "no command"

echo " a replay of the sequence that opened stays closed"
sleep 1 # past the command cooldown, so only the burned sequence can stop it
in_cli knock "$SRV4" $seq1
sync_point "$WORK/knockd.log"
[ "$(opens)" = 1 ] && log "ok: the replay did not open" || fail "the replay opened"

echo " the previous step's sequence still opens"
seq2=$(fresh_sequence)
[ "$seq2" != "$seq1" ] || { until_next_step "$seq1"; seq2=$(fresh_sequence); }
until_next_step "$seq2" || fail "the step did not change"
in_cli knock "$SRV4" $seq2
wait_until 5 sh -c "[ \$(grep -c '$CLI4: totp: OPEN SESAME' '$WORK/knockd.log') = 2 ]" && log "ok: previous step accepted" || fail "previous step refused"

echo " a sequence from two steps ago stays closed"
seq3=$(fresh_sequence)
until_next_step "$seq3"
seq4=$(show | sed 's/  (.*//')
until_next_step "$seq4"
sleep 1
in_cli knock "$SRV4" $seq3
sync_point "$WORK/knockd.log"
[ "$(opens)" = 2 ] && log "ok: two steps ago refused" || fail "a two-step-old sequence opened"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
