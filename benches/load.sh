#!/usr/bin/env bash
# The load benchmark of issue 5: flexroute against a bare reference server that returns the same
# bytes, driven by the same load generator, alternating rounds, server on core 0 and wrk on core 1.
#
#   bash benches/load.sh                 # ROUNDS=3 DURATION=10s CONNECTIONS=64 by default
#   ROUNDS=5 DURATION=20s bash benches/load.sh
#
# Prints requests/s, p50 and p99 per round and the medians and ratios; writes them, with the
# machine, to target/bench/results.md. Timings are benchmarks, never tests: these machines are
# shared, so compare ratios within one run, not absolute numbers across runs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
OUT=target/bench
mkdir -p "$OUT"

need_load_tools

echo "== building release binaries"
cargo build --release --locked --bin flexroute --example bare_server --example burst 2>&1 | tail -1
BUILT=${CARGO_TARGET_DIR:-target}/release
FLEXROUTE=$BUILT/flexroute
BARE=$BUILT/examples/bare_server

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "machine: $CPU, $(nproc) cores, $(uname -r)"

PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT


# start_flexroute CONFIG [--sandbox] → sets FR_PID; logs to $OUT/flexroute.log
start_flexroute() {
  FLEXROUTE_SERVER_LISTEN=127.0.0.1:18080 FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:18090 \
  FLEXROUTE_SERVER_CONFIG_WATCH_MS=0 FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
  FLEXROUTE_PROVISIONING_STATE="file:$OUT/state-$RANDOM" FLEXROUTE_LOG=warn \
    taskset -c 0 "$FLEXROUTE" serve --config "$1" ${2:-} >>"$OUT/flexroute.log" 2>&1 &
  FR_PID=$!
  PIDS+=("$FR_PID")
  wait_ready http://127.0.0.1:18080/readyz
}
stop_flexroute() { kill "$FR_PID"; wait "$FR_PID" 2>/dev/null || true; }

# run_wrk NAME URL [LUA] → appends "NAME rps p50_ms p99_ms" to $OUT/rounds.txt
run_wrk() {
  local name=$1 url=$2 lua=${3:-}
  local args=(-t1 "-c$CONNECTIONS" "-d$DURATION" --latency)
  [ -n "$lua" ] && args+=(-s "$lua")
  taskset -c 1 wrk "${args[@]}" "$url" >"$OUT/wrk.txt"
  python3 - "$name" "$OUT/wrk.txt" >>"$OUT/rounds.txt" <<'PY'
import re, sys
name, path = sys.argv[1:]
text = open(path).read()
def ms(label):
    m = re.search(label + r"\s+([\d.]+)(us|ms|s)\b", text)
    if not m:
        sys.exit(f"wrk printed no {label} latency:\n{text}")
    return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
socket = re.search(r"Socket errors: (.*)", text)
bad = (errors.group(1) if errors else "0") + ("; socket " + socket.group(1) if socket else "")
print(f"{name} {rps:.0f} {ms('50%'):.3f} {ms('99%'):.3f} {bad.replace(' ', '_')}")
PY
  tail -1 "$OUT/rounds.txt"
}

: >"$OUT/rounds.txt"
SMALL=config/flexroute.toml
python3 benches/gen_table.py 25000 >"$OUT/table-100k.toml"
python3 benches/gen_table.py 3 >"$OUT/table-12.toml"

write_accept_language_lua "$OUT/accept-language.lua"

# Pairs spread over the 100k table: every request a different site and language.
write_spread_lua "$OUT/spread.lua"

HIT_SMALL="http://127.0.0.1:18080/v1/webchat/config?site=acme&lang=es-MX"
HIT_BIG="http://127.0.0.1:18080/v1/webchat/config?site=site12345&lang=de-DE"

echo "== small table ($SMALL) vs bare, cache hit and Accept-Language mix"
# In sandbox mode, so that fr-CA (no pinned address in the example) is provisioned by the
# warm-up below and every language of the mix is a cache hit, as in production once addresses
# exist: the benchmark measures negotiation, not degraded answers.
start_flexroute "$SMALL" --sandbox
curl -fsS "$HIT_SMALL" -o "$OUT/body.json"
curl -fsS -o /dev/null -H 'Accept-Language: fr-CA' http://127.0.0.1:18080/v1/webchat/config?site=acme
taskset -c 0 "$BARE" 127.0.0.1:18081 "$OUT/body.json" 2>/dev/null &
BARE_PID=$!; PIDS+=("$BARE_PID")
wait_ready http://127.0.0.1:18081/
for round in $(seq 1 "$ROUNDS"); do
  run_wrk flexroute-hit "$HIT_SMALL"
  run_wrk bare "http://127.0.0.1:18081/v1/webchat/config?site=acme&lang=es-MX"
  run_wrk flexroute-negotiate http://127.0.0.1:18080/v1/webchat/config "$OUT/accept-language.lua"
  # The same Lua-driven load against the bare server: wrk's Lua costs its own core time, so
  # the mix is compared with bare under the same generator.
  run_wrk bare-mix http://127.0.0.1:18081/v1/webchat/config "$OUT/accept-language.lua"
