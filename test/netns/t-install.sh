#!/usr/bin/env bash
# The npm package: `npm pack` of a clean copy of the tree holds runtime files
# only; `npm install -g` of the tarball into a fresh prefix puts knockd, knock,
# knockctl on its bin/ and the man pages under share/man, and builds the
# capture addon (where the addon cannot build, the install still succeeds and
# the client works). Then the INSTALLED knockd runs the tutorial as nobody
# holding only CAP_NET_RAW and CAP_NET_ADMIN (setpriv standing in for the
# unit's User= and AmbientCapabilities=): once with the tutorial's iptables
# command door, once with an nftables Open grant from the sample config that
# scripts/install.sh writes. Real TCP connects decide.
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
# nobody must reach the prefix and its own directories under $WORK.
chmod 0711 "$WORK"
RUNUSER=nobody
RUNGROUP="$(id -gn nobody)"
CAPS=-all,+net_raw,+net_admin
SETPRIV=(setpriv --reuid="$RUNUSER" --regid="$RUNGROUP" --clear-groups
  --inh-caps="$CAPS" --ambient-caps="$CAPS" --bounding-set="$CAPS")

# --- 0. scripts/install.sh's arguments (--dry-run only: it must not change this host) ---
INSTALL="$ROOT/scripts/install.sh"
host_state() {
  { stat -c '%n %s %Y' /etc/knockd.conf /etc/default/knockd 2>&1
    ls /etc/systemd/system/knockd.service /etc/logrotate.d/knockd /etc/knockd.d 2>&1
    getent passwd knockd || echo "no user"; } | md5sum
}
before="$(host_state)"
# /etc/knockd.conf here is Debian's, as shipped (knockd is a test peer): --enable
# refuses it, and it is made readable by the knockd group only.
"$INSTALL" --dry-run --prefix /opt/kt --enable >"$WORK/dry0.out" 2>&1
rc=$?
if [ "$(stat -c %a /etc/knockd.conf)" != 640 ] && debsum="$(dpkg-query -W -f='${Conffiles}\n' knockd | awk '$1 == "/etc/knockd.conf" {print $2}')" &&
  [ "$(md5sum </etc/knockd.conf | cut -d' ' -f1)" = "$debsum" ]; then
  [ "$rc" = 1 ] && grep -q "^install: NOT enabling: /etc/knockd.conf is Debian's sample" "$WORK/dry0.out" &&
    ! grep -qE '^\+ systemctl (enable|restart)' "$WORK/dry0.out" &&
    log "ok: --enable refuses Debian's sample knockd.conf" || fail "--enable on Debian's sample: rc $rc, $(cat "$WORK/dry0.out")"
  grep -q '^+ chgrp knockd /etc/knockd.conf$' "$WORK/dry0.out" && grep -q '^+ chmod 0640 /etc/knockd.conf$' "$WORK/dry0.out" &&
    log "ok: an existing knockd.conf others can read is given to the knockd group" || fail "a 0644 knockd.conf is left readable by all"
else
  log "note: /etc/knockd.conf here is not Debian's sample as shipped; its checks skipped"
fi
# The enable path, on a config of the admin's own: bound over /etc/knockd.conf in
# a mount namespace of this run only (the host's file is not touched).
printf '[openSSH]\n\tsequence = 41234,51234,31234\n' >"$WORK/own.conf"
chmod 0640 "$WORK/own.conf"
unshare --mount sh -c 'mount --bind "$1" /etc/knockd.conf && exec "$2" --dry-run --prefix /opt/kt --enable' sh \
  "$WORK/own.conf" "$INSTALL" >"$WORK/dry.out" 2>&1 || fail "--dry-run --enable: $(cat "$WORK/dry.out")"
for want in '^install: production packages: libpcap-dev build-essential python3 nftables' \
  '^\+ npm install -g .*--prefix /opt/kt ' '^\+ useradd --system .* knockd$' \
  '^\+ write /etc/systemd/system/knockd.service ' '^    ExecStart=/opt/kt/bin/knockd \$KNOCKD_OPTS$' \
  '^\+ write /etc/logrotate.d/knockd ' '^\+ /opt/kt/bin/knockd --check -c /etc/knockd.conf$' \
  '^\+ systemctl enable knockd.service$' '^\+ systemctl restart knockd.service$'; do
  grep -qE -- "$want" "$WORK/dry.out" || fail "--dry-run --enable lacks /$want/"
