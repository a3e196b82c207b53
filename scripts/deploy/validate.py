"""scripts/deploy/validate's body (run with the venv's python): renders the
kustomization, checks every manifest against the Kubernetes schemas in strict mode, and
checks that the Job really makes N distinct shards. See scripts/deploy/validate."""

import argparse
import difflib
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib

import kubernetes_validate.utils as kv
import yaml

import kustomize_render

# The oldest Kubernetes the Job needs (backoffLimitPerIndex and the FailIndex action are
# GA from 1.33) and the newest that kubernetes-validate 1.37.0 ships schemas for.
KUBERNETES_VERSIONS = ["1.33.0", "1.37.0"]
CONTAINER = "trafficgen"
INDEX_VAR = "$(JOB_COMPLETION_INDEX)"
INDEX_FIELD = "metadata.annotations['batch.kubernetes.io/job-completion-index']"

problems = []


def problem(message):
    problems.append(message)
    print(f"validate: error: {message}", file=sys.stderr)


def canonical(docs):
    return sorted(json.dumps(d, sort_keys=True) for d in docs)


def kubectl_render(directory):
    """kubectl's own kustomize output, or None when kubectl is not installed."""
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    done = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        problem(f"kubectl kustomize {directory}: {done.stderr.strip()}")
        return []
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None]


def check_schemas(label, docs):
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc:
            problem(f"{label}: a document that is not a Kubernetes object")
            continue
        name = f"{doc['kind']}/{doc.get('metadata', {}).get('name')}"
        failed = False
        for version in KUBERNETES_VERSIONS:
            try:
                kv.validate(doc, version, strict=True)
            except kv.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                problem(f"{label}: {name} against Kubernetes {kv.major_minor(version)}: {path}: {e.message}")
                failed = True
            except (kv.SchemaNotFoundError, kv.InvalidSchemaError) as e:
                problem(f"{label}: {name}: {e}")
                failed = True
        if not failed:
            versions = ", ".join(kv.major_minor(v) for v in KUBERNETES_VERSIONS)
            print(f"validate: ok {name} ({label}), strict, Kubernetes {versions}")


def seconds(duration):
    """humantime's common units, enough for a Job's duration: '24h', '1h 30m', '90s'."""
    units = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400, "days": 86400}
    total, rest = 0, duration.strip()
    for number, unit in re.findall(r"(\d+)\s*([a-z]+)", rest):
        if unit not in units:
            return None
        total += int(number) * units[unit]
    if re.sub(r"(\d+)\s*([a-z]+)", "", rest).strip():
        return None
    return total if rest else None


def env_value(env, name, config_maps):
    """The value of env var `name` as the pod will see it, or None."""
    for e in env:
        if e.get("name") != name:
            continue
        if "value" in e:
            return str(e["value"])
        ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
        if ref:
            return config_maps.get(ref.get("name"), {}).get(ref.get("key"))
    return None


def expand(text, env, config_maps):
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda m: env_value(env, m.group(1), config_maps) or m.group(0), text)


def option(args, name):
    for i, a in enumerate(args):
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
        if a == name and i + 1 < len(args):
            return args[i + 1]
    return None


