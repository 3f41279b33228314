#!/usr/bin/env bash
# The everyday client against a real OpenSSH server:
#
#   [ $CLI ] ssh, knock --proxy, knock --wait      [ $SRV ] sshd -D on :22 (own config, throw-away keys)
#            profile in $WORK/xdg/knock/hosts  <==>          tutorial rules (new :22 dropped)
#            (~30% of OUTPUT dropped in part 3)              bin/knockd with the tutorial's openSSH door only
#
# 1. Without a ProxyCommand, ssh times out (ConnectTimeout) on the closed port.
# 2. ssh with `ProxyCommand knock --proxy %n %p` (profile named like the host) and with
#    `%h %p` (profile found by its Address) logs in and runs commands; stdin EOF reaches
#    the remote command, the remote exit status comes back, and no knock process is left.
# 3. `knock --wait` with ~30% of the client's packets dropped opens within its retries.
# 4. With the daemon stopped, `knock --wait` fails (non-zero) after its tries.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
tutorial_firewall

# sshd: its own config, host key and authorized key, all in $WORK.
mkdir -p /run/sshd # sshd's privilege-separation directory (Debian creates it at boot)
chmod 700 "$WORK"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/hostkey" -C kt-host
ssh-keygen -q -t ed25519 -N '' -f "$WORK/id" -C kt-client
cp "$WORK/id.pub" "$WORK/authorized_keys"
cat >"$WORK/sshd_config" <<CONF
Port 22
ListenAddress 0.0.0.0
ListenAddress ::
HostKey $WORK/hostkey
PidFile $WORK/sshd.pid
AuthorizedKeysFile $WORK/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
LogLevel VERBOSE
CONF
ip netns exec "$SRV" /usr/sbin/sshd -D -f "$WORK/sshd_config" -E "$WORK/sshd.log" &
SSHD_PID=$!
PIDS+=($SSHD_PID)
wait_until 5 sh -c "ip netns exec $SRV ss -ltn | grep -q ':22 '" || fail "sshd did not start: $(cat "$WORK/sshd.log")"
echo "$SRV4 $(cut -d' ' -f1,2 "$WORK/hostkey.pub")" >"$WORK/known_hosts"

tutorial_config "$WORK/knockd.conf"
# Only the openSSH door: the tutorial's closeSSH (the same ports reversed) can be
# completed by the pieces of several lossy rounds (9000 ending one round, then
# 8000 and 7000 of the next ones), which closes the door that --wait just opened.
# close_door below plays its part.
sed -i '/^\[closeSSH\]/,$d' "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"

# The client's profile; knock finds it through XDG_CONFIG_HOME.
export XDG_CONFIG_HOME="$WORK/xdg" HOME="$WORK/home"
mkdir -p "$XDG_CONFIG_HOME/knock" "$HOME"
cat >"$XDG_CONFIG_HOME/knock/hosts" <<CONF
# the tutorial's openSSH door
Host srv
    Address  $SRV4
    Sequence 7000,8000,9000
    Open     tcp/22
CONF
ssh_to() { # ssh_to PROXYCOMMAND REMOTE-COMMAND...: ssh from the client namespace, 5 s connect bound
  local pc="$1"
  shift
  in_cli ssh -F /dev/null -o BatchMode=yes -o ConnectTimeout=5 -o UserKnownHostsFile="$WORK/known_hosts" \
    -o StrictHostKeyChecking=yes -o HostKeyAlias="$SRV4" -o User=root -o IdentitiesOnly=yes -i "$WORK/id" \
    ${pc:+-o ProxyCommand="$pc"} -o HostName="$SRV4" srv "$@"
}
close_door() { # remove every ACCEPT the openSSH door inserted
  while in_srv iptables -D INPUT -s "$CLI4" -p tcp --dport 22 -j ACCEPT 2>/dev/null; do :; done
}

