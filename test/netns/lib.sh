# Shared helpers for the end-to-end tests. Topology (per run, names unique):
#
#   [ $CLI ] veth-c 10.77.0.2/24, fd77::2/64  <====>  veth-s 10.77.0.1/24, fd77::1/64 [ $SRV ]
#                                                       knockd captures on veth-s,
#                                                       iptables/nft live in $SRV only
#
# Nothing here touches the host's interfaces or firewall: every command that
# changes state runs inside a namespace this run created.
set -u
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
RUN_ID="${RUN_ID:-$$}"
SRV="kt-$RUN_ID-srv"
CLI="kt-$RUN_ID-cli"
SRV4=10.77.0.1
CLI4=10.77.0.2
SRV6=fd77::1
CLI6=fd77::2
WORK="$(mktemp -d "/tmp/knockd-test-$RUN_ID.XXXX")"
PIDS=()
FAILED=0

log() { printf '  %s\n' "$*"; }
fail() {
  printf '  FAIL: %s\n' "$*"
  FAILED=1
}
in_srv() { ip netns exec "$SRV" "$@"; }
in_cli() { ip netns exec "$CLI" "$@"; }

cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  # A test's daemon may have daemonised: kill whatever still runs in our namespaces.
  for ns in "$SRV" "$CLI"; do
    if ip netns list | grep -q "^$ns\b"; then
      local pids
      pids="$(ip netns pids "$ns" 2>/dev/null || true)"
      [ -n "$pids" ] && kill -9 $pids 2>/dev/null || true
      ip netns del "$ns" 2>/dev/null || true
    fi
  done
  rm -rf "$WORK"
}

# Two namespaces joined by a veth pair, with IPv4 and IPv6 (DAD off so v6 is usable at once).
setup_net() {
  ip netns add "$SRV"
  ip netns add "$CLI"
  ip link add "veth-s" netns "$SRV" type veth peer name "veth-c" netns "$CLI"
  in_srv sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  in_cli sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
  in_srv ip addr add "$SRV4/24" dev veth-s
  in_cli ip addr add "$CLI4/24" dev veth-c
  in_srv ip addr add "$SRV6/64" dev veth-s nodad
  in_cli ip addr add "$CLI6/64" dev veth-c nodad
  in_srv ip link set lo up
  in_cli ip link set lo up
  in_srv ip link set veth-s up
  in_cli ip link set veth-c up
  wait_until 5 in_cli ping -c1 -W1 "$SRV4" >/dev/null || fail "no IPv4 path"
  wait_until 5 in_cli ping -6 -c1 -W1 "$SRV6" >/dev/null || fail "no IPv6 path"
}

# The tutorial's base rules: keep established connections, drop new SSH.
tutorial_firewall() {
  in_srv iptables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_srv iptables -A INPUT -p tcp --dport 22 -j DROP
  in_srv ip6tables -A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  in_srv ip6tables -A INPUT -p tcp --dport 22 -j DROP
}

# A stand-in service on port 22 (v4 and v6) that accepts and holds connections.
start_service() {
  local port="${1:-22}"
  in_srv node -e "
    const net = require('net');
    const s = net.createServer((c) => { c.on('error', () => {}); c.write('SSH-2.0-standin\r\n'); c.pipe(c); });
    s.listen({ port: $port, host: '::', ipv6Only: false });
  " &
  PIDS+=($!)
  wait_until 5 in_srv sh -c "ss -ltn | grep -q ':$port '" || fail "service on $port did not start"
}

# wait_until SECONDS CMD...: retry CMD every 0.1 s until it succeeds or time runs out.
wait_until() {
  local secs="$1"
  shift
  local deadline=$(($(date +%s%N) + secs * 1000000000))
  while :; do
    "$@" && return 0
    [ "$(date +%s%N)" -ge "$deadline" ] && return 1
    sleep 0.1
  done
}

