#!/usr/bin/env bash
# Commands the daemon spawns inherit no descriptor beyond stdin, stdout and
# stderr: in particular not the AF_PACKET socket of the capture, with which
# any command (or whatever it runs) could sniff the interface, nor the
# netfilter netlink socket of libnftables, with which it could rewrite the
# firewall. libpcap and libnftables 1.0.6 open theirs without SOCK_CLOEXEC;
# the addons must set it. Checked for a door's command (run by /bin/sh -c)
# with Firewall = nftables applied in-process (libnftables, the default),
# and, with NftApply = process, for the nft coprocess that an Open door
# writes to, started after the capture is open.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
write_config() { # NftApply value, or nothing for the default
  cat >"$WORK/knockd.conf" <<CONF
[options]
	LogFile = $WORK/knockd.log
	Firewall = nftables
${1:+	NftApply = $1}
[fds]
	sequence    = 7000,8000
	seq_timeout = 5
	command     = ls -l /proc/self/fd > $WORK/fds.txt 2>&1
[openSSH]
	sequence     = 7100,8100
	seq_timeout  = 5
	Open         = tcp/22
	Open_Timeout = 30
CONF
}
write_config
start_knockd "$WORK/knockd.conf" -D

# Inodes of the packet sockets, and of the netfilter netlink (protocol 12)
# sockets, in the server namespace.
packet_inodes() { in_srv awk 'NR > 1 { print $9 }' /proc/net/packet; }
netlink_inodes() { in_srv awk 'NR > 1 && $2 == 12 && $NF != 0 { print $NF }' /proc/net/netlink; }
# fd_targets PID: "N -> target" for each descriptor of PID.
fd_targets() {
  local f
  for f in /proc/"$1"/fd/*; do
    printf '%s -> %s\n' "${f##*/}" "$(readlink "$f" 2>/dev/null)"
  done
}
# leaks FILE: the packet sockets among the "N -> target" lines of FILE.
leaks() {
  local ino
  for ino in $(packet_inodes); do grep -F "socket:[$ino]" "$1"; done
}
# nl_leaks FILE: likewise, the netfilter netlink sockets.
nl_leaks() {
  local ino
  for ino in $(netlink_inodes); do grep -F "socket:[$ino]" "$1"; done
}

echo " the daemon holds a packet socket and a netfilter netlink socket (the things that must not leak)"
grep -q 'firewall: nftables changes are applied in this process (grant changes as netlink messages' "$WORK/knockd.out" &&
  log "ok: -D says the changes are applied in this process" || fail "no libnftables start-up line: $(cat "$WORK/knockd.out")"
fd_targets "$KNOCKD_PID" >"$WORK/daemon-fds"
[ -n "$(leaks "$WORK/daemon-fds")" ] && log "ok: daemon has $(leaks "$WORK/daemon-fds" | wc -l) packet socket(s)" ||
  fail "no packet socket found in the daemon: the checks below would prove nothing"
[ -n "$(nl_leaks "$WORK/daemon-fds")" ] && log "ok: daemon has $(nl_leaks "$WORK/daemon-fds" | wc -l) netfilter netlink socket(s)" ||
  fail "no netfilter netlink socket found in the daemon: the checks below would prove nothing"
[ -z "$(ps -o pid=,comm= --ppid "$KNOCKD_PID" | awk '$2 == "nft"')" ] && log "ok: no nft process" || fail "an nft child with the library path"

echo " a door's command inherits only 0, 1 and 2"
in_cli "$KNOCK" "$SRV4" 7000 8000
expect_log "$WORK/knockd.log" "$CLI4: fds: OPEN SESAME"
wait_until 5 test -s "$WORK/fds.txt" || fail "the command did not run"
# ls -l lines end in "N -> target"; ls's own descriptor is its /proc/<pid>/fd
# directory. Whatever this test itself inherited from its caller (and so the
# daemon too) is the baseline, not a leak of the daemon's.
fd_lines() { sed -nE 's/.* ([0-9]+) -> (.*)$/\1 -> \2/p' "$1" | grep -vE '^[0-9]+ -> /proc/[0-9]+/fd$'; }
in_srv sh -c 'ls -l /proc/self/fd' >"$WORK/base.txt" 2>&1
fd_lines "$WORK/base.txt" | grep -vE '^[012] -> ' >"$WORK/base-fds"
fd_lines "$WORK/fds.txt" >"$WORK/cmd-fds"
extra="$(grep -vE '^[012] -> ' "$WORK/cmd-fds" | grep -vxF -f "$WORK/base-fds")"
if [ -z "$extra" ] && [ "$(wc -l <"$WORK/cmd-fds")" -ge 3 ]; then
  log "ok: the command inherited only 0, 1 and 2 (and the $(wc -l <"$WORK/base-fds") this test inherited)"
else
  fail "the command inherited more than 0, 1, 2:"
  sed 's/^/    | /' "$WORK/cmd-fds"
  [ -n "$(leaks "$WORK/cmd-fds")" ] && fail "among them the capture's packet socket: $(leaks "$WORK/cmd-fds")"
  [ -n "$(nl_leaks "$WORK/cmd-fds")" ] && fail "among them libnftables' netlink socket: $(nl_leaks "$WORK/cmd-fds")"
fi
kill "$KNOCKD_PID"
wait "$KNOCKD_PID" 2>/dev/null

echo " NftApply = process: the nft coprocess, restarted after the capture opened, has no packet socket"
write_config process
: >"$WORK/knockd.log"
start_knockd "$WORK/knockd.conf" -D
grep -q 'firewall: nftables changes are applied by an nft -i process (NftApply = process)' "$WORK/knockd.out" &&
  log "ok: -D says the changes are applied by nft -i" || fail "no nft -i start-up line: $(cat "$WORK/knockd.out")"
nft_pid() { ps -o pid=,comm= --ppid "$KNOCKD_PID" | awk '$2 == "nft" { print $1; exit }'; }
first="$(nft_pid)"
if [ -z "$first" ]; then
  fail "no nft coprocess under the daemon"
else
  # Started before the capture; the daemon starts a new one at the next grant.
  kill "$first"
  wait_until 5 sh -c "[ ! -d /proc/$first ]" || fail "nft coprocess $first did not exit"
  in_cli "$KNOCK" "$SRV4" 7100 8100
  expect_log "$WORK/knockd.log" "$CLI4: openSSH: open tcp/22"
  wait_until 5 sh -c "ps -o pid=,comm= --ppid $KNOCKD_PID | grep -q ' nft$'" || fail "no new nft coprocess"
  second="$(nft_pid)"
  if [ -n "$second" ] && [ "$second" != "$first" ]; then
    fd_targets "$second" >"$WORK/nft-fds"
    if [ -z "$(leaks "$WORK/nft-fds")" ]; then
      log "ok: nft ($second) holds no packet socket"
    else
      fail "nft inherited the capture's packet socket: $(leaks "$WORK/nft-fds")"
    fi
  fi
fi
finish