done
# /etc/knockd.conf exists here (Debian's knockd is a test peer): it is kept.
grep -q '^install: kept /etc/knockd.conf$' "$WORK/dry.out" || fail "an existing /etc/knockd.conf was not kept"
if grep -E 'tcpreplay|fwknop|valgrind|prometheus|telnet|apt-get install .*knockd' "$WORK/dry.out"; then fail "test peers in a server install"; fi
"$INSTALL" --dry-run >"$WORK/dry2.out" 2>&1
grep -qE '^\+ systemctl (enable|start|restart)' "$WORK/dry2.out" && fail "without --enable something starts"
grep -q 'ExecStart=/usr/local/bin/knockd \$KNOCKD_OPTS' "$WORK/dry2.out" || fail "default prefix is not /usr/local"
"$INSTALL" --dry-run --uninstall >"$WORK/dry3.out" 2>&1 || fail "--dry-run --uninstall"
grep -qE 'rm .*(/etc/knockd\.conf|/etc/knockd\.d)' "$WORK/dry3.out" && fail "--uninstall removes the config"
"$INSTALL" --bogus >/dev/null 2>&1
[ $? = 64 ] || fail "an unknown argument is not exit 64"
"$INSTALL" --enable --uninstall >/dev/null 2>&1
[ $? = 64 ] || fail "--enable --uninstall is not refused"
setpriv --reuid=nobody --regid="$(id -gn nobody)" --clear-groups "$INSTALL" >/dev/null 2>&1
[ $? = 77 ] || fail "a non-root run without --dry-run is not refused"
[ "$(host_state)" = "$before" ] && log "ok: install.sh --dry-run: the actions, config kept, nothing on this host changed" ||
  fail "install.sh --dry-run changed the host"

# --- 1. npm pack from a copy of the working tree (no dist/, no build/) ---
TREE="$WORK/tree"
mkdir "$TREE"
tar -C "$ROOT" --exclude=./node_modules --exclude=./dist --exclude=./native/pcap/build --exclude=./native/nft/build --exclude=./native/spa/build \
  --exclude=./.git --exclude=./bench/out -cf - . | tar -C "$TREE" -xf -
ln -s "$ROOT/node_modules" "$TREE/node_modules"
(cd "$TREE" && npm pack --pack-destination "$WORK" --loglevel=error >"$WORK/pack.out" 2>&1) ||
  fail "npm pack: $(cat "$WORK/pack.out")"
TGZ="$(ls "$WORK"/knockd-ts-*.tgz 2>/dev/null | head -1)"
[ -f "$TGZ" ] || {
  fail "no tarball"
  finish
}
tar -tzf "$TGZ" | sed 's|^package/||' | sort >"$WORK/contents"
log "tarball: $(wc -l <"$WORK/contents") files, $(($(stat -c %s "$TGZ") / 1024)) KiB"
missing=""
for f in package.json README.md CHANGELOG.md bin/knockd bin/knock bin/knockctl \
  dist/src/cli/knockd.js dist/src/cli/serve.js dist/src/cli/knock.js dist/src/cli/knockctl.js dist/src/core/config.js \
  native/pcap/binding.gyp native/pcap/src/capture.cc native/nft/binding.gyp native/nft/src/nft.cc native/spa/binding.gyp native/spa/src/spa.cc \
  doc/man/knockd.8 doc/man/knock.1 \
  doc/man/knockctl.8 packaging/knockd.service; do
  grep -qxF "$f" "$WORK/contents" || missing="$missing $f"
done
[ -z "$missing" ] && log "ok: the tarball has the runtime files" || fail "tarball lacks:$missing"
extra="$(grep -E '^(src|test|bench|fuzz|docs|scripts|node_modules|dist/test|dist/bench|native/pcap/build|native/nft/build|native/spa/build)/|\.ts$|\.map$|^tsconfig|^eslint|^package-lock' "$WORK/contents" || true)"
[ -z "$extra" ] && log "ok: no sources, tests or build trees in the tarball" || fail "tarball has dev files: $extra"

