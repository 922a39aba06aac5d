#!/usr/bin/env bash
# Issue 17, point 4: flexroute's own time per call of the session routes (`initWebchat`,
# `refreshToken`), the upstream excluded. Runs `serve --sandbox` (the emulator of Twilio in the
# same process) and calls the routes one at a time; for each call, the server's own time is
# the growth of `flexroute_http_request_duration_seconds_sum` for the route (measured by the
# server, from the request handed over to the answer ready) minus the growth of
# `flexroute_upstream_request_duration_seconds_sum{op="webchat_create"}` (the call to Twilio the
# answer waits for, as flexroute's client times it: the round trip to the emulator and its
# work; the first message is posted in the background, after the answer). Server-side times
# include reading the request's body and the scheduling of a shared machine.
#
#   bash benches/session_routes.sh           # CALLS=500
#
# Prints and writes to target/bench/session-routes.md p50, p99 and max per route.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=benches/common.sh
source benches/common.sh

CALLS=${CALLS:-500}
OUT=target/bench
mkdir -p "$OUT"
cargo build --release --locked --bin flexroute 2>&1 | tail -1
BUILT=${CARGO_TARGET_DIR:-target}/release

FLEXROUTE_SERVER_LISTEN=127.0.0.1:18580 FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:18590 \
FLEXROUTE_SERVER_CONFIG_WATCH_MS=0 FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
FLEXROUTE_PROVISIONING_STATE="file:$OUT/state-session-$$" FLEXROUTE_LOG=warn \
  "$BUILT/flexroute" serve --config config/flexroute.toml --sandbox >"$OUT/session-routes.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
wait_ready http://127.0.0.1:18580/readyz

python3 - "$CALLS" "$OUT/session-routes.md" "$(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) cores" <<'PY'
import http.client, json, re, statistics, sys
calls, out, machine = int(sys.argv[1]), sys.argv[2], sys.argv[3]
public = http.client.HTTPConnection("127.0.0.1", 18580)
ops = http.client.HTTPConnection("127.0.0.1", 18590)
BASE = "/v1/webchat/initech/en-US"
HEADERS = {"Content-Type": "application/json", "Origin": "http://localhost:3000"}

def sums(route):
    ops.request("GET", "/metrics")
    text = ops.getresponse().read().decode()
    served = re.search(r'flexroute_http_request_duration_seconds_sum\{route="%s"\} (\S+)' % re.escape(route), text)
    # Only the call the answer waits for: the visitor's first message is posted in the
    # background, after the answer.
    upstream = re.search(r'flexroute_upstream_request_duration_seconds_sum\{op="webchat_create"\} (\S+)', text)
    upstream = float(upstream.group(1)) if upstream else 0.0
    return (float(served.group(1)) if served else 0.0), upstream

def post(path, body):
    public.request("POST", BASE + path, json.dumps(body), HEADERS)
    response = public.getresponse()
    data = response.read()
    assert response.status == 200, (path, response.status, data)
    return json.loads(data)

def own(route, path, body):
    served0, upstream0 = sums(route)
    answer = post(path, body)
    served1, upstream1 = sums(route)
    return answer, (served1 - served0) - (upstream1 - upstream0), upstream1 - upstream0

form = {"formData": {"friendlyName": "Visitor", "query": "Where is my order?"}}
init_route = "/v1/webchat/{site}/{language}/initWebchat"
refresh_route = "/v1/webchat/{site}/{language}/refreshToken"
# Warm-up: the first chat provisions the pair's address.
for _ in range(5):
    token = post("/initWebchat", form)["token"]
init, refresh, init_upstream = [], [], []
for _ in range(calls):
    answer, t, up = own(init_route, "/initWebchat", form)
    init.append(t * 1e6); init_upstream.append(up * 1e6)
    _, t, up = own(refresh_route, "/refreshToken", {"token": answer["token"]})
    assert up == 0, "refreshToken called Twilio"
    refresh.append(t * 1e6)

def row(name, values, target):
    values = sorted(values)
    p = lambda q: values[min(len(values) - 1, int(q * len(values)))]
    return f"| {name} | {len(values)} | {p(0.5):.0f} | {p(0.99):.0f} | {values[-1]:.0f} | {target} |"
lines = ["# Session routes: flexroute's own time per call, upstream excluded", "",
         f"Machine: {machine}; `serve --sandbox`, calls one at a time; server-side time of the route minus the time of its calls to the (emulated) Twilio APIs, from the metrics.", "",
         "| route | calls | p50 µs | p99 µs | max µs | target p99 |", "|---|---|---|---|---|---|",
         row("initWebchat", init, "< 100 µs"), row("refreshToken", refresh, "< 30 µs"),
         "", f"initWebchat's upstream time (excluded), median: {statistics.median(init_upstream):.0f} µs per call."]
text = "\n".join(lines)
print(text)
open(out, "w").write(text + "\n")
PY
