# Shared by the fleet tests (t-fleet.sh, t-fleet-seq.sh): three servers and a redis-server
# on one bridge, in this run's namespaces only.
#
#   [ $HUB ] bridge br0 10.88.0.1/24, redis-server bound to 10.88.0.1 (started here, by pid)
#     |-- veth -- [ s1 ] 10.88.0.11  knockd, nftables, stand-in service on tcp/22
#     |-- veth -- [ s2 ] 10.88.0.12  "
#     |-- veth -- [ s3 ] 10.88.0.13  "
#     `-- veth -- [ $CLI ] 10.88.0.2  knock, knockctl, TCP connects
#
# The host's Redis service is never started.
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
HUB="kt-$RUN_ID-hub"
S=("kt-$RUN_ID-s1" "kt-$RUN_ID-s2" "kt-$RUN_ID-s3")
ADDR=(10.88.0.11 10.88.0.12 10.88.0.13)
CLIENT=10.88.0.2
REDIS=10.88.0.1
RPORT=6390
DPID=(0 0 0)
REDIS_PID=0

fleet_cleanup() {
  local ns p
  cleanup 2>/dev/null
  for ns in "$HUB" "${S[@]}"; do
    if ip netns list | grep -q "^$ns\b"; then
      p="$(ip netns pids "$ns" 2>/dev/null || true)"
      [ -n "$p" ] && kill -9 $p 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
}
trap fleet_cleanup EXIT

in_s() { ip netns exec "${S[$1]}" "${@:2}"; }

setup_fleet_net() {
  ip netns add "$HUB"
  ip netns add "$CLI"
  ip -n "$HUB" link add br0 type bridge
  ip -n "$HUB" addr add "$REDIS/24" dev br0
  ip -n "$HUB" link set br0 up
  ip -n "$HUB" link set lo up
  local i
  for i in 0 1 2; do
    ip netns add "${S[$i]}"
    ip link add veth0 netns "${S[$i]}" type veth peer name "p$i" netns "$HUB"
    in_s "$i" ip addr add "${ADDR[$i]}/24" dev veth0
    in_s "$i" ip link set veth0 up
    in_s "$i" ip link set lo up
    ip -n "$HUB" link set "p$i" master br0 up
  done
  ip link add veth0 netns "$CLI" type veth peer name pc netns "$HUB"
  ip -n "$CLI" addr add "$CLIENT/24" dev veth0
  ip -n "$CLI" link set veth0 up
  ip -n "$CLI" link set lo up
  ip -n "$HUB" link set pc master br0 up
  for i in 0 1 2; do
    wait_until 5 in_cli ping -c1 -W1 "${ADDR[$i]}" >/dev/null || fail "no path to ${ADDR[$i]}"
  done
}

PW="$(head -c 18 /dev/urandom | base64 | tr -d '/+=')"
# TLS=1: Redis speaks only TLS on $RPORT with $WORK/tls/srv.pem (make_certs), and the daemons use rediss://.
TLS=${TLS:-0}
SCHEME=redis
[ "$TLS" = 1 ] && SCHEME=rediss
redis_listen() {
  if [ "$TLS" = 1 ]; then
    printf 'port 0\ntls-port %s\ntls-cert-file %s\ntls-key-file %s\ntls-ca-cert-file %s\ntls-auth-clients no\n' \
      "$RPORT" "$WORK/tls/srv.pem" "$WORK/tls/srv.key" "$WORK/tls/ca.pem"
  else
    printf 'port %s\n' "$RPORT"
  fi
}
# make_certs: a test CA and Redis's certificate for $REDIS (EC P-256, one day), plus an unrelated CA.
make_certs() {
  local d="$WORK/tls" ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$d"
  openssl req -x509 "${ec[@]}" -keyout "$d/ca.key" -out "$d/ca.pem" -days 1 -subj /CN=knockd-test-ca 2>/dev/null
  openssl req -x509 "${ec[@]}" -keyout "$d/other.key" -out "$d/other.pem" -days 1 -subj /CN=other-ca 2>/dev/null
  openssl req "${ec[@]}" -keyout "$d/srv.key" -out "$d/srv.csr" -subj "/CN=$REDIS" 2>/dev/null
  printf 'subjectAltName=IP:%s\n' "$REDIS" >"$d/san.ext"
  openssl x509 -req -in "$d/srv.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/srv.pem" -days 1 -extfile "$d/san.ext" 2>/dev/null || fail "cannot make the test certificates"
}
start_redis() {
  mkdir -p "$WORK/redis"
  cat >"$WORK/redis.conf" <<CONF
bind $REDIS
$(redis_listen)
protected-mode yes
# The README's least-privilege ACL: the group's keys and channel only; no default user.
user default off
user knockd-t on >$PW ~knockd:t$RUN_ID:* &knockd:t$RUN_ID:* +@read +@write +@pubsub +scan +ping +eval +evalsha -@dangerous
# The test's own user, for INFO (command counts); the daemons never use it.
user admin-t on >$PW ~* &* +@all
save ""
appendonly no
daemonize no
dir $WORK/redis
logfile $WORK/redis.log
CONF
  ip netns exec "$HUB" redis-server "$WORK/redis.conf" &
  REDIS_PID=$!
  PIDS+=("$REDIS_PID")
  wait_log "$WORK/redis.log" 'Ready to accept connections' || fail "redis did not start"
}
stop_redis() {
  kill "$REDIS_PID" 2>/dev/null
  wait "$REDIS_PID" 2>/dev/null
  : >"$WORK/redis.log"
}