# --- 2. npm install -g into fresh prefixes ---
allow=()
npm config ls -l 2>/dev/null | grep -q '^allow-scripts ' && allow=(--allow-scripts="file:$TGZ")
npm_install() { # PREFIX [ENV...]
  local prefix="$1"
  shift
  env "$@" npm install -g --prefix "$prefix" --prefer-offline --no-audit --no-fund \
    --loglevel=error "${allow[@]}" "$TGZ" >"$prefix.out" 2>&1
}
# Where the addon cannot build (no compiler here): the install succeeds, the client runs.
if npm_install "$WORK/noaddon" CXX=/bin/false; then log "ok: install without a working compiler succeeds"; else
  fail "install without a compiler failed"
  cat "$WORK/noaddon.out"
fi
[ ! -e "$WORK/noaddon/lib/node_modules/knockd-ts/native/pcap/build/Release/knockpcap.node" ] ||
  fail "the addon built with CXX=/bin/false?"
"$WORK/noaddon/bin/knock" -V | grep -q '^knock 0' && log "ok: knock runs without the addon" || fail "knock without the addon"
"$WORK/noaddon/bin/knockd" -i lo -c /dev/null >"$WORK/noaddon.run" 2>&1
grep -q 'npm rebuild -g knockd-ts' "$WORK/noaddon.run" && log "ok: knockd without the addon says how to build it" ||
  fail "knockd without the addon: $(cat "$WORK/noaddon.run")"

PREFIX="$WORK/prefix"
if npm_install "$PREFIX"; then log "ok: npm install -g --prefix (with the addon build)"; else
  fail "npm install -g failed"
  cat "$PREFIX.out"
fi
PKG="$PREFIX/lib/node_modules/knockd-ts"
for b in knockd knock knockctl; do
  [ -x "$PREFIX/bin/$b" ] || fail "$PREFIX/bin/$b missing"
done
for m in man8/knockd.8 man1/knock.1 man8/knockctl.8; do
  [ -f "$PREFIX/share/man/$m" ] || fail "man page $m not linked"
done
[ -f "$PKG/native/pcap/build/Release/knockpcap.node" ] && log "ok: the install script built the addon" ||
  fail "the addon was not built: $(tail -20 "$PREFIX.out")"
[ -f "$PKG/native/nft/build/Release/knocknft.node" ] && log "ok: the install script built the libnftables addon" ||
  fail "the libnftables addon was not built: $(tail -20 "$PREFIX.out")"
[ -f "$PKG/native/spa/build/Release/knockspa.node" ] && log "ok: the install script built the SPA crypto addon" ||
  fail "the SPA crypto addon was not built: $(tail -20 "$PREFIX.out")"
"$PREFIX/bin/knockd" -V | grep -q '^knockd 0' && log "ok: bins and man pages in the prefix" || fail "installed knockd -V"
# The installed daemon must not lean on the checkout.
if grep -rqF "$ROOT" "$PKG/bin" "$PKG/dist" 2>/dev/null; then fail "the package refers to $ROOT"; fi