done
stop_flexroute

echo "== 12-pair table vs 100,000-pair table (same generator, same request shape)"
for round in $(seq 1 "$ROUNDS"); do
  start_flexroute "$OUT/table-12.toml"
  run_wrk table-12 "http://127.0.0.1:18080/v1/webchat/config?site=site1&lang=de-DE"
  stop_flexroute
  STARTED=$(date +%s.%N)
  start_flexroute "$OUT/table-100k.toml"
  LOADED=$(date +%s.%N)
  echo "load-100k $(python3 -c "print(f'{$LOADED - $STARTED:.3f}')") s" | tee -a "$OUT/rounds.txt"
  # Resident memory once the allocator has returned what parsing used (it waits ~1 s), then
  # again once the spread run has put most of the 100,000 answers in the cache.
  sleep 2
  echo "rss-100k $(awk '/VmRSS/ {print $2}' "/proc/$FR_PID/status") KB" | tee -a "$OUT/rounds.txt"
  run_wrk table-100k "$HIT_BIG"
  run_wrk table-100k-spread http://127.0.0.1:18080/v1/webchat/config "$OUT/spread.lua"
  echo "rss-100k-cached $(awk '/VmRSS/ {print $2}' "/proc/$FR_PID/status") KB" | tee -a "$OUT/rounds.txt"
  echo "cached-100k $(curl -fsS http://127.0.0.1:18090/metrics | awk '/^flexroute_cache_entries / {print $2}') answers" | tee -a "$OUT/rounds.txt"
  stop_flexroute
done

echo "== burst: 1000 concurrent first requests for one missing pair, against the emulator"
(ulimit -n 8192; taskset -c 0,1 "$BUILT/examples/burst") | tee -a "$OUT/rounds.txt"

python3 - "$OUT" "$CPU" "$(nproc)" "$CONNECTIONS" "$DURATION" "$ROUNDS" <<'PY'
import statistics, sys, collections
out, cpu, cores, conns, duration, rounds = sys.argv[1:]
rows = collections.defaultdict(list)
extra = []
for line in open(f"{out}/rounds.txt"):
    parts = line.split()
    if parts[0] in ("load-100k", "rss-100k", "rss-100k-cached", "cached-100k"):
        rows[parts[0]].append(float(parts[1]))
    elif parts[0].startswith("burst"):
        extra.append(line.strip())
    else:
        rows[parts[0]].append((float(parts[1]), float(parts[2]), float(parts[3]), parts[4]))
def med(name, i):
    return statistics.median(r[i] for r in rows[name])
lines = [f"# flexroute load benchmark", "",
         f"Machine: {cpu}, {cores} cores; server pinned to core 0, wrk (1 thread, {conns} connections, {duration}) to core 1; {rounds} alternating rounds; medians.", "",
         "| scenario | req/s | p50 ms | p99 ms | non-2xx |", "|---|---|---|---|---|"]
for name in rows:
    if name in ("load-100k", "rss-100k", "rss-100k-cached", "cached-100k"):
        continue
    bad = ",".join(sorted(set(r[3] for r in rows[name])))
    lines.append(f"| {name} | {med(name,0):.0f} | {med(name,1):.3f} | {med(name,2):.3f} | {bad} |")
lines.append("")
bare = med("bare", 0)
lines.append(f"- cache hit / bare: **{med('flexroute-hit',0)/bare:.3f}** (target ≥ 0.85)")
lines.append(f"- Accept-Language mix / bare under the same Lua generator: **{med('flexroute-negotiate',0)/med('bare-mix',0):.3f}** (target ≥ 0.8); / plain bare: {med('flexroute-negotiate',0)/bare:.3f}")
lines.append(f"- 100k table / 12-pair table, same request: **{med('table-100k',0)/med('table-12',0):.3f}** (target ≥ 0.95); spread over 100k pairs: {med('table-100k-spread',0)/med('table-12',0):.3f}")
lines.append(f"- 100k table: start until ready {statistics.median(rows['load-100k']):.3f} s (target < 1 s); RSS after load {statistics.median(rows['rss-100k'])/1024:.0f} MB (target < 150 MB); with {statistics.median(rows['cached-100k']):.0f} answers cached {statistics.median(rows['rss-100k-cached'])/1024:.0f} MB")
lines.extend(f"- {e}" for e in extra)
text = "\n".join(lines)
print(text)
open(f"{out}/results.md", "w").write(text + "\n")
PY
