#!/usr/bin/env bash
# Benchmarks: knockd-ts against Debian's knockd 0.8, measured in the same run,
# inside throw-away network namespaces (nothing leaves the test veth).
#   (a) spoofed first-port SYN flood (65,536 sources) at rising rates, with a
#       legitimate knock in the middle: does the client get in?
#   (b) the same with random destination ports
#   (c) knock-to-open latency, p50 and p99
#   (d) RSS idle and peak (including a million distinct spoofed sources),
#       and the capture's dropped-packet counter
#   (e) offline throughput of the core on a large pcap file, and knockd -r
#       against tcpdump -r on it (bench/replay.sh)
# Writes bench/out/results.json, docs/benchmarks.md and docs/benchmarks.png.
# usage: bench/run.sh [--quick]   (run as root; not part of the tests)
#        ONLY=latency bench/run.sh   runs one section (floods, latency, spa, memory, core;
#        latency includes spa)
#        and prints its rows without rewriting the docs.
set -uo pipefail
# Node programs here run in the environment a service has (systemd passes
# none of a login shell's). This machine's shell sets NODE_EXTRA_CA_CERTS for
# its proxy, which makes every node process parse 144 certificates at start:
# about 0.09 s of CPU and 2 MB of RSS that a knockd service never pays.
unset NODE_EXTRA_CA_CERTS
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
QUICK=0
[ "${1:-}" = --quick ] && QUICK=1
bash "$ROOT/scripts/setup.sh" >/dev/null || exit 1
command -v gnuplot >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
RUN_ID="bench$$"
. "$ROOT/test/netns/lib.sh"
trap cleanup EXIT
OUT="$ROOT/bench/out"
mkdir -p "$OUT"
if [ "$QUICK" = 1 ]; then
  RATES=(5000 50000 0)
  ROUNDS=5
  MILLION=200000
else
  RATES=(2500 5000 10000 20000 50000 100000 0)
  ROUNDS=50
  MILLION=1000000
fi
FLOOD_SECS=4
want() { [ -z "${ONLY:-}" ] || [ "$ONLY" = "$1" ]; }
setup_net
tutorial_firewall
start_service 22
MAC="$(in_srv cat /sys/class/net/veth-s/address)"
if want floods; then
  node "$ROOT/dist/test/helpers/mkflood.js" "$WORK/first.pcap" "$MAC" "$SRV4" 7000 65536
  node "$ROOT/dist/test/helpers/mkflood.js" "$WORK/random.pcap" "$MAC" "$SRV4" 7000 65536 random-ports
fi
want memory && node "$ROOT/dist/test/helpers/mkflood.js" "$WORK/million.pcap" "$MAC" "$SRV4" 7000 "$MILLION"
JSONL="$WORK/results.jsonl"
: >"$JSONL"

# config NAME MODE SEQ_TIMEOUT: MODE command (knockd-style iptables commands) or nft (our grants)
config() {
  local f="$WORK/$1.conf"
  {
    echo "[options]"
    echo "	LogFile = $WORK/$1.log"
    if [ "$1" = ours ]; then
      echo "	StateDir = $WORK/state"
      echo "	ControlSocket = $WORK/knockd.sock"
      [ "$2" = nft ] && echo "	Firewall = nftables"
    fi
    echo "[openSSH]"
    echo "	sequence = 7000,8000,9000"
    echo "	seq_timeout = $3"
    echo "	tcpflags = syn"
    if [ "$2" = nft ]; then echo "	Open = tcp/22"; echo "	Open_Timeout = 60"; else
      echo "	command = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"
    fi
    echo "[closeSSH]"
    echo "	sequence = 9000,8000,7000"
    echo "	seq_timeout = $3"
    echo "	tcpflags = syn"
    if [ "$2" = nft ]; then echo "	Close = tcp/22"; else
      echo "	command = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT"
    fi
  } >"$f"
  echo "$f"
}