# --- 3. the installed knockd as nobody with two capabilities ---
# start_as DIR CONFIG [ARGS...]: the daemon from the prefix in the server namespace.
start_as() {
  local dir="$1" conf="$2"
  shift 2
  local wrap=()
  if [ "${1:-}" = --proc-subset-pid ]; then
    shift
    # exec keeps one pid from ip netns exec to node, so $! is the daemon.
    wrap=(unshare -m --propagation private sh -c
      'mount -t proc -o subset=pid,hidepid=invisible proc /proc && exec "$@"' sh)
  fi
  ip netns exec "$SRV" "${wrap[@]}" "${SETPRIV[@]}" "$PREFIX/bin/knockd" -c "$conf" -v "$@" \
    >"$dir/knockd.out" 2>&1 &
  KNOCKD_PID=$!
  PIDS+=($KNOCKD_PID)
  wait_until 10 grep -q 'starting up, listening on' "$dir/knockd.out" || {
    fail "knockd did not start as $RUNUSER"
    sed 's/^/    | /' "$dir/knockd.out"
  }
}
# check_identity: uid nobody, and exactly CAP_NET_ADMIN (12) and CAP_NET_RAW (13).
check_identity() {
  local st uid eff
  st="$(cat "/proc/$KNOCKD_PID/status")"
  uid="$(awk '/^Uid:/ {print $2, $3, $4, $5}' <<<"$st")"
  eff="$(awk '/^CapEff:/ {print $2}' <<<"$st")"
  local want
  want="$(id -u "$RUNUSER")"
  [ "$uid" = "$want $want $want $want" ] && log "ok: knockd runs as $RUNUSER (uid $want)" || fail "knockd uids: $uid"
  [ "$eff" = 0000000000003000 ] && log "ok: CapEff $eff (net_admin, net_raw only)" || fail "knockd CapEff $eff"
  [ "$(awk '/^CapBnd:/ {print $2}' <<<"$st")" = 0000000000003000 ] || fail "bounding set wider than two caps"
  grep -q "$PREFIX/lib/node_modules/knockd-ts/dist/src/cli/knockd.js" "/proc/$KNOCKD_PID/maps" 2>/dev/null ||
    tr '\0' ' ' <"/proc/$KNOCKD_PID/cmdline" | grep -q "$PREFIX" || fail "the daemon is not the installed one"
}
stop_daemon() {
  kill "$KNOCKD_PID" 2>/dev/null
  wait "$KNOCKD_PID" 2>/dev/null
}
# own_dir NAME: a 0700 directory owned by the daemon's user (StateDir, socket, log).
own_dir() {
  install -d -m 0700 -o "$RUNUSER" -g "$RUNGROUP" "$WORK/$1"
  echo "$WORK/$1"
}

start_service
# 3a. The tutorial: an iptables command door (iptables-nft takes no xtables lock).
log "--- iptables command door ---"
tutorial_firewall
D="$(own_dir ipt)"
tutorial_config "$D/knockd.conf"
sed -i "s|LogFile = .*|LogFile = $D/knockd.log\n\tStateDir = $D/state\n\tControlSocket = $D/knockd.sock|" "$D/knockd.conf"
chown "$RUNUSER:$RUNGROUP" "$D/knockd.conf"
start_as "$D" "$D/knockd.conf" -i veth-s
check_identity
expect_closed "$SRV4"
in_cli "$PREFIX/bin/knock" "$SRV4" 7000 8000 9000
expect_log "$D/knockd.log" "openSSH: OPEN SESAME"
expect_open "$SRV4"
expect_log "$D/knockd.log" "openSSH: running command"
if grep -q 'non-zero status\|could not start\|killed' "$D/knockd.log"; then
  fail "a command failed: $(grep -m1 'non-zero status\|could not start\|killed' "$D/knockd.log")"
fi
in_cli "$PREFIX/bin/knock" "$SRV4" 9000 8000 7000
expect_log "$D/knockd.log" "closeSSH: OPEN SESAME"
wait_rule_gone "$CLI4" 5 && log "ok: closeSSH removed the rule" || fail "the ACCEPT rule is still there"
expect_closed "$SRV4"
[ "$(stat -c %U "$D/state")" = "$RUNUSER" ] && log "ok: StateDir created by $RUNUSER" || fail "StateDir owner $(stat -c %U "$D/state")"
"$PREFIX/bin/knockctl" -s "$D/knockd.sock" status | grep -q 'interface veth-s' &&
  log "ok: installed knockctl talks to the daemon" || fail "knockctl status"
stop_daemon
in_srv iptables -F INPUT
in_srv ip6tables -F INPUT

# 3b. The sample config scripts/install.sh writes: nftables Open = tcp/22.
log "--- nftables Open grant (the sample config) ---"
D="$(own_dir nft)"
install -d -m 0750 -o root -g "$RUNGROUP" "$D/knockd.d"
"$ROOT/scripts/install.sh" --sample-config >"$D/knockd.conf"
read -r a b c < <(sed -n 's/^\s*sequence\s*=\s*\([0-9]*\),\([0-9]*\),\([0-9]*\)$/\1 \2 \3/p' "$D/knockd.conf" | head -1)
[ -n "$c" ] || fail "no sequence in the sample config"
sed -i -e "s|ControlSocket = .*|ControlSocket = $D/knockd.sock\n\tStateDir = $D/state\n\tLogFile = $D/knockd.log|" \
  -e "s|Include .*|Include = $D/knockd.d/*.conf|" "$D/knockd.conf"
