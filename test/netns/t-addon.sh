#!/usr/bin/env bash
# The libpcap addon re-entered from its own callbacks, on a real veth with
# bursts of UDP from the client: setFilter, an exception and close() from
# inside onBatch, close() from inside onError, onError itself throwing, and
# many close/reopen rounds. The process must never crash or hang, a throw is
# reported to onError while batches keep coming, and after a close no
# callback runs and the packet socket is gone. The reopen rounds also run
# under valgrind when it is installed, where a use-after-free is an error
# even if it does not crash (about 1.5 minutes; ADDON_VALGRIND=0 skips it).
. "$(dirname "$0")/lib.sh"
trap cleanup EXIT
setup_net
HELPER="$ROOT/dist/test/helpers/addon-reentry.js"

# run_mode NAME TIMEOUT BURST CMD...: the helper in the server namespace while
# the client sends bursts of BURST datagrams; a signal or a timeout is a
# failure as much as FAIL lines.
run_mode() {
  local name="$1" secs="$2" burst="$3"
  shift 3
  in_cli timeout "$secs" node "$HELPER" send "$SRV4" "$secs" "$burst" &
  local sender=$!
  PIDS+=($sender)
  in_srv timeout "$secs" "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
  local rc=$?
  kill "$sender" 2>/dev/null
  wait "$sender" 2>/dev/null
  sed 's/^/    | /' "$WORK/$name.out"
  if [ "$rc" -eq 0 ] && grep -q '^RESULT PASS$' "$WORK/$name.out"; then
    log "ok: $name"
  else
    case "$rc" in
      124) fail "$name hung (killed after ${secs}s)" ;;
      1) fail "$name reported a failure" ;;
      *) fail "$name exited with $rc$([ "$rc" -gt 128 ] && echo " (signal $((rc - 128)))")" ;;
    esac
    sed 's/^/    ! /' "$WORK/$name.err" | tail -20
  fi
}

for mode in filter throw error-throws close close-in-error; do
  echo " $mode"
  run_mode "$mode" 25 250 nice node "$HELPER" "$mode" veth-s
done
grep -q 'onError threw' "$WORK/error-throws.err" &&
  log "ok: a throwing onError is reported on stderr, not silenced" ||
  fail "no stderr report when onError threw"

echo " 300 rounds of close and reopen inside onBatch"
run_mode reopen 60 250 nice node "$HELPER" reopen veth-s 300

if [ "${ADDON_VALGRIND:-1}" = 1 ] && command -v valgrind >/dev/null; then
  echo " under valgrind: throw, close, close-in-error and 20 reopen rounds"
  # Only invalid reads/writes matter here; V8's own uninitialised-value noise does not.
  export ADDON_DEADLINE_MS=100000
  VG=(valgrind -q --error-exitcode=99 --undef-value-errors=no --leak-check=no)
  run_mode vg-throw 120 40 nice "${VG[@]}" node "$HELPER" throw veth-s
  run_mode vg-close 120 40 nice "${VG[@]}" node "$HELPER" close veth-s
  run_mode vg-close-in-error 120 40 nice "${VG[@]}" node "$HELPER" close-in-error veth-s
  run_mode vg-reopen 180 40 nice "${VG[@]}" node "$HELPER" reopen veth-s 20
fi
finish