DPID=0
# Latency runs put the server (daemon) and the client (knocker, poller, its capture) on different
# CPUs, as two machines would: on a shared CPU the woken daemon waits for the client's poll loop
# (0.89 ms median from the kernel's receive to our code, 0.18 ms on a CPU of its own). Floods and
# memory runs are not pinned; on one CPU nothing is.
SPIN="" CPIN=""
[ "$(nproc)" -ge 2 ] && SPIN="taskset -c 1" CPIN="taskset -c 0"
PIN="" # set to $SPIN around the latency runs
start_daemon() { # start_daemon NAME CONF
  : >"$WORK/$1.log"
  if [ "$1" = ours ]; then
    ip netns exec "$SRV" $PIN "$ROOT/bin/knockd" -i veth-s -c "$2" >"$WORK/$1.out" 2>&1 &
  else
    ip netns exec "$SRV" $PIN /usr/sbin/knockd -i veth-s -c "$2" >"$WORK/$1.out" 2>&1 &
  fi
  DPID=$!
  wait_until 10 grep -q 'starting up' "$WORK/$1.log" || { echo "daemon $1 did not start"; cat "$WORK/$1.out"; exit 1; }
}
stop_daemon() {
  kill "$DPID" 2>/dev/null
  # knockd sometimes hangs in its SIGTERM handler after a flood: bounded wait, then -9.
  wait_until 5 sh -c "! kill -0 $DPID 2>/dev/null" || kill -9 "$DPID" 2>/dev/null
  wait "$DPID" 2>/dev/null
  in_srv iptables -F INPUT
  tutorial_firewall
  in_srv nft delete table inet knockd 2>/dev/null || true
}
TICKS=$(getconf CLK_TCK)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # utime + stime (comm has no spaces here)
rss_kb() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
# Where a process's resident memory is, as JSON fields: anonymous, the node
# binary's pages (shared with every node process), the capture ring (a
# packet socket's mapping), everything else file-backed.
mem_parts() {
  awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$6} /^Rss:/{
      if (name ~ /\/node$/) bin += $2; else if (name ~ /^socket:/) ring += $2
    }
    END {printf "\"node_bin_kb\":%d,\"ring_kb\":%d", bin, ring}' "/proc/$1/smaps"
  printf ',"anon_kb":%d' "$(rss_kb "$1" RssAnon)"
}
dropped() { # capture drops as the daemon reports them (ours only)
  [ "$1" = ours ] || { echo null; return; }
  in_srv "$ROOT/bin/knockctl" -s "$WORK/knockd.sock" --json status | sed -n 's/.*"dropped": \([0-9]*\).*/\1/p' | head -1
}

# flood_trial NAME KIND RATE PCAP
flood_trial() {
  local name=$1 kind=$2 rate=$3 pcap=$4
  start_daemon "$name" "$(config "$name" command 5)"
  local speed=(--pps="$rate")
  [ "$rate" = 0 ] && speed=(--topspeed)
  local cpu0
  cpu0=$(cpu_ticks "$DPID")
  in_cli timeout $((FLOOD_SECS + 10)) tcpreplay "${speed[@]}" --loop=0 --duration="$FLOOD_SECS" -i veth-c "$pcap" >"$WORK/replay.out" 2>&1 &
  local rp=$!
  sleep 1.5
  in_cli "$KNOCK" "$SRV4" 7000 8000 9000
  local ok=false
  wait_until 4 in_srv iptables -C INPUT -s "$CLI4" -p tcp --dport 22 -j ACCEPT 2>/dev/null && ok=true
  wait "$rp"
  # The daemon's user + system CPU over the flood (the queue drains first:
  # wait until two reads 100 ms apart agree, at most 3 s).
  local cpu1 prev=-1 k
  for k in $(seq 30); do
    cpu1=$(cpu_ticks "$DPID")
    [ "$cpu1" = "$prev" ] && break
    prev=$cpu1
    sleep 0.1
  done
  local sent pkts
  sent=$(sed -n 's/.*Rated: .*, \([0-9.]*\) pps.*/\1/p' "$WORK/replay.out" | head -1)
  pkts=$(sed -n 's/.*Actual: \([0-9]*\) packets.*/\1/p' "$WORK/replay.out" | head -1)
  local peak drops lines
  peak=$(rss_kb "$DPID" VmHWM)
  drops=$(dropped "$name")
  lines=$(wc -l <"$WORK/$name.log")
  local cpu=$(((cpu1 - cpu0) * 1000 / TICKS)) # ms
  echo "{\"test\":\"flood\",\"daemon\":\"$name\",\"kind\":\"$kind\",\"rate\":$rate,\"sent_pps\":${sent:-0},\"packets\":${pkts:-0},\"cpu_ms\":$cpu,\"opened\":$ok,\"peak_rss_kb\":${peak:-0},\"dropped\":${drops:-null},\"log_lines\":$lines${TAG:+,\"tag\":\"$TAG\"}}" >>"$JSONL"
  printf '  %-6s %-6s rate %-7s sent %8s pps  opened %-5s  peak RSS %6s kB  dropped %s  log lines %s  CPU %s ms for %s packets\n' "$name" "$kind" "${rate/#0/top}" "${sent:-?}" "$ok" "$peak" "${drops:-n/a}" "$lines" "$cpu" "${pkts:-?}"
  stop_daemon
}

