#!/usr/bin/env bash
# The large-table benchmark of issue 17: a 100,000-pair table (benches/gen_table.py 25000,
# 12.9 MB of TOML), server pinned to core 0 and wrk to core 1.
#
#   bash benches/table.sh                # START_ROUNDS=9 RELOAD_ROUNDS=3 DURATION=12s
#
# 1. Start-up, START_ROUNDS times: seconds from exec to the first 200 of /readyz (polled every
#    2 ms), peak RSS (VmHWM) and RSS after 3 s idle (VmRSS).
# 2. Reload under load, RELOAD_ROUNDS times: wrk spreads requests over all 100,000 pairs for
#    DURATION while the table file is swapped between two versions that differ in every pair's
#    widget (so each reload changes, and uncaches, all 100,000 answers) and `POST /admin/reload`
#    is called back to back; then the same wrk run without reloads, for comparison.
#
# Writes every round and the medians (with min–max), with the machine, to
# target/bench/table.md. Timings are benchmarks, never tests: the machine is shared.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh

START_ROUNDS=${START_ROUNDS:-9}
RELOAD_ROUNDS=${RELOAD_ROUNDS:-3}
DURATION=${DURATION:-12s}
CONNECTIONS=${CONNECTIONS:-64}
OUT=target/bench
mkdir -p "$OUT"

need_load_tools

if [ -z "${FLEXROUTE_BIN:-}" ]; then
  echo "== building the release binary"
  cargo build --release --locked --bin flexroute 2>&1 | tail -1
fi
# cargo's target directory, wherever CARGO_TARGET_DIR puts it.
TARGET=${CARGO_TARGET_DIR:-target}
FLEXROUTE=${FLEXROUTE_BIN:-$TARGET/release/flexroute}

CPU=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
echo "machine: $CPU, $(nproc) cores, $(uname -r)"

python3 benches/gen_table.py 25000 >"$OUT/table-100k.toml"
# The second version: every pair's merged widget differs, so a reload changes all of them.
sed 's/submitLabel = "Start chat"/submitLabel = "Chat now"/' "$OUT/table-100k.toml" >"$OUT/table-100k-b.toml"

write_spread_lua "$OUT/spread.lua"

exec python3 - "$FLEXROUTE" "$OUT" "$CPU" "$(nproc)" "$START_ROUNDS" "$RELOAD_ROUNDS" "$DURATION" "$CONNECTIONS" <<'PY'
import json, os, re, secrets, shutil, signal, socket, statistics, subprocess, sys, threading, time, urllib.request

binary, out, cpu, cores, start_rounds, reload_rounds, duration, conns = sys.argv[1:]
start_rounds, reload_rounds = int(start_rounds), int(reload_rounds)
token = secrets.token_hex(32)
config = f"{out}/table-live.toml"

def status(pid, field):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # MB
    return float("nan")

