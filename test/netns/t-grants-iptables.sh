#!/usr/bin/env bash
# Grants with the iptables backend (see grants-common.sh).
BACKEND=iptables
. "$(dirname "$0")/grants-common.sh"
