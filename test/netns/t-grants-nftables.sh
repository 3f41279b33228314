#!/usr/bin/env bash
# Grants with the nftables backend (see grants-common.sh).
BACKEND=nftables
. "$(dirname "$0")/grants-common.sh"
