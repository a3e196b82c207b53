"""The figures on a Garage of the bench's own, through real obsctl: the garage row and ab
minutes (SKIP without $OBSCTL or Garage)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

from .common import REPO, SEED, BenchError, BenchSkip, nonzero
from .proc import Runner, proc_cpu_s
from .profiles import parse_size

# garage: the shipped profile through real obsctl on a local Garage, simulated from 08:00
# at 960x (16 simulated hours in 60 wall seconds).
GARAGE_TIME_SCALE = 960
GARAGE_START_AT = "08:00"
GARAGE_VERSION = "2.5.0"
LOCAL_S3 = REPO / "scripts" / "local-s3"
# Free space beyond the profile's min_free_disk below which the garage row edits it to
# "0": room for the files in flight and Garage's blocks (deleted blocks linger a while).
GARAGE_DISK_HEADROOM = 8_000_000_000
# ab minutes: the shift to detect, and the minutes of `ab` a release check can spend.
AB_SHIFT = 0.10
AB_TARGET_MIN = 10.0
# MIN_SAMPLES in src/commands/ab.rs: successful commands per build a latency verdict needs.
AB_MIN_SAMPLES = 5


def port_free(port: int) -> bool:
    import socket
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as so:
        # As servers do (Garage too): connections of an earlier run in TIME_WAIT on the
        # port do not make it busy, a listener does.
        so.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            so.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as so:
        so.settimeout(0.2)
        return so.connect_ex(("127.0.0.1", port)) != 0


def garage_port() -> int:
    """N with N (S3), N+1 (RPC) and N+3 (admin) free on 127.0.0.1 (N+2 too), below
    Linux's ephemeral range (32768-60999), where the source ports of other programs'
    connections and the free ports tests ask the kernel for come from."""
    for n in range(29100, 30000, 10):
        if all(port_free(n + k) for k in (0, 1, 2, 3)):
            return n
    raise BenchError("no free loopback port N with N..N+3 free in 29100-29999 for Garage")


class LocalGarage:
    """A Garage of the bench's own through scripts/local-s3, on port N: started, its
    exports read, and stopped and wiped at the end whatever happened. Its files (key
    pair, config, data, log) go to the figure's work dir (TRAFFICGEN_LOCAL_S3_STATE),
    not to the repository's .local-s3/."""

    def __init__(self, r: "Runner", d: Path):
        self.r, self.d = r, d
        self.state = d / "local-s3"
        self.port = garage_port()
        self.started = False
        self.env: dict[str, str] = {}
        self.cpu_s = 0.0
        self.start_s = self.stop_s = 0.0

    def _local_s3(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
        cmd = [str(LOCAL_S3), *args, "--server", "garage", "--port", str(self.port)]
        env = {**os.environ, "TRAFFICGEN_LOCAL_S3_STATE": str(self.state)}
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env,
                              stdin=subprocess.DEVNULL)

    def pid(self) -> int | None:
        for state in (self.state, REPO / ".local-s3"):  # the latter: a local-s3 without the variable
            try:
                return int((state / f"garage-{self.port}.pid").read_text().strip())
            except (OSError, ValueError):
                pass
        return None

    def __enter__(self):
        # `with` does not call __exit__ when __enter__ raises: stop here then.
        try:
            return self._start()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise

    def _start(self):
        self.r.say(f"garage: scripts/local-s3 start --server garage --port {self.port}")
        self.started = True  # from here on, stop even if start fails half-way
        t0 = time.monotonic()
        st = self._local_s3("start")
        (self.d / "local-s3-start.log").write_text(st.stdout + st.stderr)
        if st.returncode != 0:
            raise BenchError(f"scripts/local-s3 start --server garage --port {self.port} exited {st.returncode}: "
                             + " / ".join(st.stderr.strip().splitlines()[-3:]))
        self.start_s = time.monotonic() - t0
        ev = self._local_s3("env", timeout=60)
        if ev.returncode != 0:
            raise BenchError(f"scripts/local-s3 env --server garage --port {self.port} exited {ev.returncode}: "
                             + ev.stderr.strip())
        for line in ev.stdout.splitlines():
            m = re.match(r"\s*export\s+([A-Za-z_][A-Za-z0-9_]*)=(.*)$", line)
            if m:
                vals = shlex.split(m.group(2))
                self.env[m.group(1)] = vals[0] if vals else ""
        need = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "TRAFFICGEN_SERVER_METRICS")
        missing = [k for k in need if not self.env.get(k)]
        if missing:  # names only: the values are never printed
            raise BenchError(f"scripts/local-s3 env --server garage --port {self.port} exported no {', '.join(missing)}")
        return self

    def __exit__(self, *exc):
        if not self.started:
            return False
        pid = self.pid()
        if pid:
            self.cpu_s = proc_cpu_s(pid)
        self.r.say(f"garage: scripts/local-s3 stop --server garage --port {self.port} --wipe")
        t0 = time.monotonic()
        try:
            st = self._local_s3("stop", "--wipe", timeout=60)
            self.stop_s = time.monotonic() - t0
            if st.returncode != 0:
                print(f"warning: scripts/local-s3 stop --server garage --port {self.port} --wipe exited "
                      f"{st.returncode}: {st.stderr.strip()}", file=sys.stderr)
        except (OSError, subprocess.SubprocessError) as e:
            print(f"warning: could not stop Garage on port {self.port}: {e}", file=sys.stderr)
        return False


