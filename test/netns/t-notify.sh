#!/usr/bin/env bash
# sd_notify: under NOTIFY_SOCKET the daemon sends READY=1 (with STATUS=)
# once capture runs, RELOADING=1 then READY=1 around a SIGHUP, WATCHDOG=1
# when WATCHDOG_USEC asks for it, and STOPPING=1 at exit. Its commands do
# not inherit NOTIFY_SOCKET.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
/usr/bin/python3 - "$WORK/notify.sock" "$WORK/notify.log" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(60)
with open(sys.argv[2], "a", buffering=1) as out:
    try:
        while True:
            msg = s.recv(4096).decode()
            out.write(msg.replace("\n", " | ") + "\n")
            if msg.startswith("STOPPING=1"):
                break
    except socket.timeout:
        pass
PY
PIDS+=($!)
wait_until 5 test -S "$WORK/notify.sock" || fail "no notify socket"
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[door]
	sequence = 7000
	command = sh -c 'echo "notify=\${NOTIFY_SOCKET:-none}" > $WORK/env'
CONF
our_options "$WORK/knockd.conf"
ip netns exec "$SRV" env NOTIFY_SOCKET="$WORK/notify.sock" WATCHDOG_USEC=400000 \
  "$ROOT/bin/knockd" -i veth-s -c "$WORK/knockd.conf" >"$WORK/knockd.out" 2>&1 &
KNOCKD_PID=$!
PIDS+=($KNOCKD_PID)
expect_log "$WORK/notify.log" "^READY=1 \| STATUS=listening on veth-s: 1 door" 10
grep -q 'starting up' "$WORK/knockd.log" && log "ok: READY=1 came after start-up" || fail "READY before start-up"
expect_log "$WORK/notify.log" "^WATCHDOG=1$" 3
kill -HUP "$KNOCKD_PID"
expect_log "$WORK/notify.log" "^RELOADING=1$"
wait_until 5 sh -c "[ \$(grep -c '^READY=1' '$WORK/notify.log') -ge 2 ]" && log "ok: READY=1 again after the reload" || fail "no READY=1 after reload"
in_cli "$KNOCK" "$SRV4" 7000
wait_until 5 test -s "$WORK/env" || fail "command did not run"
grep -q '^notify=none$' "$WORK/env" && log "ok: commands do not inherit NOTIFY_SOCKET" || fail "command saw $(cat "$WORK/env")"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
expect_log "$WORK/notify.log" "^STOPPING=1$"
finish