# reachable ADDR [PORT]: a real TCP connect from the client namespace.
reachable() {
  in_cli timeout 3 nc -z -w 1 "$1" "${2:-22}" 2>/dev/null
}
expect_open() {
  if wait_until "${3:-5}" reachable "$1" "${2:-22}"; then log "ok: $1 port ${2:-22} reachable"; else fail "$1 port ${2:-22} should be reachable"; fi
}
expect_closed() {
  if reachable "$1" "${2:-22}"; then fail "$1 port ${2:-22} should be closed"; else log "ok: $1 port ${2:-22} closed"; fi
}

# our_options CONFIG: point StateDir and ControlSocket into this run's work
# directory, so tests never touch /var/lib/knockd or /run/knockd.sock.
our_options() {
  grep -q '^\s*StateDir' "$1" && return 0
  if grep -q '^\[options\]' "$1"; then
    sed -i "/^\[options\]/a StateDir = $WORK/state\nControlSocket = $WORK/knockd.sock" "$1"
  else
    sed -i "1i[options]\nStateDir = $WORK/state\nControlSocket = $WORK/knockd.sock" "$1"
  fi
}
# Debian's knockd knows none of our directives.
strip_our_options() {
  sed -i -E '/^\s*(StateDir|ControlSocket|Firewall)\s*=/d' "$1"
}

# start_knockd CONFIG [ARGS...]: our daemon on veth-s in the server namespace, -v to $WORK/knockd.out.
start_knockd() {
  local conf="$1"
  shift
  our_options "$conf"
  # Not through in_srv: $! must be the daemon itself (ip netns exec execs it), not a subshell.
  ip netns exec "$SRV" "$ROOT/bin/knockd" -i veth-s -c "$conf" -v "$@" >"$WORK/knockd.out" 2>&1 &
  KNOCKD_PID=$!
  PIDS+=($KNOCKD_PID)
  wait_until 10 grep -q 'starting up, listening on' "$WORK/knockd.out" || {
    fail "knockd did not start"
    cat "$WORK/knockd.out"
  }
}

# wait_log FILE PATTERN [SECONDS]
wait_log() {
  wait_until "${3:-5}" grep -qE -- "$2" "$1" 2>/dev/null
}
expect_log() {
  if wait_log "$1" "$2" "${3:-5}"; then log "ok: log has '$2'"; else
    fail "log $1 lacks '$2'"
    sed 's/^/    | /' "$1"
  fi
}

# The tutorial config: openSSH inserts an ACCEPT, closeSSH deletes it.
tutorial_config() {
  cat >"$1" <<CONF
[options]
	LogFile = $WORK/knockd.log

[openSSH]
	sequence    = 7000,8000,9000
	seq_timeout = 5
	command     = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn

[closeSSH]
	sequence    = 9000,8000,7000
	seq_timeout = 5
	command     = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
	tcpflags    = syn
CONF
}

KNOCK="$ROOT/bin/knock"

# A positive sync point for negative checks. add_sync_door CONFIG appends a
# door that opens on one UDP knock to 64999 and runs nothing; sync_point LOG
# knocks it from a second client address (so no attempt of the test's client
# is disturbed) and waits for its OPEN line. Capture hands packets over in
# order, so once that line is logged, whatever the earlier packets caused
# has been logged too: a check for "no OPEN" after it cannot pass early.
SYNC_SRC=10.77.0.250
add_sync_door() {
  printf '\n[sync]\n\tsequence = 64999:udp\n' >>"$1"
}
sync_point() {
  local before
  in_cli ip addr replace "$SYNC_SRC/24" dev veth-c
  before=$(count_lines "$1" "$SYNC_SRC: sync: OPEN SESAME")
  echo sync | in_cli nc -u -w0 -s "$SYNC_SRC" "$SRV4" 64999
  # grep -c prints 0 (and fails) when nothing matches; a missing file prints nothing.
  wait_until 5 sh -c "n=\$(grep -c '$SYNC_SRC: sync: OPEN SESAME' '$1' 2>/dev/null); [ \"\${n:-0}\" -gt $before ]" || fail "no sync point in $1"
}

finish() {
  if [ "$FAILED" = 0 ]; then echo "PASS"; exit 0; else echo "FAIL"; exit 1; fi
}

# reachable_from SRC ADDR [PORT]: a real TCP connect from a given client address.
reachable_from() {
  in_cli timeout 3 nc -z -w 1 -s "$1" "$2" "${3:-22}" 2>/dev/null
}