def real_obsctl() -> tuple[str, str]:
    """$OBSCTL, resolved, and its version; SKIP without it, Garage or the venv."""
    obsctl = os.environ.get("OBSCTL", "")
    if not obsctl:
        raise BenchSkip("OBSCTL is not set (OBSCTL=/path/to/obsctl runs the shipped profile through it on a local Garage)")
    cache = Path(os.environ.get("TRAFFICGEN_CACHE")
                 or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "trafficgen")
    garage = cache / f"garage-{GARAGE_VERSION}" / "bin" / "garage"
    if not os.access(garage, os.X_OK):
        raise BenchSkip(f"Garage is not installed ({garage}; scripts/local-s3 install --server garage builds it)")
    venv = Path(os.environ.get("TRAFFICGEN_VENV") or REPO / ".venv")
    if not all(os.access(venv / "bin" / x, os.X_OK) for x in ("python", "moto_server", "aws")) \
            or not (venv / ".trafficgen-requirements").is_file():
        raise BenchSkip(f"scripts/local-s3's virtualenv {venv} is not installed (scripts/local-s3 install)")
    client = shutil.which(obsctl) or obsctl
    if not os.access(client, os.X_OK):
        raise BenchError(f"OBSCTL={obsctl} is not an executable file")
    client = str(Path(client).resolve())
    ver = subprocess.run([client, "--version"], capture_output=True, text=True, timeout=30)
    version = ((ver.stdout.strip() or ver.stderr.strip()).splitlines() or ["?"])[0] if ver.returncode == 0 else "?"
    return client, version


