#!/usr/bin/env python3
"""The checks behind deploy/check.sh that need a program rather than a tool: kustomization
references, a fallback render without kustomize, Prometheus Operator objects (no schema ships
for them), the Grafana dashboard, metric names, the Dockerfile's contents and the agreement
between the Dockerfile, the manifests and the deploy config.

Run by deploy/check.sh in its virtualenv (PyYAML); `python3 deploy/check.py SUBCOMMAND ARGS`.
Each subcommand prints what it found and exits 1 with every problem listed.
"""

import fnmatch
import json
import pathlib
import re
import shlex
import sys

import yaml

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11: check.sh installs tomli there
    import tomli as tomllib

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"

# Metrics the alerts and the dashboard may use besides flexroute's own: Prometheus' scrape
# health and kube-state-metrics' view of the Deployment.
EXTERNAL_METRICS = {"up", "kube_deployment_status_replicas_available"}

# Panels the dashboard must have (issue 4), by title.
REQUIRED_PANELS = [
    "Requests/s by status",
    "Latency of /v1/webchat/config (p50, p99)",
    "Cache hit ratio",
    "Provisioning outcomes",
    "Upstream latency by op (p50, p99)",
    "Upstream errors by status",
    "Served configs per site/language (top 10)",
    "Routes by state",
    "Config reloads",
]

REQUIRED_ALERTS = [
    "FlexrouteUpstreamErrorRate",
    "FlexrouteProvisioningFailures",
    "FlexrouteConfigReloadFailing",
    "FlexrouteAddressesNotPersisted",
    "FlexrouteNoReadyPods",
    "FlexrouteHighLatencyP99",
]


class Problems(list):
    def check(self, condition, message):
        if not condition:
            self.append(message)
        return condition

    def finish(self, summary):
        if self:
            for problem in self:
                print(f"- {problem}")
            sys.exit(1)
        print(f"     {summary}")