want floods && {
# FLOOD_KINDS, FLOOD_RATES and FLOOD_DAEMONS narrow the matrix (ring and batch size trials).
read -ra KINDS <<<"${FLOOD_KINDS:-first random}"
[ -n "${FLOOD_RATES:-}" ] && read -ra RATES <<<"$FLOOD_RATES"
read -ra DAEMONS <<<"${FLOOD_DAEMONS:-ours knockd}"
echo "== (a, b) floods: ${RATES[*]} packets/s (0 = tcpreplay's top speed), ${FLOOD_SECS} s each"
for kind in "${KINDS[@]}"; do
  for rate in "${RATES[@]}"; do
    for name in "${DAEMONS[@]}"; do flood_trial "$name" "$kind" "$rate" "$WORK/$kind.pcap"; done
  done
done

}

{ want latency || want spa; } && {
echo "== (c) knock-to-open latency, $ROUNDS knocks each"
# wire_start / wire_stop KIND: a kernel-stamped capture on the client's veth
# around one latency run, turned into samples by bench/wire.ts (appended to
# $WORK/lat.json's row as wire_samples).
wire_start() {
  in_cli $CPIN tcpdump -i veth-c -n -U -s 96 --time-stamp-precision=nano -w "$WORK/wire.pcap" \
    'udp dst port 62201 or tcp[tcpflags] & tcp-syn != 0' >/dev/null 2>"$WORK/wire.err" &
  WPID=$!
  PIDS+=("$WPID")
  wait_until 5 grep -q 'listening on' "$WORK/wire.err" || { echo "tcpdump did not start"; cat "$WORK/wire.err"; exit 1; }
}
wire_stop() {
  kill "$WPID" 2>/dev/null
  wait "$WPID" 2>/dev/null
  local w
  w=$(node "$ROOT/dist/bench/wire.js" "$WORK/wire.pcap" "$1" | sed 's/^{//; s/}$//')
  sed -i "s/}\$/,$w}/" "$WORK/lat.json"
}
latency() { # latency NAME MODE
  start_daemon "$1" "$(config "$1" "$2" 1)"
  [ "$2" = nft ] && in_srv iptables -F INPUT # nftables: our table is the guard
  local idle
  idle=$(rss_kb "$DPID" VmRSS)
  wire_start
  in_cli $CPIN node "$ROOT/dist/bench/latency.js" "$SRV4" "$ROUNDS" 1200 >"$WORK/lat.json"
  wire_stop knock
  echo "{\"test\":\"latency\",\"daemon\":\"$1\",\"mode\":\"$2\",\"idle_rss_kb\":$idle,$(sed 's/^{//' "$WORK/lat.json")" >>"$JSONL"
  echo "  $1 ($2): done"
  stop_daemon
}
# SPA-to-open: the stock fwknop client's packets (HMAC + Rijndael keys from
# fwknop --key-gen) to our daemon (capture path, nftables grant) and to
# Debian's fwknopd 2.6.10 (its stock pcap mode, its own iptables rules), one
# access.conf for both. FW_ACCESS_TIMEOUT 1: each round waits for the expiry.
spa_latency() { # spa_latency ours|fwknopd
  local keys k h
  keys=$(fwknop --key-gen --no-rc-file)
  k=$(echo "$keys" | sed -n 's/^KEY_BASE64: //p')
  h=$(echo "$keys" | sed -n 's/^HMAC_KEY_BASE64: //p')
  printf 'SOURCE ANY\n    KEY_BASE64 %s\n    HMAC_KEY_BASE64 %s\n    OPEN_PORTS tcp/22\n    FW_ACCESS_TIMEOUT 1\n' "$k" "$h" >"$WORK/access.conf"
  chmod 600 "$WORK/access.conf"
  if [ "$1" = ours ]; then
    local conf
    conf=$(config ours nft 1)
    sed -i "/^\[options\]/a SPA_Access = $WORK/access.conf" "$conf"
    start_daemon ours "$conf"
    in_srv iptables -F INPUT # nftables: our table is the guard
  else
    # fwknopd's defaults (pcap on the interface, PCAP_LOOP_SLEEP 100 ms); -f keeps it ours to kill by pid.
    mkdir -p "$WORK/fwknop-run"
    printf 'PCAP_INTF veth-s;\n' >"$WORK/fwknopd.conf"
    chmod 600 "$WORK/fwknopd.conf"
    : >"$WORK/fwknopd.out"
    ip netns exec "$SRV" $SPIN fwknopd -f -i veth-s -c "$WORK/fwknopd.conf" -a "$WORK/access.conf" \
      -d "$WORK/fwknop-run/digest.cache" -p "$WORK/fwknop-run/fwknopd.pid" -r "$WORK/fwknop-run" >"$WORK/fwknopd.out" 2>&1 &
    DPID=$!
    wait_until 10 grep -q 'Starting fwknopd' "$WORK/fwknopd.out" || { echo "fwknopd did not start"; cat "$WORK/fwknopd.out"; exit 1; }
    sleep 0.5 # pcap opens after the banner; no later line to wait for
  fi
  wire_start
  in_cli $CPIN node "$ROOT/dist/bench/spa-latency.js" "$SRV4" "$ROUNDS" "$WORK/spa.pkt" "$k" "$h" "$CLI4" >"$WORK/lat.json"
  wire_stop spa
  echo "{\"test\":\"latency\",\"daemon\":\"$1\",\"mode\":\"spa\",$(sed 's/^{//' "$WORK/lat.json")" >>"$JSONL"
  echo "  $1 (SPA): done"
  stop_daemon
}
PIN=$SPIN
if [ "${ONLY:-}" != spa ]; then
  latency ours command
  latency knockd command
  latency ours nft
fi
spa_latency ours
spa_latency fwknopd
PIN=""
}

