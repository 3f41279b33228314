#!/usr/bin/env bash
# Installs everything knockd-ts needs on Debian 12, as root, and builds it.
# Safe to run again: it skips what is already there.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

PKGS=(libpcap-dev libnftables-dev build-essential python3 iptables nftables iproute2 iputils-ping tcpdump
  tcpreplay knockd fwknop-client fwknop-server telnet netcat-openbsd procps curl prometheus valgrind
  openssh-server openssh-client redis-server gpg gpg-agent openssl)
command -v node >/dev/null 2>&1 || PKGS+=(nodejs npm)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  # Debian's knockd package is a test peer only: keep its service from
  # starting on the host while it is installed.
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
    made_policy=1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  # Test peers only (promtool comes with prometheus): never started at boot here.
  systemctl disable prometheus knockd redis-server fwknop-server >/dev/null 2>&1 || true
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi
echo "setup: building"
npx tsc -p tsconfig.json
if [ ! -f native/pcap/build/Release/knockpcap.node ] || [ native/pcap/src/capture.cc -nt native/pcap/build/Release/knockpcap.node ]; then
  npx node-gyp rebuild --directory native/pcap --loglevel=error >/dev/null
fi
# libnftables in-process (Firewall = nftables); without it the daemon uses `nft -i`.
if [ ! -f native/nft/build/Release/knocknft.node ] || [ native/nft/src/nft.cc -nt native/nft/build/Release/knocknft.node ] ||
  [ native/nft/binding.gyp -nt native/nft/build/Release/knocknft.node ]; then
  npx node-gyp rebuild --directory native/nft --loglevel=error >/dev/null
fi
# SPA's crypto primitives from node's own OpenSSL; without it, node:crypto.
if [ ! -f native/spa/build/Release/knockspa.node ] || [ native/spa/src/spa.cc -nt native/spa/build/Release/knockspa.node ] ||
  [ native/spa/binding.gyp -nt native/spa/build/Release/knockspa.node ]; then
  npx node-gyp rebuild --directory native/spa --loglevel=error >/dev/null
fi
echo "setup: ready (bin/knockd, bin/knock)"
