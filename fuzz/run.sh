#!/usr/bin/env bash
# Runs every fuzz target for a while against its committed corpus:
#   bash fuzz/run.sh [seconds-per-target]   (default 20)
# New inputs go to a scratch directory, so the committed corpus only changes when someone
# minimises into it on purpose (see fuzz/README.md). Exits non-zero if any target crashed,
# naming the input that did it. Needs the nightly toolchain; installs cargo-fuzz if missing.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${1:-20}"
targets=(accept_language host_match config_parse token_verify)
# No sanitizer: the crate forbids unsafe code, and without ASan the build takes half as long
# and the targets run twice as fast. The dev profile: CI builds from scratch on every run, and
# Cargo.toml optimises only the crates the targets exercise (see [profile.dev] there).
flags=(--sanitizer none --dev)

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz/run.sh: the nightly toolchain is needed (cargo +nightly)" >&2
  exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install --locked cargo-fuzz
fi

echo "== cargo +nightly fuzz build"
start=$SECONDS
cargo +nightly fuzz build "${flags[@]}"
echo "   built in $((SECONDS - start)) s"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
failed=()
for target in "${targets[@]}"; do
  echo "== $target: ${seconds} s"
  mkdir -p "$scratch/$target" "artifacts/$target"
  log="$scratch/$target.log"
  if cargo +nightly fuzz run "${flags[@]}" "$target" "$scratch/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^Done [0-9]+ runs|average_exec_per_sec' "$log" | sed 's/^/   /'
  else
    failed+=("$target")
    tail -n 40 "$log"
    artifact="$(grep -o "Test unit written to [^ ]*" "$log" | tail -n 1 | cut -d' ' -f5)"
    echo "!! $target failed; the input is ${artifact:-not saved (see the log above)}"
    if [[ -n "$artifact" ]]; then
      echo "   base64: $(base64 -w0 "$artifact" | head -c 8192)"
      echo "   replay: cargo +nightly fuzz run ${flags[*]} $target $artifact"
    fi
  fi
done

if ((${#failed[@]})); then
  echo "fuzz/run.sh: ${failed[*]} crashed" >&2
  exit 1
fi
echo "== no crashes"
