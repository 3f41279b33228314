#!/usr/bin/env bash
# The main job: the knockd tutorial, end to end, inside two throw-away network
# namespaces. Nothing on the host changes. Run as root.
set -uo pipefail
# The configs it writes must not be group-writable (knockd refuses those),
# whatever the caller's umask.
umask 022
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
bash "$ROOT/scripts/setup.sh" >/dev/null || exit 1
RUN_ID="demo$$"
. "$ROOT/test/netns/lib.sh"
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Two namespaces: a server ($SRV4) and a client ($CLI4), joined by a veth pair"
setup_net
say "The tutorial's firewall on the server: keep established connections, drop new SSH"
tutorial_firewall
in_srv iptables -S INPUT | sed 's/^/   /'
say "A stand-in SSH service on port 22"
start_service 22
say "knockd.conf: openSSH 7000,8000,9000 inserts an ACCEPT, closeSSH 9000,8000,7000 deletes it"
tutorial_config "$WORK/knockd.conf"
sed 's/^/   /' "$WORK/knockd.conf"
say "Start knockd -i veth-s (real libpcap capture)"
start_knockd "$WORK/knockd.conf"

say "1. Before knocking: connect to port 22"
expect_closed "$SRV4"
say "2. knock $SRV4 7000 8000 9000"
in_cli "$KNOCK" -v "$SRV4" 7000 8000 9000 | sed 's/^/   /'
wait_log "$WORK/knockd.log" "openSSH: running command"
say "3. After the knock: connect to port 22"
expect_open "$SRV4"
in_srv iptables -S INPUT | sed 's/^/   /'
say "4. knock $SRV4 9000 8000 7000 (closeSSH)"
in_cli "$KNOCK" -v "$SRV4" 9000 8000 7000 | sed 's/^/   /'
wait_log "$WORK/knockd.log" "closeSSH: running command"
wait_rule_gone "$CLI4"
say "5. After closing: connect to port 22"
expect_closed "$SRV4"
say "knockd's log file"
sed 's/^/   /' "$WORK/knockd.log"
if [ "$FAILED" = 0 ]; then say "Demo finished: closed -> knock -> open -> close -> closed"; else say "Demo FAILED"; exit 1; fi
