#!/usr/bin/env bash
# Issue 17's request benchmark: what a browser really sends (`write_browser_lua`), the explicit
# `?site=acme&lang=es-MX` with its `Origin`, and the mix of 20 real `Accept-Language` headers,
# each against the bare reference server under the same wrk script, flexroute and bare
# alternating round by round in one run. Server on core 0, wrk on core 1.
#
#   bash benches/browser.sh              # ROUNDS=9 DURATION=5s CONNECTIONS=64 by default
#
# Per round: requests/s and the server's CPU time per request (user + system, from
# /proc/PID/stat around the round). Prints and writes to target/bench/browser.md the medians,
# the ratios flexroute / bare of each round and their median and spread (min–max).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh

ROUNDS=${ROUNDS:-9}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-64}
OUT=target/bench
mkdir -p "$OUT"

need_load_tools

cargo build --release --locked --bin flexroute --example bare_server 2>&1 | tail -1
BUILT=${CARGO_TARGET_DIR:-target}/release
CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "machine: $CPU, $(nproc) cores, $(uname -r)"

PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

FLEXROUTE_SERVER_LISTEN=127.0.0.1:18380 FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:18390 \
FLEXROUTE_SERVER_CONFIG_WATCH_MS=0 FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
FLEXROUTE_PROVISIONING_STATE="file:$OUT/state-browser-$$" FLEXROUTE_LOG=warn \
  taskset -c 0 "$BUILT/flexroute" serve --config config/flexroute.toml --sandbox \
  >"$OUT/browser-flexroute.log" 2>&1 &
FR_PID=$!; PIDS+=("$FR_PID")
wait_ready http://127.0.0.1:18380/readyz
FR=http://127.0.0.1:18380
curl -fsS "$FR/v1/webchat/config?site=acme&lang=es-MX" -o "$OUT/browser-body.json"
# fr-CA has no pinned address: provisioned now, so that every language of the mix is a hit.
curl -fsS -o /dev/null "$FR/v1/webchat/config?site=acme&lang=fr-CA"
taskset -c 0 "$BUILT/examples/bare_server" 127.0.0.1:18381 "$OUT/browser-body.json" 2>/dev/null &
BARE_PID=$!; PIDS+=("$BARE_PID")
BARE=http://127.0.0.1:18381
wait_ready "$BARE/"

write_browser_lua "$OUT/browser.lua"
write_explicit_lua "$OUT/explicit.lua"
write_accept_language_lua "$OUT/accept-language.lua"
# The browser's request must be answered as the browser's request: es-AR → es-MX, by
# Accept-Language, CORS granted.
curl -fsS -D - -o /dev/null "$FR/v1/webchat/config" -H 'Origin: https://shop.acme.example' \
  -H 'Referer: https://shop.acme.example/products/trail-shoes?color=red&utm_source=newsletter' \
  -H 'Accept-Language: es-AR,es;q=0.9,en-US;q=0.8,en;q=0.7' \
  -H 'Cookie: _ga=GA1.1.1187432908.1732780800; cart=3f9a2c71; session_id=7b1e94d0c2a84f6e' |
  grep -qi '^content-language: es-MX' || { echo "the browser's request is not answered es-MX"; exit 1; }

ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# run NAME PID URL LUA → appends "NAME rps cpu_us_per_request p99_ms" to $OUT/browser-rounds.txt
run() {
  local name=$1 pid=$2 url=$3 lua=$4 before after
  before=$(ticks "$pid")
  taskset -c 1 wrk -t1 "-c$CONNECTIONS" "-d$DURATION" --latency -s "$lua" "$url" >"$OUT/browser-wrk.txt"
  after=$(ticks "$pid")
  python3 - "$name" "$OUT/browser-wrk.txt" "$((after - before))" "$(getconf CLK_TCK)" \
    >>"$OUT/browser-rounds.txt" <<'PY'
import re, sys
name, path, ticks, hz = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
text = open(path).read()
requests = int(re.search(r"(\d+) requests in", text).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
m = re.search(r"99%\s+([\d.]+)(us|ms|s)\b", text)
p99 = float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
if re.search(r"Non-2xx or 3xx responses", text):
    sys.exit(f"{name}: non-2xx answers\n{text}")
print(f"{name} {rps:.0f} {ticks / hz / requests * 1e6:.3f} {p99:.3f}")
PY
  tail -1 "$OUT/browser-rounds.txt"
}

: >"$OUT/browser-rounds.txt"
for round in $(seq 1 "$ROUNDS"); do
  echo "== round $round"
  run browser "$FR_PID" "$FR/v1/webchat/config" "$OUT/browser.lua"
  run bare-browser "$BARE_PID" "$BARE/v1/webchat/config" "$OUT/browser.lua"
  run explicit "$FR_PID" "$FR/v1/webchat/config" "$OUT/explicit.lua"
  run bare-explicit "$BARE_PID" "$BARE/v1/webchat/config" "$OUT/explicit.lua"
  run mix "$FR_PID" "$FR/v1/webchat/config" "$OUT/accept-language.lua"
  run bare-mix "$BARE_PID" "$BARE/v1/webchat/config" "$OUT/accept-language.lua"
done

python3 - "$OUT" "$CPU" "$(nproc)" "$CONNECTIONS" "$DURATION" "$ROUNDS" <<'PY'
import collections, statistics, sys
out, cpu, cores, conns, duration, rounds = sys.argv[1:]
rows = collections.defaultdict(list)
for line in open(f"{out}/browser-rounds.txt"):
    name, rps, cpu_us, p99 = line.split()
    rows[name].append((float(rps), float(cpu_us), float(p99)))
lines = ["# flexroute against bare: the browser's request, the explicit one, the Accept-Language mix", "",
         f"Machine: {cpu}, {cores} cores; server pinned to core 0, wrk (1 thread, {conns} connections, {duration}) to core 1; {rounds} alternating rounds.", "",
         "| scenario | req/s flexroute / bare (medians) | req/s ratio: median of rounds (min–max) | CPU µs/request flexroute / bare (medians) | CPU ratio: median of rounds (min–max) | p99 ms flexroute / bare |",
         "|---|---|---|---|---|---|"]
for name, label in [("browser", "browser's request"), ("explicit", "`?site=acme&lang=es-MX` + Origin"), ("mix", "Accept-Language mix (20 headers)")]:
    fr, bare = rows[name], rows["bare-" + name]
    rps = [f[0] / b[0] for f, b in zip(fr, bare)]
    cpu_ratio = [f[1] / b[1] for f, b in zip(fr, bare)]
    med = lambda rs, i: statistics.median(r[i] for r in rs)
    lines.append(f"| {label} | {med(fr,0):,.0f} / {med(bare,0):,.0f} | **{statistics.median(rps):.3f}** ({min(rps):.3f}–{max(rps):.3f}) | "
                 f"{med(fr,1):.2f} / {med(bare,1):.2f} | **{statistics.median(cpu_ratio):.3f}** ({min(cpu_ratio):.3f}–{max(cpu_ratio):.3f}) | {med(fr,2):.2f} / {med(bare,2):.2f} |")
lines += ["", "Targets (issue 17): req/s ratio ≥ 0.95, CPU ratio ≤ 1.10."]
text = "\n".join(lines)
print(text)
open(f"{out}/browser.md", "w").write(text + "\n")
PY