def load_docs(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def dump_docs(docs, path):
    with open(path, "w", encoding="utf-8") as f:
        yaml.safe_dump_all(docs, f, sort_keys=False)


def rel(path):
    try:
        return str(pathlib.Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


# ---- kustomize ----------------------------------------------------------------------------------


def kustomizations():
    return sorted(DEPLOY.rglob("kustomization.yaml"))


def cmd_kustomize_refs():
    """Every file a kustomization names exists; the Secret example is never among them."""
    p = Problems()
    count = 0
    for kfile in kustomizations():
        k = load_docs(kfile)[0]
        here = kfile.parent
        p.check(k.get("kind") in ("Kustomization", "Component"), f"{rel(kfile)}: kind is {k.get('kind')!r}")
        for entry in k.get("resources", []) + k.get("components", []):
            target = here / entry
            count += 1
            if target.is_dir():
                p.check((target / "kustomization.yaml").is_file(), f"{rel(kfile)}: {entry} has no kustomization.yaml")
            else:
                p.check(target.is_file(), f"{rel(kfile)}: resource {entry} does not exist")
                p.check(not entry.endswith("secret.example.yaml"), f"{rel(kfile)}: lists {entry}: credentials must not be applied from git")
        for gen in k.get("configMapGenerator", []) + k.get("secretGenerator", []):
            for entry in gen.get("files", []):
                name = entry.split("=", 1)[-1]
                count += 1
                p.check((here / name).is_file(), f"{rel(kfile)}: generator {gen.get('name')}: file {name} does not exist")
    p.finish(f"{len(kustomizations())} kustomizations, {count} references, all present")


def render_dir(directory):
    """Just enough of `kustomize build` for these files: resources (files and directories),
    configMapGenerator from files, generatorOptions.disableNameSuffixHash, namespace, images,
    labels. Used only when neither kubectl nor kustomize is installed."""
    k = load_docs(directory / "kustomization.yaml")[0]
    docs = []
    for entry in k.get("resources", []):
        target = directory / entry
        docs.extend(render_dir(target) if target.is_dir() else load_docs(target))
    for gen in k.get("configMapGenerator", []):
        data = {}
        for entry in gen.get("files", []):
            key, _, name = entry.rpartition("=")
            data[key or pathlib.Path(name).name] = (directory / name).read_text(encoding="utf-8")
        if not k.get("generatorOptions", {}).get("disableNameSuffixHash"):
            raise SystemExit("fallback render: name suffix hashes are not implemented")
        docs.append({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": gen["name"]}, "data": data})
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        for label_set in k.get("labels", []):
            meta.setdefault("labels", {}).update(label_set.get("pairs", {}))
        if "namespace" in k and doc["kind"] != "Namespace":
            meta["namespace"] = k["namespace"]
        if doc["kind"] == "Deployment":
            for container in doc["spec"]["template"]["spec"]["containers"]:
                for image in k.get("images", []):
                    name, _, tag = container["image"].partition(":")
                    if name == image["name"]:
                        container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"
    return docs


def cmd_render_fallback(directory, out):
    docs = render_dir(ROOT / directory)
    dump_docs(docs, out)
    print(f"     {directory}: {len(docs)} objects (fallback render)")


def cmd_split(rendered, core_out, crd_out):
    """Core kinds for kubernetes-validate, Prometheus Operator kinds for the checks below."""
    core, crd = [], []
    for doc in load_docs(rendered):
        (crd if doc["apiVersion"].startswith("monitoring.coreos.com/") else core).append(doc)
    if not any(d["kind"] == "Deployment" for d in core):
        sys.exit(f"- {rel(rendered)} holds no Deployment: did the render fail?")
    dump_docs(core, core_out)
    dump_docs(crd, crd_out)
    kinds = lambda docs: ", ".join(sorted(f"{d['kind']}/{d['metadata']['name']}" for d in docs))
    print(f"     core: {kinds(core)}")
    print(f"     operator: {kinds(crd) or 'none'}")


# ---- Prometheus Operator objects ----------------------------------------------------------------


def check_keys(p, where, obj, required, allowed):
    if not p.check(isinstance(obj, dict), f"{where}: not a mapping"):
        return False
    for key in required:
        p.check(key in obj, f"{where}: missing {key}")
    for key in obj:
        p.check(key in required or key in allowed, f"{where}: unknown field {key}")
    return True


DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def cmd_operator(crd_file, rules_out, rules_bare_out):
    """ServiceMonitor and PrometheusRule fields that Prometheus Operator v1 knows, with the
    required ones present; writes the rule groups for promtool (as they are, and without
    annotations for `promtool test rules`, whose expectations would otherwise repeat them)."""
    p = Problems()
    docs = load_docs(crd_file)
    monitors = [d for d in docs if d["kind"] == "ServiceMonitor"]
    rules = [d for d in docs if d["kind"] == "PrometheusRule"]
    p.check(len(monitors) == 1, f"expected one ServiceMonitor, found {len(monitors)}")
    p.check(len(rules) == 1, f"expected one PrometheusRule, found {len(rules)}")
    for doc in docs:
        where = f"{doc['kind']}/{doc.get('metadata', {}).get('name')}"
        p.check(doc.get("apiVersion") == "monitoring.coreos.com/v1", f"{where}: apiVersion {doc.get('apiVersion')}")
        p.check(doc["kind"] in ("ServiceMonitor", "PrometheusRule"), f"{where}: unexpected kind")
        check_keys(p, where, doc, ["apiVersion", "kind", "metadata", "spec"], [])
        check_keys(p, f"{where}.metadata", doc.get("metadata"), ["name"], ["namespace", "labels", "annotations"])
    for sm in monitors:
        spec = sm.get("spec", {})
        check_keys(p, "ServiceMonitor.spec", spec, ["selector", "endpoints"], ["namespaceSelector", "jobLabel", "targetLabels", "podTargetLabels"])
        p.check(bool(spec.get("selector", {}).get("matchLabels")), "ServiceMonitor.spec.selector.matchLabels is empty: it would select every Service")
        for i, ep in enumerate(spec.get("endpoints", [])):
            where = f"ServiceMonitor.spec.endpoints[{i}]"
            check_keys(p, where, ep, ["port"], ["path", "interval", "scrapeTimeout", "scheme", "honorLabels", "relabelings", "metricRelabelings"])
            for field in ("interval", "scrapeTimeout"):
                if field in ep:
                    p.check(DURATION.match(str(ep[field])), f"{where}.{field}: {ep[field]!r} is not a duration")
    groups, bare_groups, alerts = [], [], []
    for pr in rules:
        spec = pr.get("spec", {})
        check_keys(p, "PrometheusRule.spec", spec, ["groups"], [])
        for g, group in enumerate(spec.get("groups", [])):
            check_keys(p, f"groups[{g}]", group, ["name", "rules"], ["interval", "limit"])
            bare_rules = []
            for r, rule in enumerate(group.get("rules", [])):
                where = f"groups[{g}].rules[{r}] ({rule.get('alert') or rule.get('record')})"
                if "alert" in rule:
                    alerts.append(rule["alert"])
                    check_keys(p, where, rule, ["alert", "expr", "labels", "annotations"], ["for", "keep_firing_for"])
                    p.check(rule.get("labels", {}).get("severity") in ("critical", "warning", "info"), f"{where}: severity label must be critical, warning or info")
                    for annotation in ("summary", "description", "runbook"):
                        p.check(str(rule.get("annotations", {}).get(annotation, "")).strip(), f"{where}: annotation {annotation} is missing or empty")
                    p.check("docs/operations.md#" + rule["alert"].lower() in rule.get("annotations", {}).get("runbook", ""), f"{where}: runbook does not point to docs/operations.md#{rule['alert'].lower()}")
                else:
                    check_keys(p, where, rule, ["record", "expr"], ["labels"])
                bare_rules.append({k: v for k, v in rule.items() if k != "annotations"})
            groups.append(group)
            bare_groups.append({**group, "rules": bare_rules})
    for alert in REQUIRED_ALERTS:
        p.check(alert in alerts, f"alert {alert} is missing")
    operations = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    for alert in alerts:
        p.check(re.search(rf"^#+ {alert}\s*$", operations, re.M), f"docs/operations.md has no section headed {alert}")
    with open(rules_out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": groups}, f, sort_keys=False)
    with open(rules_bare_out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": bare_groups}, f, sort_keys=False)
    p.finish(f"ServiceMonitor fields valid; {len(alerts)} alerts with severity, summary, description and runbook")


# ---- metric names -------------------------------------------------------------------------------


def exported_metrics():
    """flexroute's metric families as the source registers them, with the series names that a
    histogram adds."""
    names, histograms = set(), set()
    for path in (ROOT / "src").rglob("*.rs"):
        text = path.read_text(encoding="utf-8")
        names.update(re.findall(r'"(flexroute_[a-z0-9_]+)"', text))
        histograms.update(re.findall(r'HistogramOpts::new\(\s*"(flexroute_[a-z0-9_]+)"', text))
    series = set(names)
    for h in histograms:
        series.update({h + "_bucket", h + "_sum", h + "_count"})
    return series


def metric_names(expr):
    """Metric names in a PromQL expression: every flexroute_* identifier, and any identifier
    followed by a label selector (functions are followed by parentheses, not braces)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values are not names
    found = set(re.findall(r"\b(flexroute_[a-zA-Z0-9_]+)", expr))
    found.update(re.findall(r"\b([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr))
    return found


def dashboard_exprs(path):
    dash = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    for panel in dash.get("panels", []):
        for target in panel.get("targets", []):
            yield panel.get("title"), target.get("expr", "")


def cmd_metrics(rules_file, dashboard):
    p = Problems()
    known = exported_metrics()
    p.check(len(known) >= 10, f"found only {len(known)} flexroute_* metric names in src/: has the metrics code moved?")
    uses = []
    for group in yaml.safe_load(open(rules_file, encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            uses.append((f"alert {rule.get('alert')}", rule["expr"]))
    uses.extend((f"panel {title!r}", expr) for title, expr in dashboard_exprs(dashboard))
    used = set()
    for where, expr in uses:
        for name in metric_names(expr):
            used.add(name)
            p.check(name in known or name in EXTERNAL_METRICS, f"{where}: {name} is not a metric flexroute exports")
    p.finish(f"{len(used)} metric names in {len(uses)} expressions, all exported by src/ ({len(known)} series names) or allowed ({', '.join(sorted(EXTERNAL_METRICS))})")


# ---- Grafana dashboard --------------------------------------------------------------------------


def cmd_dashboard(path, rules_out):
    """Loads the dashboard as Grafana would read it and writes its queries as recording rules,
    so that promtool parses every one of them."""
    p = Problems()
    try:
        dash = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        print(f"- not valid JSON: {e}")
        sys.exit(1)
    for key in ("title", "uid", "panels", "schemaVersion", "templating"):
        p.check(key in dash, f"missing top-level {key}")
    p.check(isinstance(dash.get("schemaVersion"), int) and dash["schemaVersion"] >= 36, "schemaVersion must be a number >= 36 (Grafana 9+)")
    variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS", {})
    p.check(ds.get("type") == "datasource" and ds.get("query") == "prometheus", "templating needs DS_PROMETHEUS, a datasource variable of type prometheus")
    titles = [panel.get("title") for panel in dash.get("panels", [])]
    for title in REQUIRED_PANELS:
        p.check(title in titles, f"panel {title!r} is missing")
    p.check(len(titles) == len(set(titles)), "two panels share a title")
    ids = [panel.get("id") for panel in dash.get("panels", [])]
    p.check(len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), "panel ids must be unique numbers")
    cells = {}
    recording = []
    for panel in dash.get("panels", []):
        title = panel.get("title")
        pos = panel.get("gridPos", {})
        if not p.check(all(isinstance(pos.get(k), int) for k in "hwxy"), f"{title!r}: gridPos needs integer h, w, x, y"):
            continue
        p.check(pos["x"] + pos["w"] <= 24, f"{title!r}: wider than the 24-column grid")
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                p.check((x, y) not in cells, f"{title!r} overlaps {cells.get((x, y))!r}")
                cells[(x, y)] = title
        if panel.get("type") == "row":
            continue
        p.check(panel.get("datasource", {}).get("uid") == "${DS_PROMETHEUS}", f"{title!r}: datasource uid must be ${{DS_PROMETHEUS}}")
        targets = panel.get("targets", [])
        p.check(targets, f"{title!r}: no targets")
        refs = [t.get("refId") for t in targets]
        p.check(len(refs) == len(set(refs)) and all(refs), f"{title!r}: targets need distinct refIds")
        for t in targets:
            expr = (t.get("expr") or "").strip()
            if p.check(expr, f"{title!r} target {t.get('refId')}: empty expr"):
                # Grafana's variables become what they stand for, to give promtool plain PromQL.
                plain = expr.replace("$__rate_interval", "5m").replace("$namespace", ".*")
                p.check("$" not in plain, f"{title!r}: unknown variable in {expr}")
                recording.append({"record": f"dashboard:panel{panel['id']}:{t['refId'].lower()}", "expr": plain})
    with open(rules_out, "w", encoding="utf-8") as f:
        yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": recording}]}, f, sort_keys=False)
    p.finish(f"schemaVersion {dash.get('schemaVersion')}, {len(titles)} panels (the {len(REQUIRED_PANELS)} required present), {len(recording)} queries")


# ---- Dockerfile ---------------------------------------------------------------------------------


def dockerfile_instructions(path):
    """(instruction, arguments) pairs with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if current and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        current += stripped
        lines.append(current)
        current = ""
    out = []
    for line in lines:
        instruction, _, args = line.partition(" ")
        out.append((instruction.upper(), args.strip()))
    return out


def exec_form(args):
    try:
        value = json.loads(args)
        return value if isinstance(value, list) else None
    except json.JSONDecodeError:
        return None


def dockerignore_excludes(patterns, path):
    """Docker's rule: the last pattern that matches the path or one of its parents decides."""
    excluded = False
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern[1:] if negate else pattern
        pat = pat.strip("/")
        if any(fnmatch.fnmatchcase(prefix, pat) for prefix in prefixes):
            excluded = not negate
    return excluded


def cmd_dockerfile():
    p = Problems()
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text(encoding="utf-8"))
    version = cargo["package"]["version"]
    bins = [b["name"] for b in cargo.get("bin", [])] or [cargo["package"]["name"]]
    binary = "flexroute"
    p.check(binary in bins, f"Cargo.toml builds no binary named {binary} (bins: {bins})")

    stages, stage = [], None
    for instruction, args in dockerfile_instructions(ROOT / "Dockerfile"):
        if instruction == "FROM":
            words = args.split()
            stage = {"image": words[0], "name": words[2] if len(words) > 2 and words[1].upper() == "AS" else str(len(stages)),
                     "workdir": "/", "steps": []}
            stages.append(stage)
        elif stage is not None:
            if instruction == "WORKDIR":
                stage["workdir"] = args if args.startswith("/") else stage["workdir"].rstrip("/") + "/" + args
            stage["steps"].append((instruction, args, stage["workdir"]))
    if not p.check(len(stages) >= 2, "the Dockerfile must be multi-stage (a build stage and a runtime stage)"):
        p.finish("")
    builder_names = {s["name"]: s for s in stages[:-1]}
    final = stages[-1]

    # The runtime copies exactly what `cargo build --release` wrote in the stage it copies from.
    copies = [shlex.split(a) for i, a, _ in final["steps"] if i == "COPY"]
    binary_copies = [c for c in copies if c[-1] == f"/usr/local/bin/{binary}"]
    if p.check(len(binary_copies) == 1, f"the runtime stage must COPY the binary to /usr/local/bin/{binary} once"):
        words = binary_copies[0]
        source_stage = next((w.split("=", 1)[1] for w in words if w.startswith("--from=")), None)
        builder = builder_names.get(source_stage)
        if p.check(builder is not None, f"the binary is copied --from={source_stage}, which is not a build stage"):
            runs = [(a, wd) for i, a, wd in builder["steps"] if i == "RUN" and re.search(r"\bcargo build\b[^&;]*--release", a)]
            if p.check(runs, f"stage {source_stage} never runs `cargo build --release`"):
                last_run, workdir = runs[-1]
                p.check("--locked" in last_run, "the release build must use --locked (the image gets the tested Cargo.lock)")
                expected = workdir.rstrip("/") + f"/target/release/{binary}"
                p.check(words[-2] == expected, f"the runtime copies {words[-2]}, but cargo build --release in {workdir} writes {expected}")
                src_copy = next((n for n, (i, a, _) in enumerate(builder["steps"]) if i == "COPY" and shlex.split(a)[0] == "src"), None)
                last_build = max(n for n, (i, a, _) in enumerate(builder["steps"]) if i == "RUN" and "cargo build" in a)
                p.check(src_copy is not None and src_copy < last_build, "the last cargo build must run after the sources are copied")
                first_manifest = next((n for n, (i, a, _) in enumerate(builder["steps"]) if i == "COPY" and "Cargo.lock" in a), None)
                first_build = min(n for n, (i, a, _) in enumerate(builder["steps"]) if i == "RUN" and "cargo build" in a)
                p.check(first_manifest is not None and first_manifest < first_build < (src_copy or 0),
                        "dependencies must be built from Cargo.toml + Cargo.lock before the sources are copied (a cached layer)")

    steps = {}
    for instruction, args, _ in final["steps"]:
        steps.setdefault(instruction, []).append(args)
    p.check(final["image"].startswith("gcr.io/distroless/cc"), f"runtime image {final['image']}: expected distroless/cc (glibc, nothing else)")
    user = (steps.get("USER") or [""])[-1].split(":")[0]
    p.check(user.isdigit() and int(user) != 0, f"the runtime must run as a numeric non-root USER (got {user!r})")
    exposed = {w.split("/")[0] for a in steps.get("EXPOSE", []) for w in a.split()}
    p.check({"8080", "9090"} <= exposed, f"EXPOSE must list 8080 and 9090 (got {sorted(exposed)})")
    healthcheck = (steps.get("HEALTHCHECK") or [""])[-1]
    cmd = exec_form(healthcheck.split("CMD", 1)[1].strip()) if "CMD" in healthcheck else None
    p.check(cmd and cmd[0] == f"/usr/local/bin/{binary}" and cmd[1] == "healthcheck",
            f"HEALTHCHECK must run `{binary} healthcheck` in exec form (got {healthcheck!r})")
    entry = exec_form((steps.get("ENTRYPOINT") or [""])[-1])
    p.check(entry == [f"/usr/local/bin/{binary}"], f"ENTRYPOINT must be the binary (got {entry})")
    command = exec_form((steps.get("CMD") or [""])[-1]) or []
    p.check(command[:1] == ["serve"] and "--config" in command, f"CMD must be `serve --config PATH` (got {command})")
    volumes = {v for a in steps.get("VOLUME", []) for v in (exec_form(a) or a.split())}
    p.check({"/etc/flexroute", "/var/lib/flexroute"} <= volumes, f"VOLUME must declare /etc/flexroute and /var/lib/flexroute (got {sorted(volumes)})")
    labels = " ".join(steps.get("LABEL", []))
    p.check('org.opencontainers.image.version="${VERSION}"' in labels, "LABEL org.opencontainers.image.version must come from ARG VERSION")
    p.check(f"VERSION={version}" in steps.get("ARG", []), f"ARG VERSION must default to Cargo.toml's version {version}")

    # Everything copied from the build context must survive .dockerignore.
    patterns = [l.strip() for l in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
                if l.strip() and not l.strip().startswith("#")]
    context_sources = set()
    for s in stages:
        for instruction, args, _ in s["steps"]:
            if instruction in ("COPY", "ADD"):
                words = [w for w in shlex.split(args) if not w.startswith("--")]
                if not any(w.startswith("--from=") for w in shlex.split(args)):
                    context_sources.update(w.rstrip("/") for w in words[:-1])
    for source in sorted(context_sources):
        p.check((ROOT / source).exists(), f"COPY {source}: not in the repository")
        p.check(not dockerignore_excludes(patterns, source), f"COPY {source}: excluded by .dockerignore")
        for child in (ROOT / source).rglob("*") if (ROOT / source).is_dir() else []:
            r = str(child.relative_to(ROOT))
            p.check(not dockerignore_excludes(patterns, r), f"COPY {source}: {r} excluded by .dockerignore")
    for path in ("target/release/flexroute", ".git/HEAD", "state/x", "tests/api/main.rs", "README.md"):
        p.check(dockerignore_excludes(patterns, path), f".dockerignore lets {path} into the build context")
    p.finish(f"{len(stages)} stages; runtime copies /app/target/release/{binary} from `cargo build --release --locked`, "
             f"USER {user}, EXPOSE {' '.join(sorted(exposed))}, HEALTHCHECK `{binary} healthcheck`; context: {', '.join(sorted(context_sources))}")


# ---- agreement between the Dockerfile, the manifests and the deploy config ---------------------


def cmd_consistency(rendered):
    p = Problems()
    docs = load_docs(rendered)
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], []).append(d)
    deployment = by_kind["Deployment"][0]
    pod = deployment["spec"]["template"]["spec"]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    container = pod["containers"][0]
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    env = {e["name"]: e for e in container.get("env", [])}
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    selected = lambda selector: all(pod_labels.get(k) == v for k, v in selector.items())

    p.check(selected(deployment["spec"]["selector"]["matchLabels"]), "the Deployment's selector does not match its pod labels")
    p.check(ports == {"http": 8080, "metrics": 9090}, f"container ports must be http 8080 and metrics 9090 (got {ports})")

    # Probes: liveness /healthz and readiness /readyz on the public port.
    probe_path = lambda name: (container.get(name) or {}).get("httpGet", {})
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
        get = probe_path(probe)
        p.check(get.get("path") == path and get.get("port") in ("http", 8080), f"{probe} must GET {path} on port http (got {get})")

    # Security context as the issue asks; the UID is the Dockerfile's USER.
    docker_user = next((a for i, a in dockerfile_instructions(ROOT / "Dockerfile") if i == "USER"), "").split(":")[0]
    psc, csc = pod.get("securityContext", {}), container.get("securityContext", {})
    p.check(psc.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot must be true")
    p.check(str(psc.get("runAsUser")) == docker_user, f"pod runAsUser {psc.get('runAsUser')} differs from the Dockerfile's USER {docker_user}")
    p.check(psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccompProfile must be RuntimeDefault")
    p.check(csc.get("readOnlyRootFilesystem") is True, "readOnlyRootFilesystem must be true")
    p.check(csc.get("allowPrivilegeEscalation") is False, "allowPrivilegeEscalation must be false")
    p.check(csc.get("capabilities", {}).get("drop") == ["ALL"], "capabilities must drop ALL")
    for kind in ("requests", "limits"):
        p.check({"cpu", "memory"} <= set(container.get("resources", {}).get(kind, {})), f"resources.{kind} needs cpu and memory")

    # The config file the container is told to read is the ConfigMap, mounted as a directory.
    args = container.get("args") or []
    config_path = args[args.index("--config") + 1] if "--config" in args else ""
    config_dir, _, config_name = config_path.rpartition("/")
    volume = volumes.get(mounts.get(config_dir), {})
    configmaps = {c["metadata"]["name"]: c for c in by_kind.get("ConfigMap", [])}
    cm = configmaps.get(volume.get("configMap", {}).get("name"))
    p.check(cm is not None and config_name in cm.get("data", {}),
            f"--config {config_path}: no ConfigMap with key {config_name} is mounted at {config_dir}")
    p.check(not any(m.get("subPath") for m in container.get("volumeMounts", [])), "a subPath mount never sees ConfigMap updates (hot reload)")

    # The routing table's listeners and state agree with the pod.
    table = tomllib.loads(cm["data"][config_name]) if cm else {}
    server = table.get("server", {})
    for key, port in (("listen", 8080), ("admin_listen", 9090)):
        p.check(str(server.get(key, "")).endswith(f":{port}") and str(server.get(key, "")).startswith("0.0.0.0"), f"server.{key} must be 0.0.0.0:{port} (got {server.get(key)})")
        env_name = f"FLEXROUTE_SERVER_{key.upper()}"
        p.check(env.get(env_name, {}).get("value") in (None, server.get(key)), f"{env_name} disagrees with server.{key}")
    state = env.get("FLEXROUTE_PROVISIONING_STATE", {}).get("value") or table.get("provisioning", {}).get("state", "")
    p.check(state == table.get("provisioning", {}).get("state"), "FLEXROUTE_PROVISIONING_STATE disagrees with provisioning.state")
    state_dir = state.removeprefix("file:").rpartition("/")[0]
    state_volume = volumes.get(mounts.get(state_dir), {})
    p.check("emptyDir" in state_volume or "persistentVolumeClaim" in state_volume,
            f"the state directory {state_dir} must be a writable volume (emptyDir or PVC): the root filesystem is read-only")
    drain = server.get("shutdown_drain_ms", 5000) + server.get("shutdown_timeout_ms", 10000)
    p.check(pod.get("terminationGracePeriodSeconds", 30) * 1000 > drain,
            f"terminationGracePeriodSeconds must exceed shutdown_drain_ms + shutdown_timeout_ms ({drain} ms)")

    # Credentials only through secretKeyRef, all to the Secret the example shows, with its keys.
    secret = load_docs(DEPLOY / "base" / "secret.example.yaml")[0]
    secret_keys = set(secret.get("stringData", {})) | set(secret.get("data", {}))
    refs = [(e["name"], e["valueFrom"]["secretKeyRef"]) for e in env.values() if "secretKeyRef" in e.get("valueFrom", {})]
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_API_KEY", "TWILIO_API_SECRET", "FLEXROUTE_ADMIN_TOKEN"):
        p.check(name in dict(refs), f"{name} must come from a secretKeyRef")
    for name, ref in refs:
        p.check(ref["name"] == secret["metadata"]["name"], f"{name}: Secret {ref['name']} is not the one secret.example.yaml shows")
        p.check(ref["key"] in secret_keys, f"{name}: key {ref['key']} is not in secret.example.yaml")
    p.check(not any(re.search(r"SECRET|TOKEN|AUTH", n) and "value" in e for n, e in env.items()), "a secret is set as a plain env value")

    # Services select the pods and name ports the container has; the ServiceMonitor selects the
    # ops Service only, by a port name it has.
    services = {s["metadata"]["name"]: s for s in by_kind.get("Service", [])}
    for name, svc in services.items():
        p.check(selected(svc["spec"]["selector"]), f"Service {name} does not select the flexroute pods")
        for port in svc["spec"]["ports"]:
            p.check(port.get("targetPort") in ports or port.get("targetPort") in ports.values(), f"Service {name}: targetPort {port.get('targetPort')} is not a container port")
    public = [s for s in services.values() if any(port["port"] == 8080 and port["name"] == "http" for port in s["spec"]["ports"])]
    ops = [s for s in services.values() if any(port["port"] == 9090 and port["name"] == "metrics" for port in s["spec"]["ports"])]
    p.check(len(public) == 1 and len(ops) == 1 and public != ops, "need one Service for http 8080 and a separate one for metrics 9090")
    for sm in by_kind.get("ServiceMonitor", []):
        match = sm["spec"]["selector"]["matchLabels"]
        chosen = [s for s in services.values() if all(s["metadata"].get("labels", {}).get(k) == v for k, v in match.items())]
        p.check(chosen == ops, f"ServiceMonitor selects {[s['metadata']['name'] for s in chosen]}, not the ops Service alone")
        for ep in sm["spec"]["endpoints"]:
            p.check(any(port["name"] == ep["port"] for s in chosen for port in s["spec"]["ports"]), f"ServiceMonitor port {ep['port']} is not a port of the ops Service")

    for kind in ("PodDisruptionBudget",):
        for obj in by_kind.get(kind, []):
            p.check(selected(obj["spec"]["selector"]["matchLabels"]), f"{kind} does not select the flexroute pods")
    for hpa in by_kind.get("HorizontalPodAutoscaler", []):
        ref = hpa["spec"]["scaleTargetRef"]
        p.check(ref["kind"] == "Deployment" and ref["name"] == deployment["metadata"]["name"], "the HPA does not scale the flexroute Deployment")
        p.check("replicas" not in deployment["spec"], "the Deployment sets replicas although an HPA scales it: every apply would undo the HPA's count")
        p.check(hpa["spec"].get("minReplicas", 1) >= 2 or not by_kind.get("PodDisruptionBudget"),
                "with a PodDisruptionBudget of minAvailable 1, the HPA must keep at least 2 replicas or drains block")
    p.finish(f"{len(docs)} objects agree: ports, probes, security context, config mount, state volume, grace period, secrets, selectors")


def cmd_redis(rendered):
    """The example Redis keeps its data across rescheduling: one StatefulSet replica whose /data
    is a PersistentVolumeClaim from its volumeClaimTemplate (no emptyDir), the append-only file
    on, eviction off, and a Service that selects it."""
    p = Problems()
    docs = load_docs(rendered)
    by_kind = {}
    for doc in docs:
        by_kind.setdefault(doc["kind"], []).append(doc)
    p.check(not by_kind.get("Deployment"), "Redis runs as a Deployment: its data would not follow a rescheduled pod")
    sets = by_kind.get("StatefulSet", [])
    if not p.check(len(sets) == 1, f"expected one StatefulSet, found {len(sets)}"):
        p.finish("")
        return
    sts = sets[0]
    spec = sts["spec"]
    p.check(spec.get("replicas", 1) == 1, "more than one Redis: two primaries would each grant the same lease")
    templates = {t["metadata"]["name"]: t for t in spec.get("volumeClaimTemplates", [])}
    pod = spec["template"]["spec"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    p.check(not any("emptyDir" in v for v in volumes.values()), "an emptyDir volume: lost when the pod is rescheduled")
    containers = [c for c in pod["containers"] if c["name"] == "redis"]
    if not p.check(len(containers) == 1, "no container named redis"):
        p.finish("")
        return
    redis = containers[0]
    mounts = {m["mountPath"]: m["name"] for m in redis.get("volumeMounts", [])}
    data = mounts.get("/data")
    p.check(data is not None, "nothing mounted at /data (where Redis writes its append-only file)")
    p.check(data in templates and data not in volumes, f"/data ({data}) is not a volumeClaimTemplate")
    if data in templates:
        claim = templates[data]["spec"]
        p.check("ReadWriteOnce" in claim.get("accessModes", []), "the claim is not ReadWriteOnce")
        p.check(bool(claim.get("resources", {}).get("requests", {}).get("storage")), "the claim requests no storage")
    args = redis.get("args", [])
    pairs = dict(zip(args[::2], args[1::2]))
    p.check(pairs.get("--appendonly") == "yes", "the append-only file is off")
    p.check(pairs.get("--maxmemory-policy") == "noeviction", "eviction is on: records have no expiry")
    labels = spec["template"]["metadata"]["labels"]
    services = by_kind.get("Service", [])
    p.check(any(sts["spec"].get("serviceName") == s["metadata"]["name"] for s in services), "serviceName names no Service")
    p.check(all(all(labels.get(k) == v for k, v in s["spec"]["selector"].items()) for s in services), "a Service does not select the Redis pod")
    p.finish(f"StatefulSet {sts['metadata']['name']}: 1 replica, /data on claim {data} ({templates.get(data, {}).get('spec', {}).get('resources', {}).get('requests', {}).get('storage')}), appendonly yes, noeviction")


COMMANDS = {
    "kustomize-refs": cmd_kustomize_refs,
    "render-fallback": cmd_render_fallback,
    "split": cmd_split,
    "operator": cmd_operator,
    "metrics": cmd_metrics,
    "dashboard": cmd_dashboard,
    "dockerfile": cmd_dockerfile,
    "consistency": cmd_consistency,
    "redis": cmd_redis,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        sys.exit(f"usage: {sys.argv[0]} {{{'|'.join(COMMANDS)}}} ARGS")
    COMMANDS[sys.argv[1]](*sys.argv[2:])