chown "$RUNUSER:$RUNGROUP" "$D/knockd.conf"
# As under the unit: no -i (the sample relies on the default route's interface
# when there is no eth0) and a /proc mounted as ProcSubset=pid and
# ProtectProc=invisible mount it, where /proc/net does not exist.
in_srv ip route add default via "$CLI4"
start_as "$D" "$D/knockd.conf" --proc-subset-pid
check_identity
expect_log "$D/knockd.log" "no eth0: listening on veth-s, the interface of the default route"
[ -e "/proc/$KNOCKD_PID/root/proc/net" ] && fail "the daemon's /proc has a /proc/net (not ProcSubset=pid)"
in_srv nft list table inet knockd >/dev/null 2>&1 && log "ok: the nobody daemon installed table inet knockd" || fail "no table inet knockd"
expect_closed "$SRV4"
in_cli "$PREFIX/bin/knock" "$SRV4" "$a" "$b" "$c"
expect_log "$D/knockd.log" "$CLI4: openSSH: open tcp/22 until"
expect_open "$SRV4"
in_srv nft list set inet knockd grants4 | grep -q "$CLI4" && log "ok: the grant is in the kernel set" || fail "no grant in grants4"
in_cli "$PREFIX/bin/knock" "$SRV4" "$c" "$b" "$a"
expect_log "$D/knockd.log" "$CLI4: openSSH: close tcp/22 \(closed by knock\)"
expect_closed "$SRV4"
grep -qi 'error\|EPERM\|EACCES' "$D/knockd.log" && fail "errors in the log: $(grep -i -m3 'error\|EPERM\|EACCES' "$D/knockd.log")"
stop_daemon

# --- 4. scripts/install.sh for real, in private mount and network namespaces
# where /etc, /var and /usr/local are throw-away overlays (and --uninstall's
# nft/iptables clean-up meets an empty firewall): this host does not change ---
if grep -q 'apt-get install' "$WORK/dry2.out"; then
  log "skip: the real install.sh run (it would install packages on this host)"
else
  log "--- install.sh, install.sh again, --uninstall (overlays on /etc, /var, /usr/local) ---"
  OVL="$WORK/ovl"
  for d in etc var usr-local; do mkdir -p "$OVL/$d/up" "$OVL/$d/work"; done
  # The new network namespace has no route out: npm takes the dependencies
  # from its cache, which step 2 filled.
  npm_config_prefer_offline=true unshare -m -n --propagation private bash -s "$INSTALL" "$OVL" "$TGZ" >"$WORK/real.out" 2>&1 <<'SH'
set -u
INSTALL="$1" OVL="$2" TGZ="$3"
cd "$OVL" || exit 1
ip link set lo up
ok() { echo "ok: $*"; }
no() { echo "FAIL: $*"; }
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$OVL/etc/up,workdir=$OVL/etc/work" /etc &&
  mount -t overlay overlay -o "lowerdir=/var,upperdir=$OVL/var/up,workdir=$OVL/var/work" /var &&
  mount -t overlay overlay -o "lowerdir=/usr/local,upperdir=$OVL/usr-local/up,workdir=$OVL/usr-local/work" /usr/local ||
  { no "overlay mounts"; exit 1; }
# A host without knockd: Debian's config and default file (test peers) gone.
rm -f /etc/knockd.conf /etc/default/knockd /etc/logrotate.d/knockd /etc/systemd/system/knockd.service
userdel knockd 2>/dev/null
# A caller's umask 000 must not leave anything the daemon runs writable by others.
(umask 000 && "$INSTALL" >install1.out 2>&1) && ok "install.sh ran (under umask 000)" || { no "install.sh: $(tail -5 install1.out)"; exit 1; }
open="$(find /usr/local/lib/node_modules/knockd-ts /etc/knockd.conf /etc/knockd.d /etc/systemd/system/knockd.service \
  ! -type l -perm /022 | head -3)"