echo " without ProxyCommand ssh times out"
t0=$(date +%s%N)
if ssh_to "" true 2>"$WORK/ssh0.err"; then fail "ssh got in without a knock"; else
  ms=$((($(date +%s%N) - t0) / 1000000))
  if grep -qi "timed out" "$WORK/ssh0.err"; then log "ok: ssh timed out after ${ms} ms ($(tail -1 "$WORK/ssh0.err"))"; else fail "ssh failed otherwise: $(cat "$WORK/ssh0.err")"; fi
fi

echo " ProxyCommand knock --proxy %n %p (profile named like the host)"
t0=$(date +%s%N)
out=$(ssh_to "$KNOCK -v --proxy %n %p" 'echo "logged in as $(id -un)"' 2>"$WORK/ssh1.err")
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$out" = "logged in as root" ]; then log "ok: ssh ran a command through knock --proxy (${ms} ms)"; else
  fail "ssh through --proxy: '$out'"
  sed 's/^/    | /' "$WORK/ssh1.err"
fi
grep -q "port 22 is open" "$WORK/ssh1.err" && log "ok: -v showed the steps on stderr" || fail "no -v steps on stderr"
expect_log "$WORK/knockd.log" "$CLI4: openSSH: OPEN SESAME"

echo " stdin EOF reaches the remote command; the exit status comes back; knock exits"
close_door
out=$(printf 'one\ntwo\n' | ssh_to "$KNOCK --proxy %h %p" 'wc -l; exit 7' 2>"$WORK/ssh2.err")
rc=$?
[ "$out" = 2 ] && log "ok: remote wc saw 2 lines and EOF (profile found by Address)" || fail "remote wc said '$out': $(cat "$WORK/ssh2.err")"
[ "$rc" = 7 ] && log "ok: remote exit status 7 came back" || fail "ssh exit status $rc, expected 7"
if wait_until 3 sh -c "[ -z \"\$(ip netns pids $CLI)\" ]"; then log "ok: no knock process left behind"; else fail "left in the client namespace: $(ip netns pids "$CLI" | xargs -r ps -o pid,args -p)"; fi
grep -q "Connection closed\|Disconnected from user root" "$WORK/sshd.log" && log "ok: sshd saw a clean disconnect" || fail "sshd log: $(tail -3 "$WORK/sshd.log")"

echo " knock --wait with ~30% of the client's packets dropped"
close_door
expect_closed "$SRV4"
if in_cli tc qdisc add dev veth-c root netem loss 30% 2>/dev/null; then
  LOSS="tc netem loss 30%"
  unloss() { in_cli tc qdisc del dev veth-c root; }
else
  LOSS="iptables -m statistic --probability 0.3 DROP in the client's OUTPUT"
  in_cli iptables -A OUTPUT -o veth-c -m statistic --mode random --probability 0.3 -j DROP
  unloss() { in_cli iptables -D OUTPUT -o veth-c -m statistic --mode random --probability 0.3 -j DROP; }
fi
log "loss: $LOSS"
# Each run: a fresh door, then --wait. Repeat 2 (each knock sent twice) is for
# servers that ignore a repeated knock, as knockd-ts does.
RUNS=6
ok=0
tries_used=0
for i in $(seq 1 $RUNS); do
  close_door
  t0=$(date +%s%N)
  if in_cli "$KNOCK" -v --wait tcp/22 --tries 6 --repeat 2 --wait-time 30 srv >"$WORK/wait$i.out" 2>&1; then
    ok=$((ok + 1))
    tries_used=$((tries_used + $(grep -c '^knock [0-9]' "$WORK/wait$i.out")))
  fi
  log "run $i: $(grep -c '^knock [0-9]' "$WORK/wait$i.out") knock round(s), $((($(date +%s%N) - t0) / 1000000)) ms, $(tail -1 "$WORK/wait$i.out")"
done
[ "$ok" = "$RUNS" ] && log "ok: --wait opened in $ok of $RUNS runs under loss ($tries_used rounds in all)" || fail "--wait opened only $ok of $RUNS runs under loss"
# The defaults (3 tries, each knock once) for the record: not asserted, loss is random.
ok=0
for i in 1 2 3 4; do
  close_door
  in_cli "$KNOCK" --wait tcp/22 srv >/dev/null 2>&1 && ok=$((ok + 1))