want memory && {
echo "== (d) peak RSS with $MILLION distinct spoofed sources at top speed"
# What any Node program costs here, idle: a bare node, and an empty ES module.
echo 'setTimeout(() => {}, 3000);' >"$WORK/idle.mjs"
for f in bare esm; do
  if [ "$f" = bare ]; then node -e 'setTimeout(() => {}, 3000)' & else node "$WORK/idle.mjs" & fi
  p=$!
  sleep 1.5
  echo "{\"test\":\"node-floor\",\"kind\":\"$f\",\"rss_kb\":$(rss_kb "$p" VmRSS),$(mem_parts "$p")}" >>"$JSONL"
  wait "$p"
done
for name in ours knockd; do
  start_daemon "$name" "$(config "$name" command 5)"
  idle=$(rss_kb "$DPID" VmRSS)
  parts=$(mem_parts "$DPID")
  in_cli timeout 60 tcpreplay --topspeed -i veth-c "$WORK/million.pcap" >"$WORK/replay.out" 2>&1
  sleep 1
  peak=$(rss_kb "$DPID" VmHWM)
  drops=$(dropped "$name")
  echo "{\"test\":\"million\",\"daemon\":\"$name\",\"sources\":$MILLION,\"idle_rss_kb\":$idle,\"peak_rss_kb\":$peak,\"dropped\":${drops:-null},$parts}" >>"$JSONL"
  echo "  $name: idle $idle kB, peak $peak kB, dropped ${drops:-n/a}"
  stop_daemon
done

}

want core && {
echo "== (e) offline core throughput"
node "$ROOT/dist/bench/core.js" 2000000 | sed 's/^{/{"test":"core",/' >>"$JSONL"
tail -1 "$JSONL"
# The same with the V8 flags bin/knockd runs under (memory over speed).
node --max-semi-space-size=2 --optimize-for-size "$ROOT/dist/bench/core.js" 2000000 | sed 's/^{/{"test":"core-daemon-flags",/' >>"$JSONL"
tail -1 "$JSONL"
# knockd -r against tcpdump -r on the same file with the same filter.
REPEAT=3 bash "$ROOT/bench/replay.sh" 2000000 | grep '^{"test":"replay"' >>"$JSONL"
tail -3 "$JSONL"

}

if [ -n "${ONLY:-}" ]; then
  cat "$JSONL"
  exit 0
fi
node "$ROOT/dist/bench/report.js" "$JSONL" "$OUT" "$ROOT/docs" "$(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -r)"
