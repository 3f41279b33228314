#!/usr/bin/env bash
# Faults knockd 0.8 does not survive: the interface going down and up, the
# interface deleted and re-created, and a new address on the interface.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
[door]
	sequence = 7000,8000
	command = echo open %IP% >> $WORK/opens
CONF
start_knockd "$WORK/knockd.conf"
opens() { [ -f "$WORK/opens" ] && wc -l <"$WORK/opens" || echo 0; }
knock_opens() { # knock_opens DST N: knock and wait for the N-th open
  in_cli "$KNOCK" "$1" 7000 8000
  wait_until 5 sh -c "[ \$( [ -f '$WORK/opens' ] && wc -l <'$WORK/opens' || echo 0) -ge $2 ]"
}
knock_opens "$SRV4" 1 && log "ok: first knock opens" || fail "first knock"

echo " interface down and up"
in_srv ip link set veth-s down
in_srv ip link set veth-s up
in_srv ip addr replace "$SRV4/24" dev veth-s
wait_until 5 in_cli ping -c1 -W1 "$SRV4" >/dev/null
wait_until 10 sh -c "kill -0 $KNOCKD_PID" || true
kill -0 "$KNOCKD_PID" && log "ok: daemon alive after link down" || fail "daemon died on link down"
wait_until 10 knock_opens "$SRV4" 2 && log "ok: knocks work after down/up" || fail "no knock after down/up"

echo " interface deleted and re-created"
in_srv ip link del veth-s
expect_log "$WORK/knockd.out" "capture error on veth-s"
kill -0 "$KNOCKD_PID" && log "ok: daemon alive with its interface gone" || fail "daemon died when the interface vanished"
ip link add "veth-s" netns "$SRV" type veth peer name "veth-c" netns "$CLI"
in_srv ip addr add "$SRV4/24" dev veth-s
in_cli ip addr add "$CLI4/24" dev veth-c
in_srv ip link set veth-s up
in_cli ip link set veth-c up
expect_log "$WORK/knockd.log" "capture resumed on veth-s" 10
wait_until 5 in_cli ping -c1 -W1 "$SRV4" >/dev/null
wait_until 10 knock_opens "$SRV4" 3 && log "ok: knocks work on the new interface" || fail "no knock after re-create"

echo " an address added to the interface is followed"
in_srv ip addr add 10.77.0.9/24 dev veth-s
expect_log "$WORK/knockd.log" "addresses of veth-s changed: .*10.77.0.9" 6
wait_until 10 knock_opens 10.77.0.9 4 && log "ok: knock to the new address opens" || fail "new address ignored"
finish
