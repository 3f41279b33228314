#!/usr/bin/env bash
# Installs knockd-ts on a server (Debian 12), as root:
#   sudo scripts/install.sh [--enable] [--prefix DIR] [--tarball FILE] [--dry-run]
#   sudo scripts/install.sh --uninstall [--prefix DIR] [--dry-run]
#   scripts/install.sh --sample-config        # print the sample /etc/knockd.conf
#
# It installs only what production needs (libpcap-dev, a compiler and python3
# for the capture addon, nftables, libnftables-dev for the nftables addon,
# Node.js if missing; no test peers), packs this checkout with npm and
# installs the tarball globally, and adds the
# knockd system user, the systemd unit, a sample /etc/knockd.conf (an existing
# one is kept), /etc/default/knockd, a logrotate file and the man pages (npm
# links them from the package). It starts nothing unless --enable is given.
# Running it again is safe: every step checks first.
set -euo pipefail
# What it installs runs as root (--check) and with the daemon's capabilities:
# a caller's umask 000 or 002 must not leave any of it writable by others.
umask 022

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PREFIX=/usr/local
ENABLE=0
UNINSTALL=0
DRY=0
TARBALL=""
MARK="# Installed by knockd-ts scripts/install.sh; --uninstall removes this file."

usage() {
  sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
}