def check_job(job, config_maps):
    """Checks that the Indexed Job makes N distinct shards whose files do not collide."""
    name = f"Job/{job['metadata']['name']}"
    before = len(problems)
    spec = job.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    if spec.get("completionMode") != "Indexed":
        problem(f"{name}: completionMode must be Indexed (pods need JOB_COMPLETION_INDEX)")
    if pod.get("restartPolicy") != "Never":
        problem(f"{name}: restartPolicy must be Never (a restarted container would start its shard over in place)")
    containers = [c for c in pod.get("containers", []) if c.get("name") == CONTAINER]
    if not containers:
        problem(f"{name}: no container named {CONTAINER}")
        return
    c = containers[0]
    env, args = c.get("env", []), [str(a) for a in c.get("args", [])]
    completions, parallelism = spec.get("completions"), spec.get("parallelism")
    shards = env_value(env, "TRAFFICGEN_SHARDS", config_maps)
    if not any(e.get("name") == "JOB_COMPLETION_INDEX" and
               ((e.get("valueFrom") or {}).get("fieldRef") or {}).get("fieldPath") == INDEX_FIELD for e in env):
        problem(f"{name}: env JOB_COMPLETION_INDEX must come from the pod's completion index ({INDEX_FIELD})")
    if shards is None:
        problem(f"{name}: env TRAFFICGEN_SHARDS is not set (with JOB_COMPLETION_INDEX it makes the pod shard I of N)")
    elif not (str(completions) == str(parallelism) == shards):
        problem(f"{name}: TRAFFICGEN_SHARDS ({shards}), completions ({completions}) and parallelism "
                f"({parallelism}) must be the same N: otherwise users are run twice or not at all")
    shard = option(args, "--shard")
    if shard is not None and shard != f"{INDEX_VAR}/{completions}":
        problem(f"{name}: --shard {shard} is not {INDEX_VAR}/{completions}: every pod would run the same share")
    for flag in ["--summary-json", "--junit", "--log-file"]:
        value = option(args, flag)
        if value is None:
            problem(f"{name}: {flag} is not given: nothing to collect")
        elif INDEX_VAR not in value:
            problem(f"{name}: {flag} {value} does not contain {INDEX_VAR}: the pods would overwrite each other")
    duration = option(args, "--duration")
    deadline = spec.get("activeDeadlineSeconds")
    if duration is not None and deadline is not None:
        d = seconds(expand(duration, env, config_maps))
        if d is None:
            problem(f"{name}: cannot read --duration {expand(duration, env, config_maps)!r} to compare with the deadline")
        elif deadline <= d:
            problem(f"{name}: activeDeadlineSeconds ({deadline}) must exceed the duration ({d} s): "
                    f"the pods would be stopped before the end")
    profile_path = option(args, "--profiles")
    grace = option(args, "--grace-period")
    if grace is None and profile_path:
        for volume_mount in c.get("volumeMounts", []):
            mount = volume_mount["mountPath"].rstrip("/") + "/"
            if profile_path.startswith(mount):
                volume = [v for v in pod.get("volumes", []) if v["name"] == volume_mount["name"]]
                cm = (volume[0].get("configMap") or {}).get("name") if volume else None
                text = config_maps.get(cm, {}).get(profile_path[len(mount):])
                if text is not None:
                    try:
                        grace = tomllib.loads(text).get("run", {}).get("grace_period")
                    except tomllib.TOMLDecodeError as e:
                        problem(f"{name}: the profile {profile_path} is not TOML: {e}")
    termination = pod.get("terminationGracePeriodSeconds", 30)
    g = seconds(grace) if grace else None
    if g is not None and termination < g + 30:
        problem(f"{name}: terminationGracePeriodSeconds ({termination}) must leave trafficgen its grace period "
                f"({g} s) and 30 s to finish: otherwise SIGKILL comes before the summary")
    if len(problems) == before:
        print(f"validate: ok {name}: {completions} shards (completions = parallelism = TRAFFICGEN_SHARDS), "
              f"files per index, deadline {deadline} s, termination grace {termination} s")


def main():
    parser = argparse.ArgumentParser(prog="scripts/deploy/validate")
    parser.add_argument("--render-json", action="store_true", help="print the rendered manifests as JSON and stop")
    parser.add_argument("directory", nargs="?", default=os.path.join(os.path.dirname(__file__), "kubernetes"))
    a = parser.parse_args()
    directory = os.path.abspath(a.directory)
    try:
        rendered = kustomize_render.render(directory)
    except kustomize_render.RenderError as e:
        print(f"validate: error: {e}", file=sys.stderr)
        return 1
    if a.render_json:
        json.dump(rendered, sys.stdout, indent=1)
        print()
        return 0

    theirs = kubectl_render(directory)
    if theirs is None:
        print("validate: kubectl not found: rendered by kustomize_render.py alone")
    elif theirs and canonical(theirs) != canonical(rendered):
        problem("kustomize_render.py and kubectl kustomize render different manifests")
        ours_text = json.dumps([json.loads(d) for d in canonical(rendered)], indent=1, sort_keys=True)
        theirs_text = json.dumps([json.loads(d) for d in canonical(theirs)], indent=1, sort_keys=True)
        diff = difflib.unified_diff(theirs_text.splitlines(), ours_text.splitlines(), "kubectl", "kustomize_render.py",
                                    lineterm="", n=2)
        for line in list(diff)[:40]:
            print(f"  {line}", file=sys.stderr)
    elif theirs:
        print("validate: ok kubectl kustomize renders the same manifests")

    check_schemas("kustomization.yaml", rendered)
    k = kustomize_render.load_kustomization(directory)
    listed = set(k.get("resources", [])) | {"kustomization.yaml"}
    for path in sorted(glob.glob(os.path.join(directory, "*.yaml"))):
        if os.path.basename(path) in listed:
            continue
        with open(path) as f:
            try:
                docs = [d for d in yaml.safe_load_all(f) if d is not None]
            except yaml.YAMLError as e:
                problem(f"{os.path.basename(path)}: {e}")
                continue
        check_schemas(os.path.basename(path), docs)

    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in rendered if d.get("kind") == "ConfigMap"}
    jobs = [d for d in rendered if d.get("kind") == "Job"]
    if not jobs:
        problem("the kustomization renders no Job")
    for job in jobs:
        check_job(job, config_maps)
    if problems:
        print(f"validate: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