# Adds a second client address so two knockers can interleave.
add_client_addr() {
  in_cli ip addr add "$1/24" dev veth-c
}

# mkpcap OUT SPEC...: crafted frames addressed to the server's MAC.
mkpcap() {
  local out="$1"
  shift
  local mac
  mac="$(in_srv cat /sys/class/net/veth-s/address)"
  node "$ROOT/dist/test/helpers/mkpcap.js" "$out" "$mac" "$@"
}

# count_lines FILE PATTERN
count_lines() {
  grep -cE -- "$2" "$1" 2>/dev/null || true
}

# wait_rule_gone SRC: the tutorial's ACCEPT rule for SRC has been deleted.
wait_rule_gone() {
  wait_until "${2:-3}" sh -c "! ip netns exec $SRV iptables -C INPUT -s $1 -p tcp --dport 22 -j ACCEPT 2>/dev/null"
}

# hold_connection ADDR SECONDS OUT: a long-lived TCP connection from the
# client that sends a byte every 200 ms and expects it echoed; writes "alive"
# to OUT if every echo came back for SECONDS seconds, "dead" otherwise.
hold_connection() {
  in_cli node -e "
    const net = require('net');
    const c = net.connect({ host: '$1', port: 22 });
    let sent = 0, got = 0, banner = false;
    c.on('data', (d) => { if (!banner) { banner = true; return; } got += d.length; });
    c.on('error', () => {});
    c.on('connect', () => {
      const t = setInterval(() => { c.write('x'); sent++; }, 200);
      setTimeout(() => {
        clearInterval(t);
        setTimeout(() => { require('fs').writeFileSync('$3', got >= sent - 1 && sent > 0 ? 'alive' : 'dead ' + got + '/' + sent); process.exit(0); }, 500);
      }, $2 * 1000);
    });
    setTimeout(() => { require('fs').writeFileSync('$3', 'no connect'); process.exit(0); }, ($2 + 5) * 1000);
  " &
  PIDS+=($!)
}

KNOCKCTL="$ROOT/bin/knockctl"
# knockctl against the server's daemon (our_options puts its control socket in $WORK).
ctl() { in_srv "$KNOCKCTL" -s "$WORK/knockd.sock" "$@"; }
# nft_grant_conf FILE [OPTION_LINE]: a knockd.conf whose door openSSH (7000,8000,9000)
# grants tcp/22 for 60 s through nftables; OPTION_LINE (e.g. "NftApply = process") joins [options].
nft_grant_conf() {
  {
    printf '[options]\n\tLogFile = %s\n\tFirewall = nftables\n' "$WORK/knockd.log"
    [ -z "${2:-}" ] || printf '\t%s\n' "$2"
    printf '[openSSH]\n\tsequence     = 7000,8000,9000\n\tOpen         = tcp/22\n\tOpen_Timeout = 60\n'
  } >"$1"
}
# SPA tests: fresh Rijndael and HMAC keys, base64 as fwknop --key-gen prints them, in K and H.
spa_keys() {
  K=$(head -c 32 /dev/urandom | base64 -w0)
  H=$(head -c 64 /dev/urandom | base64 -w0)
}
# spa_conf FILE [PORT...]: a knockd.conf with SPA from $WORK/access.conf on nftables, and a
# door per tcp PORT (default 22) whose Open puts that port under the guard: [guard] with
# sequence 7000 for one port, [guardPORT] with 7000, 7001, ... for several.
spa_conf() {
  local f=$1 n=0 p
  shift
  [ $# -gt 0 ] || set -- 22
  printf '[options]\n\tLogFile = %s\n\tFirewall = nftables\n\tSPA_Access = %s\n' "$WORK/knockd.log" "$WORK/access.conf" >"$f"
  for p in "$@"; do
    if [ $# -eq 1 ]; then printf '[guard]\n' >>"$f"; else printf '[guard%s]\n' "$p" >>"$f"; fi
    printf '\tsequence = %s\n\tOpen = tcp/%s\n' $((7000 + n)) "$p" >>"$f"
    n=$((n + 1))
  done
}
