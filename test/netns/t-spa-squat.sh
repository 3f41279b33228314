#!/usr/bin/env bash
# Security finding 11: with SPA_Receive = socket, a local unprivileged user
# who binds the SPA port first must not disable SPA silently: the daemon
# refuses to start and says why. A reload that moves SPA onto a taken port
# keeps the running receiver.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
spa_keys
printf 'SOURCE ANY\n  KEY_BASE64 %s\n  HMAC_KEY_BASE64 %s\n  OPEN_PORTS tcp/22\n' "$K" "$H" >"$WORK/access.conf"
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
	Firewall = nftables
	SPA_Access = $WORK/access.conf
	SPA_Receive = socket
[guard]
	sequence = 7000
	Open = tcp/22
CONF
our_options "$WORK/knockd.conf"
squat() { # squat PORT: an unprivileged process (nobody) holds UDP PORT in the server namespace
  in_srv setpriv --reuid=65534 --regid=65534 --clear-groups \
    /usr/bin/python3 -c "import socket,time; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('0.0.0.0', $1)); time.sleep(60)" &
  PIDS+=($!)
  wait_until 5 in_srv sh -c "ss -lun | grep -q ':$1 '" || fail "squatter on $1 did not bind"
}

echo " a squatter on 62201 makes the start fail loudly"
squat 62201
ip netns exec "$SRV" "$ROOT/bin/knockd" -i veth-s -c "$WORK/knockd.conf" >"$WORK/knockd.out" 2>&1 &
pid=$!
PIDS+=($pid)
if wait_until 10 sh -c "! kill -0 $pid 2>/dev/null"; then
  wait "$pid"
  code=$?
  [ "$code" != 0 ] && log "ok: knockd exited with status $code" || fail "knockd exited 0"
else
  fail "knockd kept running without its SPA socket"
fi
grep -q "cannot bind the SPA socket to UDP port 62201: it is in use" "$WORK/knockd.out" && log "ok: the error names the port" || fail "error: $(cat "$WORK/knockd.out")"

echo " a reload onto a taken port keeps the running receiver"
sed -i 's/SPA_Receive = socket/SPA_Receive = socket\n\tSPA_Port = 40001/' "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"
squat 40002
sed -i 's/SPA_Port = 40001/SPA_Port = 40002/' "$WORK/knockd.conf"
kill -HUP "$KNOCKD_PID"
expect_log "$WORK/knockd.out" "keeping the running SPA receiver"
in_srv ss -lunp | grep ':40001 ' | grep -qE "knockd|node" && log "ok: still bound to 40001" || fail "lost 40001: $(in_srv ss -lunp)"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive" || fail "daemon died"
finish
