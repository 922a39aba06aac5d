#!/usr/bin/env bash
# The API contract against a live server: starts `flexroute serve --config config/flexroute.toml
# --sandbox` (the built-in Flex API emulator, no Twilio) on free loopback ports with an admin
# token, and runs schemathesis against each listener's /openapi.json: the public API, then the
# ops listener's metrics, health and admin API (with the bearer token). Every check: no 5xx,
# statuses, content types, headers and bodies as documented, invalid input rejected, the admin
# API refusing requests without the token, 405 with Allow for undocumented methods.
#
#   bash tests/contract/schemathesis.sh            # from anywhere; exits non-zero on any failure
#
# Environment: CONTRACT_EXAMPLES (test cases per operation and phase, default 200),
# CONTRACT_SEED (replay a run; the seed is printed at the end of each run).
# Installs schemathesis, pinned, into a virtualenv under target/contract/ and reuses it; builds
# the debug binary (already there after `cargo nextest run`). Reports (JUnit) and the server's
# log go to target/contract/.
set -euo pipefail
cd "$(dirname "$0")/../.."

SCHEMATHESIS=schemathesis==4.32.5
EXAMPLES=${CONTRACT_EXAMPLES:-200}
TOOLS=target/contract
started=$SECONDS

echo "== contract: tools"
mkdir -p "$TOOLS"
TOOLS=$(cd "$TOOLS" && pwd)
if ! "$TOOLS/venv/bin/python" -c '' 2>/dev/null; then
  rm -rf "$TOOLS/venv"   # missing, or made by a Python that is gone
  python3 -m venv "$TOOLS/venv"
fi
if [ "$(cat "$TOOLS/venv/.installed" 2>/dev/null || true)" != "$SCHEMATHESIS" ]; then
  echo "installing $SCHEMATHESIS"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "$SCHEMATHESIS"
  echo "$SCHEMATHESIS" >"$TOOLS/venv/.installed"
fi
PY="$TOOLS/venv/bin/python"
ST="$TOOLS/venv/bin/st"

echo "== contract: cargo build"
cargo build --locked --quiet
BIN=${CARGO_TARGET_DIR:-target}/debug/flexroute

# ---- the server -------------------------------------------------------------------------------
LOG="$TOOLS/server.log"
TOKEN=$("$PY" -c 'import secrets; print(secrets.token_hex(16))')
FLEXROUTE_ADMIN_TOKEN="$TOKEN" \
  FLEXROUTE_SERVER_LISTEN=127.0.0.1:0 \
  FLEXROUTE_SERVER_ADMIN_LISTEN=127.0.0.1:0 \
  FLEXROUTE_SERVER_SHUTDOWN_DRAIN_MS=0 \
  "$BIN" --log-format json serve --config config/flexroute.toml --sandbox 2>"$LOG" >/dev/null &
SERVER=$!
stop_server() {
  if kill -0 "$SERVER" 2>/dev/null; then
    kill -TERM "$SERVER"
    wait "$SERVER" || true
  fi
}
trap stop_server EXIT

# The ports the OS chose, from the "flexroute listening" log line.
listening() {
  "$PY" - "$LOG" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8", errors="replace"):
    try:
        event = json.loads(line)
    except ValueError:
        continue
    if event.get("message") == "flexroute listening":
        print(event["public"], event["ops"])
        break
EOF
}
addresses=""
for _ in $(seq 300); do
  addresses=$(listening)
  [ -n "$addresses" ] && break
  if ! kill -0 "$SERVER" 2>/dev/null; then
    echo "contract: flexroute exited before listening:" >&2
    cat "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
if [ -z "$addresses" ]; then
  echo "contract: flexroute did not start listening within 30 s" >&2
  exit 1
fi
read -r PUBLIC OPS <<<"$addresses"
echo "flexroute serve --sandbox: public $PUBLIC, ops $OPS"

# ---- schemathesis -----------------------------------------------------------------------------
run=(
  run
  --checks all
  --max-examples "$EXAMPLES"
  --generation-database "$TOOLS/examples"
  --request-timeout 10
  --no-color
  --report junit
  --report-dir "$TOOLS/report"
)
if [ -n "${CONTRACT_SEED:-}" ]; then
  run+=(--seed "$CONTRACT_SEED")
fi

# schemathesis keeps a cache (.schemathesis/) in its working directory: run it under target/.
st() { (cd "$TOOLS" && "$ST" "$@"); }
failed=0
echo "== contract: public listener"
st "${run[@]}" --report-junit-path "$TOOLS/report/public.xml" \
  "http://$PUBLIC/openapi.json" || failed=1
echo "== contract: ops listener (admin API with the bearer token)"
st "${run[@]}" --report-junit-path "$TOOLS/report/ops.xml" \
  --header "Authorization: Bearer $TOKEN" \
  "http://$OPS/openapi.json" || failed=1

# The server must have survived, and logged no error (a 5xx schemathesis missed, a panic).
if ! kill -0 "$SERVER" 2>/dev/null; then
  echo "contract: flexroute died during the run; its log is $LOG" >&2
  failed=1
fi
if grep -E '"level":"ERROR"|panicked' "$LOG" >&2; then
  echo "contract: flexroute logged errors (above); its log is $LOG" >&2
  failed=1
fi
stop_server

if [ "$failed" -ne 0 ]; then
  echo "contract: FAILED (reports in $TOOLS/report)" >&2
  exit 1
fi
echo "contract: passed in $((SECONDS - started)) s"