write_conf() { # N
  local n=$(($1 + 1)) d="$WORK/s$(($1 + 1))"
  mkdir -p "$d"
  cat >"$d/knockd.conf" <<CONF
[options]
	Firewall = nftables
	LogFile = $d/knockd.log
	StateDir = $d/state
	ControlSocket = $d/knockd.sock
	Fleet = $SCHEME://$REDIS:$RPORT/0
${FLEET_CA:+	Fleet_CA = $FLEET_CA}
	Fleet_Name = t$RUN_ID
	Fleet_Host = s$n
	Fleet_Password_File = $WORK/redis.pw
	Metrics = 127.0.0.1:9560
[ssh]
	sequence     = 7000,8000,9000
	seq_timeout  = 5
	tcpflags     = syn
	Open         = tcp/22
	Open_Timeout = ${OPEN_TIMEOUT:-60}
	Share        = yes
${EXTRA_DOORS:-}
CONF
}
start_daemon() { # N
  local d="$WORK/s$(($1 + 1))"
  ip netns exec "${S[$1]}" "$ROOT/bin/knockd" -i veth0 -c "$d/knockd.conf" -v >>"$d/knockd.out" 2>&1 &
  DPID[$1]=$!
  PIDS+=("${DPID[$1]}")
  wait_until 10 grep -q 'starting up, listening on' "$d/knockd.out" || {
    fail "knockd s$(($1 + 1)) did not start"
    cat "$d/knockd.out"
  }
}
start_service_in() { # N
  ip netns exec "${S[$1]}" node -e "
    const s = require('net').createServer((c) => { c.on('error', () => {}); c.end('SSH-2.0-standin\r\n'); });
    s.listen({ port: 22, host: '0.0.0.0' });
  " &
  PIDS+=($!)
  wait_until 5 in_s "$1" sh -c "ss -ltn | grep -q ':22 '" || fail "service in s$(($1 + 1)) did not start"
}
ctl() { in_s "$1" "$KNOCKCTL" -s "$WORK/s$(($1 + 1))/knockd.sock" "${@:2}"; }
# granted N: the client's address is in server N's nftables grant set.
granted() { in_s "$1" nft list set inet knockd grants4 2>/dev/null | grep -q "$CLIENT \. tcp \. 22"; }
not_granted() { ! granted "$1"; }
reach() { in_cli timeout 3 nc -z -w 1 "${ADDR[$1]}" 22 2>/dev/null; }
expect_reach() {
  if wait_until "${2:-5}" reach "$1"; then log "ok: s$(($1 + 1)) tcp/22 reachable"; else fail "s$(($1 + 1)) tcp/22 should be reachable"; fi
}
expect_no_reach() {
  if reach "$1"; then fail "s$(($1 + 1)) tcp/22 should be closed"; else log "ok: s$(($1 + 1)) tcp/22 closed"; fi
}
knock_on() { in_cli "$ROOT/bin/knock" "${ADDR[$1]}" 7000 8000 9000; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

