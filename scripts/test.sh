#!/usr/bin/env bash
# The whole test suite: set-up, lint and format, unit and property tests,
# then the end-to-end tests in network namespaces. Run as root.
set -uo pipefail
# Files the tests write are the daemon's configs: knockd refuses one that group
# or others can write, so a caller's umask 002 must not make them so.
umask 022
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
bash scripts/setup.sh || exit 1

echo "== lint"
npx eslint . || exit 1
npx prettier --check . >/dev/null || { npx prettier --check . ; exit 1; }

echo "== unit and property tests"
mapfile -t unit < <(find dist/test/unit dist/test/property dist/test/integration -name '*.test.js' | sort)
node --test --test-reporter=spec "${unit[@]}" || exit 1

echo "== fuzz smoke (the full campaign: npm run fuzz, see docs/security.md)"
FUZZ_N=20000 node dist/fuzz/main.js || exit 1

echo "== end-to-end tests (network namespaces)"
bash test/netns/run-all.sh