def fig_ab(r: Runner, cfg: dict) -> dict:
    client, version = real_obsctl()
    d = r.sandbox("ab")
    seconds = cfg["ab_s"]
    out = d / "ab.json"
    with LocalGarage(r, d) as g:
        env = {**os.environ, **g.env}
        env.pop("RUST_BACKTRACE", None)
        cmd = [str(r.tg), "--profiles", str(REPO / "scripts" / "ci-smoke.toml"), "ab", "--a", client, "--calibrate",
               "--endpoint", f"http://127.0.0.1:{g.port}", "--duration", f"{seconds:g}s", "--seed", str(SEED),
               "--summary-json", str(out), "--log-file", str(d / "log" / "trafficgen.log"),
               "--temp-dir", str(d / "tmp"), "--state-dir", str(d / "state"), "--cleanup", "-q"]
        (d / "tmp").mkdir(exist_ok=True)
        load0 = os.getloadavg()
        r.say(f"ab minutes: trafficgen ab --calibrate of {client} on Garage port {g.port}, "
              f"scripts/ci-smoke.toml, {seconds:g}s")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 900, env=env, cwd=d)
        load1 = os.getloadavg()
    if p.returncode not in (0, 3, 4):
        raise BenchError(f"trafficgen ab exited {p.returncode}: {(p.stderr.strip() or p.stdout.strip())[-400:]}")
    doc = json.loads(out.read_text())
    ups = [c for c in doc["ab"]["comparisons"] if c["op"] == "upload" and c.get("min_detectable") and c.get("shift")]
    if not ups:
        raise BenchError(f"no upload comparison with a minimum detectable effect in {out}")
    c = max(ups, key=lambda c: c["shift"]["n_a"] + c["shift"]["n_b"])
    m = float(c["min_detectable"])
    # Two bounds: the noise (the interval narrows as 1/sqrt(n)) and `ab`'s own floor of
    # AB_MIN_SAMPLES successful commands per build before it judges a latency at all.
    by_noise = seconds / 60 * (m / AB_SHIFT) ** 2
    by_count = seconds / 60 * AB_MIN_SAMPLES / max(1, min(c["shift"]["n_a"], c["shift"]["n_b"]))
    minutes = max(by_noise, by_count)
    server = "; ".join(f"{x['api']} {x['a']:.2f}/{x['b']:.2f} per {x['per']} {x['verdict']}"
                       for x in doc["ab"].get("server", []) if x.get("a") is not None)
    notes = [
        f"client: {version} ({client}); upload/{c['size_class']}: {c['shift']['n_a']}+{c['shift']['n_b']} commands, "
        f"p50 {c['shift']['median_a'] * 1000:.0f}/{c['shift']['median_b'] * 1000:.0f} ms, minimum detectable effect "
        f"{m * 100:.2f} % after {seconds:g} s (80 % power, 5 % level); verdict {doc['ab']['verdict']} (exit {p.returncode})",
        f"minutes for a 10 % shift: {by_noise:.3f} by the noise, {by_count:.2f} by the floor of {AB_MIN_SAMPLES} "
        f"successful commands per build; the larger is the figure",
        f"server's requests per block, A/B (A against A): {server or 'none read'}",
        f"load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end",
    ]
    return dict(ours=minutes, ours_text=f"{minutes:.1f} min", baseline=AB_TARGET_MIN,
                baseline_text=f"{AB_TARGET_MIN:.0f} min", ratio=minutes / AB_TARGET_MIN, notes=notes,
                detail=dict(min_detectable=m, seconds=seconds, comparison=c, verdict=doc["ab"]["verdict"],
                            server=doc["ab"].get("server", []), obsctl_version=version))