# The sample config: an nftables grant of tcp/22 behind a sequence drawn at
# install time (a well-known sample sequence would be no secret at all).
sample_config() {
  local a b c
  read -r a b c < <(shuf -i 10000-60000 -n 3 | paste -sd ' ')
  cat <<CONF
# knockd-ts configuration (see knockd(8) and the README).
# The sequence below was drawn at random when this file was installed.
# Knock with:  knock SERVER $a $b $c   (then ssh within Open_Timeout seconds)
[options]
	Firewall      = nftables
	# The unit runs knockd as the knockd user: its socket lives in
	# RuntimeDirectory (use: knockctl -s /run/knockd/knockd.sock status).
	ControlSocket = /run/knockd/knockd.sock
	# StateDir defaults to /var/lib/knockd (the unit's StateDirectory).
	# Logs go to the journal; for a file instead (rotated by
	# /etc/logrotate.d/knockd):
	# LogFile = /var/log/knockd/knockd.log
	# Metrics = 127.0.0.1:9560
	# Interface defaults to eth0, or to the default route's interface.
	Include       = /etc/knockd.d/*.conf

[openSSH]
	sequence     = $a,$b,$c
	seq_timeout  = 10
	tcpflags     = syn
	Open         = tcp/22
	Open_Timeout = 30

[closeSSH]
	sequence     = $c,$b,$a
	seq_timeout  = 10
	tcpflags     = syn
	Close        = tcp/22
CONF
}

while [ $# -gt 0 ]; do
  case "$1" in
  --enable) ENABLE=1 ;;
  --uninstall) UNINSTALL=1 ;;
  --dry-run | -n) DRY=1 ;;
  --prefix)
    PREFIX="${2:?--prefix needs a directory}"
    shift
    ;;
  --prefix=*) PREFIX="${1#--prefix=}" ;;
  --tarball)
    TARBALL="${2:?--tarball needs a file}"
    shift
    ;;
  --tarball=*) TARBALL="${1#--tarball=}" ;;
  --sample-config)
    sample_config
    exit 0
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    echo "install.sh: unknown argument '$1'" >&2
    usage >&2
    exit 64
    ;;
  esac
  shift
done
case "$PREFIX" in /*) ;; *)
  echo "install.sh: --prefix must be an absolute path, got '$PREFIX'" >&2
  exit 64
  ;;
esac
if [ "$ENABLE" = 1 ] && [ "$UNINSTALL" = 1 ]; then
  echo "install.sh: --enable and --uninstall exclude each other" >&2
  exit 64
fi
if [ "$DRY" = 0 ] && [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (sudo scripts/install.sh), or try --dry-run" >&2
  exit 77
fi

say() { printf 'install: %s\n' "$*"; }
# run CMD...: runs it, or with --dry-run only shows it.
run() {
  if [ "$DRY" = 1 ]; then printf '+ %s\n' "$*"; else "$@"; fi
}
# put PATH MODE OWNER: writes stdin to PATH atomically with that mode and owner.
put() {
  if [ "$DRY" = 1 ]; then
    printf '+ write %s (mode %s, owner %s)\n' "$1" "$2" "$3"
    grep '^ExecStart=' | sed 's/^/    /' || true
    return
  fi
  local tmp
  tmp="$(mktemp "$1.XXXXXX")"
  cat >"$tmp"
  chmod "$2" "$tmp"
  chown "$3" "$tmp"
  mv -f "$tmp" "$1"
}
ours() { [ -f "$1" ] && grep -qF "$MARK" "$1"; }
# --dry-run shows what would happen on a host running systemd.
have_systemd() { [ "$DRY" = 1 ] || [ -d /run/systemd/system ]; }
UNIT=/etc/systemd/system/knockd.service
KNOCKD="$PREFIX/bin/knockd"

uninstall() {
  if [ -f "$UNIT" ] && grep -q 'knockd-ts' "$UNIT"; then
    have_systemd && run systemctl disable --now knockd.service
    run rm -f "$UNIT"
    have_systemd && run systemctl daemon-reload
  fi
  # A stopped daemon fails closed: its nftables guard (or iptables chain)
  # stays. Once it is gone for good nothing could open them again, so they go.
  if command -v nft >/dev/null && nft list table inet knockd >/dev/null 2>&1; then
    say "removing nftables table inet knockd (the guard)"
    run nft delete table inet knockd
  fi
  local ipt
  for ipt in iptables ip6tables; do
    if command -v "$ipt" >/dev/null && "$ipt" -n -L KNOCKD >/dev/null 2>&1; then
      say "removing the $ipt chain KNOCKD"
      while "$ipt" -C INPUT -j KNOCKD 2>/dev/null && [ "$DRY" = 0 ]; do "$ipt" -D INPUT -j KNOCKD; done
      run "$ipt" -F KNOCKD
      run "$ipt" -X KNOCKD
    fi
  done
  local f
  for f in /etc/logrotate.d/knockd /etc/default/knockd; do
    if ours "$f"; then run rm -f "$f"; elif [ -e "$f" ]; then say "kept $f (not ours)"; fi
  done
  if [ -d "$PREFIX/lib/node_modules/knockd-ts" ]; then
    run npm uninstall -g --prefix "$PREFIX" --no-audit --no-fund --loglevel=error knockd-ts
  fi
  if [ -d /var/lib/knockd ]; then run rm -rf /var/lib/knockd; fi
  if getent passwd knockd >/dev/null; then
    [ -d /var/log/knockd ] && run chown -R root:root /var/log/knockd
    run userdel knockd
  fi
  say "removed knockd-ts; kept /etc/knockd.conf, /etc/knockd.d and /var/log/knockd"
}

# Production dependencies only: the addon's build tools, a firewall, Node.js.
ensure_packages() {
  local pkgs=(libpcap-dev build-essential python3 nftables libnftables-dev) missing=() p
  if ! command -v node >/dev/null; then
    local cand
    cand="$(apt-cache policy nodejs 2>/dev/null | awk '/Candidate:/ {print $2}')"
    cand="${cand#*:}"
    if [ "${cand%%.*}" -ge 20 ] 2>/dev/null; then
      pkgs+=(nodejs)
    else
      echo "install.sh: Node.js >= 20 is needed and apt offers '${cand:-none}' (Debian 12 ships 18)." >&2
      echo "  Install Node.js 20 or later first (e.g. https://github.com/nodesource/distributions), then re-run." >&2
      exit 69
    fi
  elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "install.sh: Node.js >= 20 is needed, found $(node -v); upgrade it and re-run." >&2
    exit 69
  fi
  say "production packages: ${pkgs[*]} (and npm)"
  for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # NodeSource's nodejs carries npm; Debian's (13 and later) needs the npm package.
  if ! command -v npm >/dev/null && [[ " ${missing[*]} " != *" nodejs "* ]]; then missing+=(npm); fi
  if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    run apt-get update -qq
    run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    if [[ " ${missing[*]} " == *" nodejs "* ]] && [ "$DRY" = 0 ] && ! command -v npm >/dev/null; then
      run env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends npm
    fi
  fi
}

# Packs a clean copy of the checkout, so root never writes into it.
pack() {
  if [ -n "$TARBALL" ]; then
    TGZ="$(cd "$(dirname "$TARBALL")" && pwd)/$(basename "$TARBALL")"
    return
  fi
  TMP="$(mktemp -d)"
  trap 'rm -rf "$TMP"' EXIT
  mkdir "$TMP/tree"
  say "packing $ROOT"
  if [ "$DRY" = 1 ]; then
    printf '+ npm pack (in a copy of %s)\n' "$ROOT"
    TGZ="$TMP/knockd-ts.tgz"
    return
  fi
  tar -C "$ROOT" --exclude=./node_modules --exclude=./dist --exclude=./native/pcap/build --exclude=./native/nft/build --exclude=./native/spa/build \
    --exclude=./.git --exclude=./bench/out -cf - . | tar -C "$TMP/tree" --no-same-owner -xf -
  if [ -x "$ROOT/node_modules/.bin/tsc" ]; then
    ln -s "$ROOT/node_modules" "$TMP/tree/node_modules"
  else
    # The build tools (TypeScript) only; no install scripts run here.
    (cd "$TMP/tree" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  fi
  (cd "$TMP/tree" && npm pack --pack-destination "$TMP" --loglevel=error >/dev/null)
  TGZ="$(ls "$TMP"/knockd-ts-*.tgz)"
}

install_package() {
  local allow=()
  # npm 11 asks for an allowance for install scripts; older npm has no such option.
  if npm config ls -l 2>/dev/null | grep -q '^allow-scripts '; then allow=(--allow-scripts="file:$TGZ"); fi
  # Node's own headers, when installed and of the running version, spare
  # node-gyp a download (NodeSource's nodejs and Debian's libnode-dev ship them).
  local h=/usr/include/node/node_version.h nodedir=()
  if [ -f "$h" ] && [ "$(awk '/define NODE_(MAJOR|MINOR|PATCH)_VERSION/ {printf "%s%s", s, $3; s="."}' "$h")" = \
    "$(node -p process.versions.node)" ]; then nodedir=(--nodedir=/usr); fi
  say "npm install -g --prefix $PREFIX $(basename "$TGZ") (builds the capture addon)"
  run npm install -g "${nodedir[@]}" --prefix "$PREFIX" --no-audit --no-fund --loglevel=error "${allow[@]}" "$TGZ"
  local addon="$PREFIX/lib/node_modules/knockd-ts/native/pcap/build/Release/knockpcap.node"
  if [ "$DRY" = 0 ] && [ ! -f "$addon" ]; then
    echo "install.sh: the capture addon did not build ($addon is missing)." >&2
    echo "  See: npm rebuild -g --prefix $PREFIX --foreground-scripts knockd-ts" >&2
    exit 1
  fi
  # Not fatal: without it, Firewall = nftables applies changes with an nft -i process.
  if [ "$DRY" = 0 ] && [ ! -f "$PREFIX/lib/node_modules/knockd-ts/native/nft/build/Release/knocknft.node" ]; then
    say "note: the libnftables addon did not build; nftables changes will go through nft -i"
  fi
  if [ "$DRY" = 0 ] && [ ! -f "$PREFIX/lib/node_modules/knockd-ts/native/spa/build/Release/knockspa.node" ]; then
    say "note: the SPA crypto addon did not build; SPA verification will use node:crypto"
  fi
}

install_files() {
  if ! getent passwd knockd >/dev/null; then
    say "adding system user knockd"
    run useradd --system --user-group --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin --comment "knockd-ts port-knocking daemon" knockd
  fi

  # The unit, with ExecStart where npm put knockd.
  local src="$PREFIX/lib/node_modules/knockd-ts/packaging/knockd.service"
  [ "$DRY" = 1 ] && src="$ROOT/packaging/knockd.service"
  sed "s|^ExecStart=/usr/local/bin/knockd |ExecStart=$KNOCKD |" "$src" | put "$UNIT" 0644 root:root
  have_systemd && run systemctl daemon-reload

  if [ -e /etc/knockd.conf ]; then
    say "kept /etc/knockd.conf"
    # It holds the sequences and commands: the knockd group may read it, others
    # nothing (Debian's knockd ships it 0644). A link or a file of another
    # owner is left to the admin.
    if [ -f /etc/knockd.conf ] && [ ! -L /etc/knockd.conf ] &&
      [ "$(stat -c %u /etc/knockd.conf)" = 0 ] &&
      [ "$(stat -c '%a %G' /etc/knockd.conf)" != "640 knockd" ]; then
      say "making /etc/knockd.conf readable by the knockd group only (was $(stat -c '%a %U:%G' /etc/knockd.conf))"
      run chgrp knockd /etc/knockd.conf
      run chmod 0640 /etc/knockd.conf
    fi
    if [ "$DRY" = 0 ] && getent passwd knockd >/dev/null &&
      ! setpriv --reuid=knockd --regid=knockd --clear-groups test -r /etc/knockd.conf; then
      say "WARNING: the knockd user cannot read /etc/knockd.conf (chgrp knockd, chmod 0640)"
    fi
  else
    sample_config | put /etc/knockd.conf 0640 root:knockd
    say "wrote a sample /etc/knockd.conf: $(grep -m1 'Knock with' /etc/knockd.conf 2>/dev/null || true)"
  fi
  [ -d /etc/knockd.d ] || run install -d -m 0750 -o root -g knockd /etc/knockd.d

  if [ -e /etc/default/knockd ]; then
    say "kept /etc/default/knockd"
  else
    put /etc/default/knockd 0644 root:root <<EOF
$MARK
# Extra command-line options for knockd (knockd.service), e.g. "-i ens3".
KNOCKD_OPTS=""
EOF
  fi

  # The daemon reopens LogFile on SIGHUP (systemctl reload), so no copytruncate.
  put /etc/logrotate.d/knockd 0644 root:root <<'EOF'
# Installed by knockd-ts scripts/install.sh; --uninstall removes this file.
# Only used when knockd.conf sets LogFile = /var/log/knockd/knockd.log
# (by default knockd logs to the journal).
/var/log/knockd/*.log {
	su knockd knockd
	weekly
	rotate 8
	compress
	delaycompress
	missingok
	notifempty
	sharedscripts
	postrotate
		systemctl reload knockd.service >/dev/null 2>&1 || true
	endscript
}
EOF
}

if [ "$UNINSTALL" = 1 ]; then
  uninstall
  exit 0
fi

ensure_packages
pack
install_package
install_files

# Debian's knockd.conf as shipped opens SSH to anyone who knocks its
# published sample sequence: never start a daemon on it.
debian_sample() {
  local sum
  sum="$(dpkg-query -W -f='${Conffiles}\n' knockd 2>/dev/null | awk '$1 == "/etc/knockd.conf" {print $2}')"
  [ -n "$sum" ] && [ -f /etc/knockd.conf ] && [ "$(md5sum </etc/knockd.conf | cut -d' ' -f1)" = "$sum" ]
}

if [ "$ENABLE" = 1 ] && debian_sample; then
  say "NOT enabling: /etc/knockd.conf is Debian's sample, whose sequence everyone knows."
  say "Write your own doors (scripts/install.sh --sample-config prints one), then: systemctl enable --now knockd"
  exit 1
elif [ "$ENABLE" = 1 ]; then
  run "$KNOCKD" --check -c /etc/knockd.conf
  have_systemd || {
    echo "install.sh: --enable needs systemd" >&2
    exit 1
  }
  say "enabling and starting knockd.service"
  say "NOTE: with the sample config, new SSH connections on the capture interface need a knock;"
  say "      keep this session open and try the knock from another terminal first."
  # restart, not start: a knockd already running (Debian's) is replaced.
  run systemctl enable knockd.service
  run systemctl restart knockd.service
elif [ "$DRY" = 0 ] && have_systemd && systemctl -q is-active knockd.service 2>/dev/null; then
  say "knockd.service is running the old version: systemctl restart knockd (not done here)"
else
  say "installed; nothing started. Edit /etc/knockd.conf, then: systemctl enable --now knockd"
fi