done
log "defaults (3 tries, no repeat) under loss: opened $ok of 4"
if [ "${LOSS#tc}" = "$LOSS" ]; then
  dropped=$(in_cli iptables -L OUTPUT -v -x -n | awk '/statistic/ {print $1}')
  sent=$(in_cli cat /sys/class/net/veth-c/statistics/tx_packets)
  log "dropped $dropped client packets; $sent left veth-c"
fi
unloss
close_door

echo " knock --wait fails when the daemon is stopped"
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null
expect_closed "$SRV4"
t0=$(date +%s%N)
in_cli "$KNOCK" -v --wait tcp/22 --wait-time 10 srv >"$WORK/dead.out" 2>&1
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if [ "$rc" != 0 ] && grep -qE "did not open after [23] knock round" "$WORK/dead.out"; then log "ok: exit $rc in ${ms} ms: $(grep 'did not open' "$WORK/dead.out")"; else
  fail "--wait with no daemon: exit $rc"
  sed 's/^/    | /' "$WORK/dead.out"
fi
# --wait-time bounds the knocking and waiting; node's start-up on a loaded machine comes on top.
[ "$ms" -le 13000 ] && log "ok: bounded by --wait-time (10 s, plus start-up)" || fail "took ${ms} ms, more than --wait-time 10 plus 3 s"
out=$(ssh_to "$KNOCK --proxy %n %p" true 2>&1)
rc=$?
[ "$rc" = 255 ] && log "ok: ssh through --proxy fails cleanly with no daemon ($(echo "$out" | tail -1))" || fail "ssh exit $rc: $out"
if wait_until 3 sh -c "[ -z \"\$(ip netns pids $CLI)\" ]"; then log "ok: no knock process left behind"; else fail "left in the client namespace: $(ip netns pids "$CLI" | xargs -r ps -o pid,args -p)"; fi

echo " an SPA profile (key files) through ssh's ProxyCommand"
head -c 32 /dev/urandom | base64 -w0 >"$XDG_CONFIG_HOME/knock/spa.key"
head -c 64 /dev/urandom | base64 -w0 >"$XDG_CONFIG_HOME/knock/spa.hmac"
chmod 600 "$XDG_CONFIG_HOME/knock/spa.key" "$XDG_CONFIG_HOME/knock/spa.hmac"
cat >"$WORK/access.conf" <<CONF
SOURCE ANY
    KEY_BASE64 $(cat "$XDG_CONFIG_HOME/knock/spa.key")
    HMAC_KEY_BASE64 $(cat "$XDG_CONFIG_HOME/knock/spa.hmac")
    OPEN_PORTS tcp/22
    FW_ACCESS_TIMEOUT 30
CONF
cat >>"$XDG_CONFIG_HOME/knock/hosts" <<CONF
Host srv-spa
    Address           $SRV4
    SPA_Key_File      spa.key
    SPA_HMAC_Key_File spa.hmac
    Open              tcp/22
CONF
sed -i "/^\[options\]/a Firewall = iptables\nSPA_Access = $WORK/access.conf" "$WORK/knockd.conf"
start_knockd "$WORK/knockd.conf"
expect_closed "$SRV4"
out=$(ssh_to "$KNOCK --proxy srv-spa %p" 'echo spa-ok' 2>"$WORK/ssh3.err")
[ "$out" = spa-ok ] && log "ok: ssh through an SPA profile" || fail "SPA profile: '$out' $(cat "$WORK/ssh3.err")"
expect_log "$WORK/knockd.log" "$CLI4: SPA: accepted for $CLI4"
chmod 644 "$XDG_CONFIG_HOME/knock/spa.key"
in_cli "$KNOCK" srv-spa 2>"$WORK/spa644.err"
rc=$?
[ "$rc" = 74 ] && grep -q "0644 are too open" "$WORK/spa644.err" && log "ok: a key file others can read is refused (exit 74)" || fail "mode 644 key: exit $rc $(cat "$WORK/spa644.err")"
finish