def fig_garage(r: Runner, cfg: dict) -> dict:
    client, version = real_obsctl()
    d = r.sandbox("garage")
    seconds = cfg["garage_s"]
    sim_s = int(round(seconds * GARAGE_TIME_SCALE))
    sim = f"{sim_s // 3600}h" if sim_s % 3600 == 0 else f"{sim_s}s"
    # The shipped profile as it is, unless the disk is short for its min_free_disk.
    with open(REPO / "profiles.toml", "rb") as f:
        doc = tomllib.load(f)
    keep_free = parse_size(doc["limits"]["min_free_disk"])
    free = shutil.disk_usage(d).free
    if free < keep_free + GARAGE_DISK_HEADROOM:
        doc["limits"]["min_free_disk"] = "0"
        profile = r.write_profile(d, doc)
        edited = (f"a copy with min_free_disk = \"0\" ({free / 1e9:.1f} GB free in {d.parent}, the profile keeps "
                  f"{keep_free / 1e9:.1f} GB free)")
    else:
        profile = REPO / "profiles.toml"
        edited = "unedited"

    with LocalGarage(r, d) as g:
        env = dict(g.env)
        url = env["TRAFFICGEN_SERVER_METRICS"]
        timing = ["--duration", sim, "--time-scale", str(GARAGE_TIME_SCALE), "--start-at", GARAGE_START_AT]
        extra = ["--endpoint", f"http://127.0.0.1:{g.port}", "--server-metrics", url, "--cleanup"]
        chk = subprocess.run([str(r.tg), "--profiles", str(profile), "check"],
                             capture_output=True, text=True, timeout=30, env={**os.environ, **env})
        if chk.returncode != 0:
            raise BenchError(f"`trafficgen check` rejects {profile} (exit {chk.returncode}): "
                             + (chk.stderr.strip() or chk.stdout.strip()))
        load0 = os.getloadavg()
        r.say(f"garage: trafficgen with {client} on Garage port {g.port}, shipped profile ({edited}), "
              f"{sim} simulated from {GARAGE_START_AT} at {GARAGE_TIME_SCALE}x = {seconds:g}s of traffic")
        # Drain (grace period, 30 s shipped) and --cleanup come after the traffic.
        res = r.run(d, profile, client, seconds, env=env, timing=timing, extra=extra, ok_codes=(0, 3, 4),
                    limit=seconds + 900)
        load1 = os.getloadavg()
    s, t = res["summary"], res["summary"]["totals"]
    achieved, target = float(s["achieved_ops"]), float(s["target_ops"])
    if target <= 0:
        raise BenchError(f"summary has target_ops {target}")
    up = s["latency_ms"].get("upload") or {}
    v = s.get("verdict") or {}
    verdict = ("passed" if v.get("passed") else "FAILED") + f" (exit {res['returncode']})"
    sm = s.get("server_metrics")
    apis = (sm or {}).get("apis", {})
    host = s.get("host") or {}

    def amp(api: str) -> str:
        a = apis.get(api)
        if not a:
            return f"{api} -"
        x = a.get("amplification")
        n = a.get("server_errors") or 0
        errs = f" ({n:.0f} error{'s' if n != 1 else ''})" if n else ""
        return (f"{api} {x:.2f}x" if x is not None else f"{api} - ({a['server']:.0f} requests)") + errs

    def per_cmd(api: str) -> str:
        a = apis.get(api)
        if not a:
            return f"{api} 0 per command (no request)" if sm else f"{api} -"
        n = a.get("server_errors") or 0
        errs = f", {n:.0f} error{'s' if n != 1 else ''}" if n else ""
        return f"{api} {a['per_command']:.2f} per command ({a['server']:.0f} requests{errs})"

    problems = []
    if not sm:
        problems.append(f"no server metrics in the summary (--server-metrics {url}); see {d / 'stderr'}")
    else:
        for api in ("PutObject", "GetObject", "DeleteObject"):  # every run uploads, downloads and deletes
            if api not in apis:
                problems.append(f"the server counted no {api} request")
    amplification = {
        "PutObject": (apis.get("PutObject") or {}).get("amplification"),
        "GetObject": (apis.get("GetObject") or {}).get("amplification"),
        "DeleteObject": (apis.get("DeleteObject") or {}).get("amplification"),
        "ListObjectsV2_per_command": (apis.get("ListObjectsV2") or {}).get("per_command", 0.0 if sm else None),
    }
    shown = ["PutObject", "GetObject", "DeleteObject", "HeadObject"]
    others = sorted(k for k in apis if k not in shown + ["ListObjectsV2"])
    notes = [
        f"client: {version} ({client}) on Garage {GARAGE_VERSION} at 127.0.0.1:{g.port} (ready in {g.start_s:.1f} s); "
        f"shipped profiles.toml {edited}, seed {s['seed']}; {sim} simulated from {GARAGE_START_AT} at "
        f"{GARAGE_TIME_SCALE}x, full file sizes, --cleanup; trafficgen ended after {res['wall_s']:.0f} s "
        f"(dispatch_s {s['dispatch_s']} s, stopped by {s['stopped_by']}; then in-flight commands finishing "
        f"and the cleanup); Garage stopped and wiped in {g.stop_s:.1f} s",
        f"achieved_ops / target_ops from the summary: {achieved:,.0f} of {target:,.1f} "
        f"({s['achieved_ops_per_min']:.0f} of {s['target_ops_per_min']:.0f} ops/min); "
        f"upload p50 {up.get('p50_ms', 0):,.0f} ms p99 {up.get('p99_ms', 0):,.0f} ms ({up.get('count', 0)} uploads); "
        f"{t['bytes_up'] / 1e9:.2f} GB up, {t['bytes_down'] / 1e9:.2f} GB down, {t['large_files']} files above 100 MiB; "
        f"shortfall {t['shortfall']} ({', '.join(f'{k} {n}' for k, n in nonzero(t['shortfall_by_reason']).items()) or 'none'})"
        + (f"; host guard: this machine saturated for {host.get('saturated_s', 0):.1f} s"
           + (f" ({', '.join(f'{k} {x:.1f} s' for k, x in nonzero(host.get('by_reason', {})).items())})"
              if nonzero(host.get("by_reason", {})) else "") if host else ""),
        f"failures {t['failures']} ({', '.join(f'{k} {n}' for k, n in nonzero(t['failures_by_class']).items()) or 'none'}), "
        f"failure rate {100 * s['failure_rate']:.2f} %; integrity failures {s['integrity_failures']}; "
        f"live objects at exit {s['live_objects_at_exit']}",
        f"verdict (the shipped thresholds): {verdict}"
        + ("; " + "; ".join(v.get("reasons", [])) if v.get("reasons") else ""),
        f"server's amplification (server requests per command that needs one, over {sm['commands'] if sm else 0} "
        f"commands): " + ", ".join(amp(a) for a in shown) + "; " + per_cmd("ListObjectsV2")
        + ("; other APIs per command: " + ", ".join(f"{k} {apis[k]['per_command']:.2f}" for k in others) if others else ""),
        f"load average {load0[0]:.2f} at the start, {load1[0]:.2f} at the end; Garage used {g.cpu_s:.1f} CPU s "
        f"(counted as ours, not as other processes)",
    ]
    if free < keep_free + GARAGE_DISK_HEADROOM:
        notes.append(f"disk: {free / 1e9:.1f} GB free in {d.parent} for trafficgen's files and Garage's data")
    mins = [x["min_ms"] for x in s["latency_ms"].values() if x.get("count")]
    floor = min(mins) if mins else 0.0
    if up.get("count"):
        # obsctl 0.3.0 sleeps 2.5 s before every exit (otel.rs, shutdown_tracing, even
        # with OTEL_ENABLED=false): a floor under every latency, not the server's time.
        notes.append(f"client floor: the fastest command of any kind took {floor:,.0f} ms (obsctl 0.3.0 sleeps "
                     f"2.5 s before it exits); upload p50 {up['p50_ms'] - floor:,.0f} ms and p99 "
                     f"{up['p99_ms'] - floor:,.0f} ms above that floor")
    if host.get("warning"):
        notes.append(f"host: {host['warning']}")
    notes += [f"WARNING: {x}" for x in problems]
    return dict(ours=achieved, ours_text=f"{achieved:,.0f} ops", baseline=target,
                baseline_text=f"{target:,.1f} ops (target)", ratio=achieved / target, notes=notes,
                problems=problems, own_cpu_s=g.cpu_s,
                detail=dict(obsctl=client, obsctl_version=version, port=g.port, profile=edited,
                            command=shlex.join(res["cmd"]), exit_code=res["returncode"],
                            verdict=v, seed=s["seed"], duration_s=s["duration_s"], dispatch_s=s["dispatch_s"],
                            wall_s=round(res["wall_s"], 1),
                            upload_latency_ms=up, fastest_command_ms=floor, bytes_up=t["bytes_up"], gb_up=round(t["bytes_up"] / 1e9, 3),
                            failures=t["failures"], failures_by_class=nonzero(t["failures_by_class"]),
                            failure_rate=s["failure_rate"], integrity=s["integrity"],
                            shortfall=t["shortfall"], shortfall_by_reason=nonzero(t["shortfall_by_reason"]),
                            amplification=amplification, server_metrics=sm, host=host, latency_ms=s["latency_ms"],
                            loadavg_start=load0, loadavg_end=load1, garage_cpu_s=round(g.cpu_s, 1),
                            garage_start_s=round(g.start_s, 1), garage_stop_s=round(g.stop_s, 1)))
