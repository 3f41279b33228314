#!/usr/bin/env bash
# The state directory and control socket are not trusted blindly (issue #9):
# (a) a StateDir writable by group, or owned by someone else, stops the start
#     with a non-zero exit that names the directory;
# (b) command text planted in the journal never runs: the stop command is
#     rebuilt from the config (and an entry for an unknown door is dropped);
# (c) a state.json.tmp planted as a symlink is never written through;
# (d) a regular file at the ControlSocket path is kept, not unlinked.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net

conf() {
  cat >"$1" <<CONF
[options]
	LogFile = $WORK/knockd.log
	StateDir = $2
	ControlSocket = ${3:-$WORK/knockd.sock}
[cmd]
	sequence      = 7000,8000
	start_command = echo start %IP% >> $WORK/cmds
	cmd_timeout   = 30
	stop_command  = echo stop %IP% >> $WORK/cmds
CONF
}

# run_refused DIR: knockd must exit by itself (not by timeout), non-zero, naming DIR.
run_refused() {
  local dir="$1" rc
  conf "$WORK/refuse.conf" "$dir"
  in_srv timeout 10 "$ROOT/bin/knockd" -i veth-s -c "$WORK/refuse.conf" >"$WORK/refuse.out" 2>&1
  rc=$?
  if [ "$rc" = 124 ]; then
    fail "knockd started with an untrusted StateDir $dir (killed by timeout)"
  elif [ "$rc" = 0 ]; then
    fail "knockd exited 0 with an untrusted StateDir $dir"
  else
    log "ok: knockd refused to start, exit $rc"
  fi
  grep -qF "$dir" "$WORK/refuse.out" && log "ok: the error names $dir" ||
    fail "error does not name $dir: $(cat "$WORK/refuse.out")"
  ! grep -q 'starting up' "$WORK/refuse.out" || fail "capture started anyway"
}

echo " (a) a group-writable StateDir is refused"
mkdir -m 0770 "$WORK/gw"
chmod 0770 "$WORK/gw"
run_refused "$WORK/gw"

echo " (a) a StateDir owned by nobody is refused"
mkdir -m 0700 "$WORK/nobody"
chown nobody "$WORK/nobody"
run_refused "$WORK/nobody"

echo " (b) command text planted in the journal does not run"
mkdir -m 0700 "$WORK/state"
cat >"$WORK/state/state.json" <<JSON
{"version":1,"grants":[],"stops":[
 {"id":1,"door":"cmd","address":"10.77.0.9","command":"touch $WORK/pwned-$RUN_ID","due":0},
 {"id":2,"door":"gone","address":"10.77.0.8","command":"touch $WORK/pwned2-$RUN_ID","due":0}]}
JSON
chmod 0600 "$WORK/state/state.json"
conf "$WORK/knockd.conf" "$WORK/state"
start_knockd "$WORK/knockd.conf"
# Positive sync point: the overdue stop has run (with the config's command).
wait_until 5 grep -q '^stop 10.77.0.9$' "$WORK/cmds" 2>/dev/null &&
  log "ok: the stop command was rebuilt from the config" ||
  fail "the config's stop command did not run: $(cat "$WORK/cmds" 2>/dev/null)"
expect_log "$WORK/knockd.out" "10.77.0.8: gone: pending stop command dropped"
[ ! -e "$WORK/pwned-$RUN_ID" ] && [ ! -e "$WORK/pwned2-$RUN_ID" ] &&
  log "ok: the journal's command text did not run" || fail "the planted command ran"
wait_until 5 grep -q '"version":2' "$WORK/state/state.json" &&
  ! grep -q 'command' "$WORK/state/state.json" &&
  log "ok: the rewritten journal holds no command text" ||
  fail "journal: $(cat "$WORK/state/state.json")"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null

echo " (c) a state.json.tmp symlink is not followed; (d) a file at ControlSocket is kept"
mkdir -m 0700 "$WORK/state-c"
printf 'precious\n' >"$WORK/victim"
ln -s "$WORK/victim" "$WORK/state-c/state.json.tmp"
printf 'not a socket\n' >"$WORK/ctl-file"
conf "$WORK/c.conf" "$WORK/state-c" "$WORK/ctl-file"
start_knockd "$WORK/c.conf"
expect_log "$WORK/knockd.out" "cannot write the journal: refusing to replace $WORK/state-c/state.json.tmp"
[ "$(cat "$WORK/victim")" = precious ] && log "ok: the symlink's target is untouched" ||
  fail "the symlink's target was written: $(head -c 200 "$WORK/victim")"
[ -L "$WORK/state-c/state.json.tmp" ] && log "ok: the planted link is left for the admin" ||
  fail "the planted link was moved"
expect_log "$WORK/knockd.out" "no control socket: $WORK/ctl-file exists and is not a socket"
[ "$(cat "$WORK/ctl-file" 2>/dev/null)" = 'not a socket' ] && log "ok: the file at ControlSocket is kept" ||
  fail "the file at ControlSocket was removed"
# Still a working daemon: a knock runs the start command.
in_cli "$KNOCK" "$SRV4" 7000 8000
wait_until 5 grep -q "^start $CLI4\$" "$WORK/cmds" && log "ok: knocks still work" ||
  fail "knock did not run the start command"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
finish
