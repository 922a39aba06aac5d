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
# PROFILE_PORT: flexroute's port (bare's is the next, the ops listener's 10 above), so that two
# checkouts can profile at once. ONLY: a regular expression of the scenarios to run.
PORT=${PROFILE_PORT:-18280}
BARE_PORT=$((PORT + 1))
ADMIN_PORT=$((PORT + 10))
ONLY=${ONLY:-.}
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
  [[ $name =~ $ONLY ]] || return 0
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
write_browser_lua "$OUT/browser.lua"
write_explicit_lua "$OUT/explicit.lua"

HIT=http://127.0.0.1:$PORT/v1/webchat/config?site=acme\&lang=es-MX
env FLEXROUTE_SERVER_LISTEN=127.0.0.1:$PORT FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT \
  FLEXROUTE_SERVER_CONFIG_WATCH_MS=0 FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
  FLEXROUTE_PROVISIONING_STATE=file:$OUT/state-$$ FLEXROUTE_LOG=warn \
  "$FLEXROUTE" serve --config config/flexroute.toml --sandbox >"$OUT/warm.log" 2>&1 &
PID=$!
wait_ready http://127.0.0.1:$PORT/readyz
curl_body "$HIT"
kill "$PID"; wait "$PID" 2>/dev/null || true; PID=

# Exported rather than put in front of the command: valgrind must run flexroute itself, not `env`.
export FLEXROUTE_SERVER_LISTEN=127.0.0.1:$PORT FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT \
  FLEXROUTE_SERVER_CONFIG_WATCH_MS=0 FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
  FLEXROUTE_PROVISIONING_STATE=file:$OUT/state-$$ FLEXROUTE_LOG=warn
profile bare "http://127.0.0.1:$BARE_PORT/v1/webchat/config?site=acme&lang=es-MX" "" -- "$BARE" 127.0.0.1:$BARE_PORT "$BODY"
profile cache_hit "$HIT" "" -- "$FLEXROUTE" serve --config config/flexroute.toml --sandbox
profile bare_mix "http://127.0.0.1:$BARE_PORT/v1/webchat/config" "$OUT/accept-language.lua" -- "$BARE" 127.0.0.1:$BARE_PORT "$BODY"
profile accept_language "http://127.0.0.1:$PORT/v1/webchat/config" "$OUT/accept-language.lua" -- "$FLEXROUTE" serve --config config/flexroute.toml --sandbox
# What a browser really sends, and the explicit request with its Origin, each against bare under
# the same generator.
profile bare_browser "http://127.0.0.1:$BARE_PORT/v1/webchat/config" "$OUT/browser.lua" -- "$BARE" 127.0.0.1:$BARE_PORT "$BODY"
profile browser "http://127.0.0.1:$PORT/v1/webchat/config" "$OUT/browser.lua" -- "$FLEXROUTE" serve --config config/flexroute.toml --sandbox
profile bare_explicit "http://127.0.0.1:$BARE_PORT/v1/webchat/config" "$OUT/explicit.lua" -- "$BARE" 127.0.0.1:$BARE_PORT "$BODY"
profile explicit "http://127.0.0.1:$PORT/v1/webchat/config" "$OUT/explicit.lua" -- "$FLEXROUTE" serve --config config/flexroute.toml --sandbox

python3 - "$OUT/per-request.txt" <<'PY'
import sys
n = dict(line.split() for line in open(sys.argv[1]))
n = {k: int(v) for k, v in n.items()}
for label, bare, ours in [("cache hit", "bare", "cache_hit"), ("Accept-Language", "bare_mix", "accept_language"),
                          ("browser request", "bare_browser", "browser"), ("explicit+Origin", "bare_explicit", "explicit")]:
    if bare in n and ours in n:
        print(f"{label + ':':17} bare/flexroute instructions = {n[bare] / n[ours]:.2f}")
PY
