#!/usr/bin/env bash
# Runs every end-to-end test script (each builds and tears down its own
# namespaces) and prints the totals as "N passed, N failed".
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
pass=0
failn=0
failed=()
for t in "$ROOT"/test/netns/t-*.sh; do
  name="$(basename "$t" .sh)"
  echo "-- $name"
  start=$(date +%s)
  if timeout 300 bash "$t"; then pass=$((pass + 1)); else
    failn=$((failn + 1))
    failed+=("$name")
  fi
  echo "   ($(($(date +%s) - start)) s)"
done
[ "${#failed[@]}" -gt 0 ] && echo "failed: ${failed[*]}"
echo "e2e: $pass passed, $failn failed"
[ "$failn" = 0 ]