[ -z "$open" ] && ok "nothing installed is writable by group or others" || no "writable by others: $open"
/usr/local/bin/knockd -V | grep -q '^knockd 0' && ok "/usr/local/bin/knockd" || no "no /usr/local/bin/knockd"
[ -x /usr/local/bin/knock ] && [ -x /usr/local/bin/knockctl ] || no "knock, knockctl"
[ -f /usr/local/lib/node_modules/knockd-ts/native/pcap/build/Release/knockpcap.node ] || no "addon"
# man finds it on the default manpath (npm links it into /usr/local/share/man/man8).
man -w 8 knockd 2>/dev/null | grep -q '^/usr/local/' && ok "man 8 knockd" || no "man 8 knockd: $(man -w 8 knockd 2>&1)"
IFS=: read -r _ _ _ _ _ home shell < <(getent passwd knockd)
[ "$home:$shell" = /nonexistent:/usr/sbin/nologin ] && [ ! -e /nonexistent ] && ok "user knockd, no shell, no home" ||
  no "user knockd: $home:$shell"
grep -qx 'ExecStart=/usr/local/bin/knockd $KNOCKD_OPTS' /etc/systemd/system/knockd.service && ok "the unit" || no "unit"
[ "$(stat -c '%a %U %G' /etc/knockd.conf)" = "640 root knockd" ] || no "knockd.conf mode $(stat -c '%a %U %G' /etc/knockd.conf)"
[ "$(stat -c '%a %U %G' /etc/knockd.d)" = "750 root knockd" ] || no "knockd.d mode"
setpriv --reuid=knockd --regid=knockd --clear-groups /usr/local/bin/knockd --check -c /etc/knockd.conf >check.out 2>&1 &&
  ok "the knockd user reads the sample config, knockd --check passes" || no "--check: $(cat check.out)"
grep -qE '^\s*Firewall\s*=\s*nftables' /etc/knockd.conf || no "sample: Firewall"
grep -qx 'KNOCKD_OPTS=""' /etc/default/knockd && ok "/etc/default/knockd" || no "default file"
logrotate -d /etc/logrotate.d/knockd >lr.out 2>&1 && ! grep -qi 'error' lr.out && ok "logrotate -d accepts /etc/logrotate.d/knockd" ||
  no "logrotate: $(grep -i error lr.out | head -3)"
grep -q 'systemctl reload knockd' /etc/logrotate.d/knockd || no "logrotate: no reload"
sum1="$(md5sum </etc/knockd.conf)"
# An existing config every user can read (as Debian's knockd ships it) is given to the group.
chgrp root /etc/knockd.conf && chmod 0644 /etc/knockd.conf
"$INSTALL" --tarball "$TGZ" >install2.out 2>&1 && ok "install.sh again (--tarball)" || no "second run: $(tail -5 install2.out)"
[ "$(md5sum </etc/knockd.conf)" = "$sum1" ] && grep -q 'kept /etc/knockd.conf' install2.out && ok "the config was kept" ||
  no "the second run changed /etc/knockd.conf"
[ "$(stat -c '%a %U %G' /etc/knockd.conf)" = "640 root knockd" ] && ok "a kept knockd.conf others could read is 0640 root:knockd" ||
  no "kept knockd.conf mode $(stat -c '%a %U %G' /etc/knockd.conf)"
[ "$(getent passwd knockd | wc -l)" = 1 ] || no "two knockd users"
"$INSTALL" --uninstall >uninstall.out 2>&1 && ok "--uninstall ran" || no "--uninstall: $(tail -5 uninstall.out)"
for f in /usr/local/bin/knockd /usr/local/lib/node_modules/knockd-ts /etc/systemd/system/knockd.service \
  /etc/logrotate.d/knockd /etc/default/knockd; do
  [ -e "$f" ] && no "--uninstall left $f"
done
getent passwd knockd >/dev/null && no "--uninstall left the user"
[ -f /etc/knockd.conf ] && [ -d /etc/knockd.d ] && ok "--uninstall kept /etc/knockd.conf and /etc/knockd.d" ||
  no "--uninstall removed the config"
SH
  grep -E '^(ok|FAIL)' "$WORK/real.out" | sed 's/^/  /' >"$WORK/real.sum"
  cat "$WORK/real.sum"
  grep -q 'FAIL' "$WORK/real.sum" && FAILED=1
  grep -q 'ok: --uninstall kept' "$WORK/real.sum" || fail "the real install.sh run did not finish: $(tail -5 "$WORK/real.out")"
  [ "$(host_state)" = "$before" ] && [ ! -e /usr/local/bin/knockd ] &&
    log "ok: this host is unchanged afterwards" || fail "install.sh changed this host"
fi
finish
