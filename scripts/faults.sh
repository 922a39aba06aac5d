#!/usr/bin/env bash
# Upstream fault scenarios at full length (tests/api/scenarios.rs): a real flexroute server and
# the Flex API emulator on loopback, one fault at a time (Twilio slow at 5 s per call, down,
# answering 429 for a minute, answering 500 at random, flapping), with concurrent clients on
# the pairs known before the fault. Prints one row of figures per scenario.
#
#   scripts/faults.sh            # full length, about 6 minutes
#   scripts/faults.sh --short    # the CI-short run, about half a minute
#   FLEXROUTE_FAULT_SEED=123 scripts/faults.sh   # replay the random choices of an earlier run
set -euo pipefail
cd "$(dirname "$0")/.."

scale=full
if [[ "${1:-}" == "--short" ]]; then
    scale=short
fi
log=$(mktemp -t flexroute-faults.XXXXXX)
trap 'rm -f "$log"' EXIT

# --no-capture runs the scenarios one at a time, so they do not compete for the CPU.
status=0
FLEXROUTE_FAULT_SCALE=$scale cargo nextest run --no-fail-fast --no-capture scenarios:: \
    2>&1 | tee "$log" || status=$?

echo
echo "Fault scenarios ($scale). requests: answers for pairs known before the fault, from the"
echo "fault's start until every pair converged; failed: any of them not 200 with the pair's own"
echo "address. unknown: answers for pairs first asked for during the fault (degraded, 503, or"
echo "already their own address); slowest: the slowest of those. creates: create calls Twilio"
echo "received, failed ones included; flows: what it holds at the end (one per pair). injected:"
echo "failures the emulator answered. converged: from the fault lifted to every pair served"
echo "with its own address."
echo
grep -E '^scenario=[^ ]+ scale=' "$log" | awk '
    BEGIN {
        printf "%-14s %9s %9s %7s %13s %8s %8s %6s %8s %6s %6s %10s %10s\n",
            "scenario", "duration", "requests", "failed", "slowest_known", "unknown",
            "degraded", "503", "slowest", "creates", "flows", "injected", "converged"
    }
    {
        delete f
        for (i = 1; i <= NF; i++) {
            field = $i
            gsub(/[()]/, "", field)
            split(field, kv, "=")
            if (kv[1] != "" && !(kv[1] in f)) f[kv[1]] = kv[2]
        }
        printf "%-14s %9s %9s %7s %13s %8s %8s %6s %8s %6s %6s %10s %10s\n",
            f["scenario"], f["duration"], f["requests"], f["failed"], f["slowest_known"],
            f["unknown_answers"], f["degraded"], f["unavailable"], f["slowest_unknown"],
            f["creates"], f["flows"], f["injected_failures"], f["converged_after"]
    }'
echo
echo "Replay one with FLEXROUTE_FAULT_SEED=<seed>:"
grep -E '^scenario=[^ ]+ scale=' "$log" | sed -E 's/^scenario=([^ ]+) .* seed=([0-9]+)$/  \1 \2/'
exit "$status"
