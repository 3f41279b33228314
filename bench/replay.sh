#!/usr/bin/env bash
# knockd -r against tcpdump -r: the same pcap file (bench/core.ts's: spoofed
# first knocks from 1,000,000 sources and a full sequence every 1,000
# packets) and the same filter (the doors' filter, as knockd -D prints it).
# Throughput is packets per CPU second (user + system, from /usr/bin/time),
# so time spent descheduled on a shared machine does not count; each run is
# repeated and the range is printed. No root, no network: files only.
# usage: bench/replay.sh [PACKETS]   (REPEAT=n, default 3)
set -euo pipefail
# Node programs here run in the environment a service has (systemd passes
# none of a login shell's). This machine's shell sets NODE_EXTRA_CA_CERTS for
# its proxy, which makes every node process parse 144 certificates at start:
# about 0.09 s of CPU and 2 MB of RSS that a knockd service never pays.
unset NODE_EXTRA_CA_CERTS
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
N="${1:-2000000}"
REPEAT="${REPEAT:-3}"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cat >"$WORK/knockd.conf" <<CONF
[openSSH]
	sequence = 7000,8000,9000
	seq_timeout = 5
	tcpflags = syn
	command = /sbin/iptables -I INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
[closeSSH]
	sequence = 9000,8000,7000
	seq_timeout = 5
	tcpflags = syn
	command = /sbin/iptables -D INPUT -s %IP% -p tcp --dport 22 -j ACCEPT
CONF
core=$(BENCH_PCAP="$WORK/core.pcap" REPEAT="$REPEAT" node "$ROOT/dist/bench/core.js" "$N")
echo "core (decode + state machine, in process): $core"
# The filter knockd would set on the wire, read from its own debug output.
head -c $((24 + 16 + 54)) "$WORK/core.pcap" >"$WORK/one.pcap"
filter=$("$ROOT/bin/knockd" -D -c "$WORK/knockd.conf" -r "$WORK/one.pcap" | sed -n 's/.*adding pcap expression: //p' | head -1)
[ -n "$filter" ] || { echo "no filter from knockd -D"; exit 1; }
cpu() { # cpu OUTFILE CMD...: runs CMD, prints its user+system seconds
  local out=$1
  shift
  /usr/bin/time -f '%U %S' -o "$WORK/time" "$@" >"$out" 2>"$WORK/err" || { cat "$WORK/err"; exit 1; }
  awk '{printf "%.3f", $1 + $2}' "$WORK/time"
}
for r in $(seq "$REPEAT"); do
  t_w=$(cpu /dev/null tcpdump -r "$WORK/core.pcap" -w /dev/null "$filter")
  t_k=$(cpu "$WORK/knockd.out" "$ROOT/bin/knockd" -c "$WORK/knockd.conf" -r "$WORK/core.pcap")
  inproc=$(sed -n 's/^replay: .* s: \([0-9]*\) packets\/s$/\1/p' "$WORK/knockd.out")
  opens=$(sed -n 's/^replay: opens by door: //p' "$WORK/knockd.out")
  awk -v n="$N" -v w="$t_w" -v k="$t_k" -v i="$inproc" -v o="$opens" 'BEGIN {
    printf "{\"test\":\"replay\",\"packets\":%d,\"tcpdump_w_pps\":%d,\"knockd_r_pps\":%d,\"knockd_r_loop_pps\":%d,\"ratio_vs_tcpdump\":%.2f,\"opens\":\"%s\"}\n",
      n, n / w, n / k, i, w / k, o }'
done
