#!/usr/bin/env bash
# Instructions per request, flexroute against the bare reference server, counted by callgrind.
# Unlike requests/s, instruction counts do not move with whatever else the machine is doing, so
# this is the number to compare before and after a change to the hot path.
#
#   bash benches/profile.sh            # REQUESTS_SECONDS=6 CONNECTIONS=16
#
# Prints instructions/request for each scenario and the ratio bare / flexroute (the throughput
# ratio one would expect if instructions were all that mattered), and leaves the callgrind files
# in target/bench/profile/ for `callgrind_annotate`.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh

SECONDS_PER_RUN=${REQUESTS_SECONDS:-6}
CONNECTIONS=${CONNECTIONS:-16}
OUT=target/bench/profile
mkdir -p "$OUT"
rm -f "$OUT"/callgrind.* "$OUT"/state-*

for tool in valgrind wrk; do
  command -v "$tool" >/dev/null || (apt-get install -y -qq "$tool" >/dev/null 2>&1) ||
    (apt-get update -qq && apt-get install -y -qq "$tool" >/dev/null)
done

cargo build --release --locked --bin flexroute --example bare_server 2>&1 | tail -1
BUILT=${CARGO_TARGET_DIR:-target}/release
FLEXROUTE=$BUILT/flexroute
BARE=$BUILT/examples/bare_server

PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; }
trap cleanup EXIT


# profile NAME URL [LUA] -- COMMAND...: runs COMMAND under callgrind (collection off until it is
# ready), drives it with wrk, prints instructions per request.
profile() {
  local name=$1 url=$2 lua=$3
  shift 4
  valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$OUT/callgrind.$name" \
    "$@" >"$OUT/$name.log" 2>&1 &
  PID=$!
  wait_ready "${url%%/v1/*}/healthz"
  # Warm-up: fr-CA has no pinned address; the sandbox provisions it here, not while counting.
  curl -fsS -o /dev/null "${url%%/v1/*}/v1/webchat/config?site=acme&lang=fr-CA"
  callgrind_control -i on "$PID" >/dev/null
  local args=(-t1 "-c$CONNECTIONS" "-d${SECONDS_PER_RUN}s")
  [ -n "$lua" ] && args+=(-s "$lua")
  local requests
  requests=$(wrk "${args[@]}" "$url" | sed -n 's/^ *\([0-9]*\) requests in.*/\1/p')
  callgrind_control -i off "$PID" >/dev/null
  kill -TERM "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  local total
  total=$(callgrind_annotate "$OUT/callgrind.$name" 2>/dev/null | sed -n 's/^\([0-9,]*\) .*PROGRAM TOTALS.*/\1/p' | tr -d ,)
  echo "$name $requests $total" | awk '{ printf "%-22s %8d requests %10.0f instructions/request\n", $1, $2, $3 / $2 }'
  echo "$name $(( total / requests ))" >>"$OUT/per-request.txt"
}

: >"$OUT/per-request.txt"
BODY=$OUT/body.json
curl_body() { curl -fsS "$1" >"$BODY"; }

write_accept_language_lua "$OUT/accept-language.lua"

HIT=http://127.0.0.1:18280/v1/webchat/config?site=acme\&lang=es-MX
env FLEXROUTE_SERVER_LISTEN=127.0.0.1:18280 FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:18290 \
  FLEXROUTE_SERVER_CONFIG_WATCH_MS=0 FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
  FLEXROUTE_PROVISIONING_STATE=file:$OUT/state-$$ FLEXROUTE_LOG=warn \
  "$FLEXROUTE" serve --config config/flexroute.toml --sandbox >"$OUT/warm.log" 2>&1 &
PID=$!
wait_ready http://127.0.0.1:18280/readyz
curl_body "$HIT"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

# Exported rather than put in front of the command: valgrind must run flexroute itself, not `env`.
export FLEXROUTE_SERVER_LISTEN=127.0.0.1:18280 FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:18290 \
  FLEXROUTE_SERVER_CONFIG_WATCH_MS=0 FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
  FLEXROUTE_PROVISIONING_STATE=file:$OUT/state-$$ FLEXROUTE_LOG=warn
profile bare "http://127.0.0.1:18281/v1/webchat/config?site=acme&lang=es-MX" "" -- "$BARE" 127.0.0.1:18281 "$BODY"
profile cache_hit "$HIT" "" -- "$FLEXROUTE" serve --config config/flexroute.toml --sandbox
profile bare_mix "http://127.0.0.1:18281/v1/webchat/config" "$OUT/accept-language.lua" -- "$BARE" 127.0.0.1:18281 "$BODY"
profile accept_language "http://127.0.0.1:18280/v1/webchat/config" "$OUT/accept-language.lua" -- "$FLEXROUTE" serve --config config/flexroute.toml --sandbox

python3 - "$OUT/per-request.txt" <<'PY'
import sys
n = dict(line.split() for line in open(sys.argv[1]))
n = {k: int(v) for k, v in n.items()}
print(f"cache hit:        bare/flexroute instructions = {n['bare'] / n['cache_hit']:.2f}")
print(f"Accept-Language:  bare/flexroute instructions = {n['bare_mix'] / n['accept_language']:.2f}")
PY
