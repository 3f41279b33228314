#!/usr/bin/env bash
# Lifecycle: SIGHUP with a good config (new sequence live, old one gone) and
# with a bad one (errors logged, running config kept); -d with a pid file;
# log file lines; bad configs exit non-zero with file:line messages.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[door]
	sequence = 7000,8000
	command = echo door %IP% >> $WORK/opens
CONF
start_knockd "$WORK/knockd.conf"
in_cli "$KNOCK" "$SRV4" 7000 8000
expect_log "$WORK/knockd.log" "$CLI4: door: OPEN SESAME"

echo " SIGHUP with a good config"
sed -i 's/sequence = 7000,8000/sequence = 7100,8100/' "$WORK/knockd.conf"
kill -HUP "$KNOCKD_PID"
expect_log "$WORK/knockd.log" "re-reading config file: $WORK/knockd.conf"
: >"$WORK/opens"
sleep 1.1 # past the per-(door, source) command cooldown of the first open
in_cli "$KNOCK" "$SRV4" 7000 8000
in_cli "$KNOCK" "$SRV4" 7100 8100
wait_until 5 grep -q "door $CLI4" "$WORK/opens" || fail "new sequence did not open"
# The old sequence was knocked first: had it opened, its OPEN line would precede this one.
[ "$(sed -n '/re-reading config file/,$p' "$WORK/knockd.log" | grep -c 'door: OPEN SESAME')" = 1 ] && log "ok: only the new sequence opened" || fail "old sequence still opens"

echo " SIGHUP with a bad config keeps the running one (knockd exits)"
printf '[door]\nsequence = 0,abc\n' >"$WORK/knockd.conf"
our_options "$WORK/knockd.conf"
kill -HUP "$KNOCKD_PID"
expect_log "$WORK/knockd.log" "config reload failed with 1 error"
grep -qE "$WORK/knockd.conf:[0-9]+: door 'door': port 0 out of range" "$WORK/knockd.out" && log "ok: error has file:line" || fail "no file:line error on stderr"
kill -0 "$KNOCKD_PID" && log "ok: still running" || fail "daemon exited on a bad reload"
: >"$WORK/opens"
sleep 1.1 # past the command cooldown
in_cli "$KNOCK" "$SRV4" 7100 8100
wait_until 5 grep -q "door $CLI4" "$WORK/opens" && log "ok: previous config still works" || fail "previous config lost"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null

echo " log file lines match knockd's format"
for re in '^\[[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}\] starting up, listening on veth-s$' \
  "^\[[^]]+\] $CLI4: door: Stage 1$" "^\[[^]]+\] $CLI4: door: Stage 2$" "^\[[^]]+\] $CLI4: door: OPEN SESAME$" \
  "^\[[^]]+\] door: running command: echo door $CLI4 >> $WORK/opens$" '^\[[^]]+\] shutting down$'; do
  grep -qE "$re" "$WORK/knockd.log" && log "ok: /$re/" || fail "no line /$re/"
done
grep -q '^$' "$WORK/knockd.log" && fail "blank lines in the log (knockd's bug)" || log "ok: no blank lines"

echo " -d daemonises and writes the pid file"
printf '[options]\n\tLogFile = %s\n[door]\n\tsequence = 7000,8000\n\tcommand = echo d %%IP%% >> %s\n' "$WORK/d.log" "$WORK/opens" >"$WORK/d.conf"
our_options "$WORK/d.conf"
: >"$WORK/opens"
in_srv "$ROOT/bin/knockd" -d -i veth-s -c "$WORK/d.conf" -p "$WORK/knockd.pid"
rc=$?
[ "$rc" = 0 ] && log "ok: -d returned 0" || fail "-d returned $rc"
[ -s "$WORK/knockd.pid" ] && pid=$(cat "$WORK/knockd.pid") || { fail "no pid file"; pid=0; }
kill -0 "$pid" 2>/dev/null && log "ok: pid $pid is running" || fail "pid file names no process"
[ "$(ps -o sid= -p "$pid" | tr -d ' ')" = "$pid" ] && log "ok: session leader" || fail "not detached"
in_cli "$KNOCK" "$SRV4" 7000 8000
wait_until 5 grep -q "d $CLI4" "$WORK/opens" && log "ok: daemonised knockd opens" || fail "daemonised knockd did not open"
kill "$pid"
wait_until 5 sh -c "[ ! -e '$WORK/knockd.pid' ]" && log "ok: pid file removed at exit" || fail "pid file left behind"

echo " a bad config exits non-zero with every error"
printf '[a]\nsequence = 1,0\ntcpflags = syn,sny\n[b]\n' >"$WORK/bad.conf"
"$ROOT/bin/knockd" -c "$WORK/bad.conf" -i veth-s 2>"$WORK/bad.err"
rc=$?
[ "$rc" != 0 ] && log "ok: exit $rc" || fail "bad config exited 0"
[ "$(wc -l <"$WORK/bad.err")" = 3 ] && grep -q "$WORK/bad.conf:3: door 'a': unrecognized tcp flag 'sny'" "$WORK/bad.err" &&
  log "ok: 3 errors as file:line" || { fail "errors not reported"; cat "$WORK/bad.err"; }
"$ROOT/bin/knockd" --check -c "$WORK/d.conf" >/dev/null && log "ok: --check accepts a good config" || fail "--check rejected a good config"
finish