def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.05) as s:
            s.sendall(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(16).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

def start():
    env = dict(os.environ, FLEXROUTE_LOG="warn", FLEXROUTE_ADMIN_TOKEN=token,
               FLEXROUTE_PROVISIONING_STATE=f"file:{out}/state-table-{secrets.token_hex(4)}")
    began = time.monotonic()
    proc = subprocess.Popen(["taskset", "-c", "0", binary, "serve", "--config", config], env=env,
                            stdout=open(f"{out}/table-flexroute.log", "a"), stderr=subprocess.STDOUT)
    while not ready(18080):
        if proc.poll() is not None:
            sys.exit(f"flexroute exited: see {out}/table-flexroute.log")
        time.sleep(0.002)
    return proc, time.monotonic() - began

def stop(proc):
    proc.send_signal(signal.SIGTERM)
    proc.wait()

LOADS = {
    "one pair (cache hit)": [f"http://127.0.0.1:18080/v1/webchat/config?site=site12345&lang=de-DE"],
    "spread over all pairs": ["-s", f"{out}/spread.lua", "http://127.0.0.1:18080/v1/webchat/config"],
}

def wrk(load):
    text = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{duration}", "--latency"] + LOADS[load],
                          capture_output=True, text=True, check=True).stdout
    def ms(value, unit):
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
    p = {k: ms(*re.search(k + r"\s+([\d.]+)(us|ms|s)\b", text).groups()) for k in ("50%", "99%")}
    mx = ms(*re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", text).groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errors = (int(non2xx.group(1)) if non2xx else 0) + (sum(map(int, sock.groups())) if sock else 0)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    return dict(rps=rps, p50=p["50%"], p99=p["99%"], max=mx, errors=errors)

def reload_loop(stop_event, results):
    version = 0
    time.sleep(0.5)
    while not stop_event.is_set():
        version ^= 1
        shutil.copyfile(f"{out}/table-100k{'-b' if version else ''}.toml", config + ".new")
        os.replace(config + ".new", config)
        request = urllib.request.Request("http://127.0.0.1:18090/admin/reload", method="POST",
                                         headers={"Authorization": f"Bearer {token}"})
        began = time.monotonic()
        with urllib.request.urlopen(request, timeout=30) as answer:
            ok = answer.status == 200 and json.load(answer)["report"]["changed"] == 100000
        results.append((time.monotonic() - began, ok))
        stop_event.wait(0.2)

rounds = []
shutil.copyfile(f"{out}/table-100k.toml", config)
print(f"== start-up, {start_rounds} rounds")
for i in range(start_rounds):
    proc, seconds = start()
    peak = status(proc.pid, "VmHWM")
    time.sleep(3)
    steady = status(proc.pid, "VmRSS")
    stop(proc)
    rounds.append(f"start ready={seconds:.3f}s peak={peak:.0f}MB steady={steady:.0f}MB")
    print(rounds[-1], flush=True)
start_rows = [dict(re.findall(r"(\w+)=([\d.]+)", r)) for r in rounds]

print(f"== reload under load, {reload_rounds} rounds of {duration} per load")
reload_rows = {load: ([], []) for load in LOADS}
reload_times, reload_failures = [], 0
for i in range(reload_rounds):
    for load, (loaded_rows, quiet_rows) in reload_rows.items():
        shutil.copyfile(f"{out}/table-100k.toml", config)
        proc, _ = start()
        quiet = wrk(load)
        stop_event, results = threading.Event(), []
        thread = threading.Thread(target=reload_loop, args=(stop_event, results))
        thread.start()
        loaded = wrk(load)
        stop_event.set(); thread.join()
        after, peak = status(proc.pid, "VmRSS"), status(proc.pid, "VmHWM")
        stop(proc)
        loaded["reloads"] = len(results)
        reload_failures += sum(1 for _, ok in results if not ok)
        reload_times += [t for t, _ in results]
        loaded_rows.append(loaded); quiet_rows.append(quiet)
        line = (f"reload-round {i+1}, {load}: {len(results)} reloads; with reloads {loaded['rps']:.0f} req/s p50 {loaded['p50']:.2f} ms "
                f"p99 {loaded['p99']:.2f} ms max {loaded['max']:.1f} ms errors {loaded['errors']}; without: {quiet['rps']:.0f} req/s "
                f"p99 {quiet['p99']:.2f} ms max {quiet['max']:.1f} ms errors {quiet['errors']}; RSS after {after:.0f} MB, peak {peak:.0f} MB")
        rounds.append(line)
        print(line, flush=True)

def spread(values, fmt):
    values = [float(v) for v in values]
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"

lines = ["# flexroute large-table benchmark", "",
         f"Machine: {cpu}, {cores} cores; server pinned to core 0, wrk (1 thread, {conns} connections) to core 1. "
         "Medians, with min–max over the rounds.", "",
         f"100,000 pairs (12.9 MB of TOML), {start_rounds} starts:", "",
         "| | median (min–max) | target |", "|---|---|---|",
         f"| start until `/readyz` 200 | {spread([r['ready'] for r in start_rows], '{:.3f}')} s | < 0.5 s |",
         f"| peak RSS (VmHWM) | {spread([r['peak'] for r in start_rows], '{:.0f}')} MB | < 150 MB |",
         f"| RSS 3 s after ready | {spread([r['steady'] for r in start_rows], '{:.0f}')} MB | < 120 MB |", ""]
if reload_rounds:
    count = sum(r["reloads"] for rows, _ in reload_rows.values() for r in rows)
    lines += [f"Reload under load: {reload_rounds} rounds of {duration} per load; {count} reloads in all, back to back, "
              f"each changing all 100,000 pairs, took {spread(reload_times, '{:.2f}')} s; {reload_failures} failed.", "",
              "| load | reloading | req/s | p50 ms | p99 ms | max ms | errors |", "|---|---|---|---|---|---|---|"]
    for load, (loaded_rows, quiet_rows) in reload_rows.items():
        for name, rows in (("back to back", loaded_rows), ("no", quiet_rows)):
            lines.append(f"| {load} | {name} | {spread([r['rps'] for r in rows], '{:.0f}')} | {spread([r['p50'] for r in rows], '{:.2f}')} | "
                         f"{spread([r['p99'] for r in rows], '{:.2f}')} | {spread([r['max'] for r in rows], '{:.1f}')} | "
                         f"{sum(r['errors'] for r in rows)} |")
lines += ["", "Rounds:", ""] + [f"- {r}" for r in rounds]
text = "\n".join(lines)
print(text)
open(f"{out}/table.md", "w").write(text + "\n")
PY
