"""The telemetry and scale figures: the otlp receiver rows, the otlp day rows and the 1000
users rows."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import time

from .common import NOOP, REPO, BenchError
from .proc import Runner, build_example, own_cpu_s, stop_process
from .profiles import bench_profile


# otlp receiver: the export requests a second trafficgen's receiver absorbs (tee on) from
# examples/otlp_load, 16 at a time, against 20x what the shipped profile's children send
# at its peak hour: obsctl 0.3.0 sends 2 export requests per process (docs/telemetry.md, "What it
# found in obsctl 0.3.0"), one process per command.
OTLP_CONCURRENCY = 16
OTLP_REQUESTS_PER_CHILD = 2
OTLP_HEADROOM = 20.0
# otlp cpu/child: trafficgen's own CPU per child that telemetry verification adds, against
# 1 ms: the CPU the receiver spends per export request (the load above, minus the run's
# idle CPU), times the requests per child.
OTLP_CPU_PER_CHILD_MS = 1.0
# 1000 users: 100 replicas of each shipped persona, 1 KiB files, a no-op client, 1 op per
# user per minute; trafficgen's own peak RSS and CPU (children excluded).
SCALE_REPLICAS = 100
SCALE_FLEET_PER_MIN = 1000.0
SCALE_RSS_BYTES = 64_000_000
SCALE_CPU_SHARE = 0.05


_otlp_cache: dict = {}


def measure_otlp(r: Runner, cfg: dict) -> dict:
    """One run serves both otlp rows."""
    if _otlp_cache:
        return _otlp_cache
    load = build_example("otlp_load")
    d = r.sandbox("otlp")
    sink = subprocess.Popen([str(load), "sink"], stdout=subprocess.PIPE, text=True)
    try:
        port = int(sink.stdout.readline().split()[1])
        doc = bench_profile(fleet_per_min=60.0, download_share=0.0, bands=[{"min": "1KiB", "max": "1KiB", "weight": 1.0}])
        doc["telemetry"] = dict(doc.get("telemetry", {}), verify=True)
        if cfg["otlp_telemetry_wait"]:
            # How long the stop waits for the last children's exports (after the figure
            # is measured): shorter in --quick.
            doc["telemetry"]["wait"] = cfg["otlp_telemetry_wait"]
        doc["obsctl"].setdefault("env", {})["OTEL_EXPORTER_OTLP_ENDPOINT"] = f"http://127.0.0.1:{port}"
        prof = r.write_profile(d, doc)
        # A no-op client that notes the receiver's address it was given, and its headers:
        # the receiver counts only requests with a child's token, so the load uses one.
        seen = d / "endpoint"
        client = d / "note-client"
        client.write_text("#!/bin/sh\n"
                          f"[ -n \"$OTEL_EXPORTER_OTLP_ENDPOINT\" ] && printf '%s %s\\n' \"$OTEL_EXPORTER_OTLP_ENDPOINT\" "
                          f"\"$OTEL_EXPORTER_OTLP_HEADERS\" > {shlex.quote(str(seen))}.tmp && mv {shlex.quote(str(seen))}.tmp {shlex.quote(str(seen))}\n"
                          "exit 0\n")
        client.chmod(0o755)
        run_s = cfg["otlp_s"] + 30
        tmp = d / "tmp"
        tmp.mkdir()
        cmd = [str(r.tg), "--profiles", str(prof), "--obsctl", str(client), "--duration", f"{run_s:.0f}s",
               "--summary-json", str(d / "summary.json"), "--log-file", str(d / "log" / "tg.log"),
               "--temp-dir", str(tmp), "--state-dir", str(d / "state"), "-q"]
        with open(d / "stderr", "wb") as err:
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, cwd=d)
        try:
            t0 = time.monotonic()
            while not seen.exists() or not seen.read_text().strip():
                if p.poll() is not None or time.monotonic() - t0 > 20:
                    raise BenchError("trafficgen never handed a child the receiver's address")
                time.sleep(0.05)
            endpoint, headers = (seen.read_text().split() + [""])[:2]
            # The run's own CPU while idle (a child a second), then under the load.
            c0, w0 = own_cpu_s(p.pid), time.monotonic()
            time.sleep(cfg["otlp_idle_s"])
            c1, w1 = own_cpu_s(p.pid), time.monotonic()
            r.say(f"otlp: {OTLP_CONCURRENCY} exporters against {endpoint} for {cfg['otlp_s']:g}s")
            out = subprocess.run([str(load), "send", endpoint, str(cfg["otlp_s"]), str(OTLP_CONCURRENCY)],
                                 capture_output=True, text=True, timeout=cfg["otlp_s"] + 30,
                                 env=dict(os.environ, OTEL_EXPORTER_OTLP_HEADERS=headers))
            c2, w2 = own_cpu_s(p.pid), time.monotonic()
            if out.returncode != 0 or None in (c0, c1, c2):
                raise BenchError(f"otlp_load send failed: {out.stderr.strip()[-300:]}")
            sent = json.loads(out.stdout)
        finally:
            # One SIGTERM: a clean stop that waits for the children's exports and writes
            # the summary (a second one would abandon it).
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    stop_process(p)
        try:
            s = json.loads((d / "summary.json").read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"no summary from the otlp run: {e}")
    finally:
        sink.kill()
        sink.wait()
    idle_rate = (c1 - c0) / max(w1 - w0, 1e-9)
    load_cpu = max((c2 - c1) - idle_rate * (w2 - w1), 0.0)
    per_request_ms = load_cpu / max(sent["requests"], 1) * 1000
    peak = max(r.fleet_rates(REPO / "profiles.toml"))
    peak_exports = peak / 60 * OTLP_REQUESTS_PER_CHILD
    t = s.get("telemetry") or {}
    _otlp_cache.update(sent=sent, per_request_ms=per_request_ms, idle_cores=idle_rate, load_cpu_s=load_cpu,
                       peak_exports=peak_exports, peak_ops_per_min=peak, telemetry=t)
    return _otlp_cache


def fig_otlp(r: Runner, cfg: dict) -> dict:
    m = measure_otlp(r, cfg)
    rate, need = m["sent"]["per_second"], OTLP_HEADROOM * m["peak_exports"]
    t = m["telemetry"]
    notes = [
        f"{m['sent']['requests']:,} obsctl-shaped export requests in {m['sent']['seconds']:.1f} s from "
        f"{OTLP_CONCURRENCY} concurrent exporters ({m['sent']['failed']} failed), into a running trafficgen "
        f"with --verify-telemetry and the tee forwarding to a second receiver; the summary counts "
        f"{t.get('export_requests', '?')} requests received, {t.get('forward_failures', '?')} forward failures",
        f"baseline: {OTLP_HEADROOM:.0f} x the shipped profile's peak ({m['peak_ops_per_min']:.0f} ops/min = "
        f"{m['peak_exports']:.1f} export requests/s at {OTLP_REQUESTS_PER_CHILD} per obsctl process)",
    ]
    return dict(ours=rate, ours_text=f"{rate:,.0f} req/s", baseline=need, baseline_text=f"{need:,.0f} req/s",
                ratio=rate / need, notes=notes, detail=dict(sent=m["sent"], telemetry=t))


def fig_otlp_cpu(r: Runner, cfg: dict) -> dict:
    m = measure_otlp(r, cfg)
    per_child = m["per_request_ms"] * OTLP_REQUESTS_PER_CHILD
    notes = [
        f"trafficgen's own CPU (utime + stime from /proc, children excluded) under the export load above: "
        f"{m['load_cpu_s']:.2f} s beyond its idle rate ({m['idle_cores'] * 100:.1f} % of a core), "
        f"{m['per_request_ms'] * 1000:.0f} us per request, x {OTLP_REQUESTS_PER_CHILD} requests per child",
    ]
    return dict(ours=per_child, ours_text=f"{per_child:.3f} ms", baseline=OTLP_CPU_PER_CHILD_MS,
                baseline_text=f"{OTLP_CPU_PER_CHILD_MS:.0f} ms", ratio=per_child / OTLP_CPU_PER_CHILD_MS,
                notes=notes, detail=dict(per_request_ms=m["per_request_ms"], load_cpu_s=m["load_cpu_s"]))


# otlp day: a simulated day of the shipped profile's children (about 2 million obsctl
# processes, with the bucket checks) through trafficgen's receiver and ledger
# (examples/otlp_day: the code of src/telemetry compiled in, each child with its own
# instance id and token, 2 export requests each, 16 at a time). Targets: peak RSS of the
# process <= 64 MB and flat (RSS at 10 %, 50 %, 100 %), CPU of trafficgen's runtime per
# child <= 0.2 ms, no export lost. OTLP_DAY_CHILDREN overrides the count.
OTLP_DAY_RSS_BYTES = 64_000_000
OTLP_DAY_CPU_MS = 0.2
OTLP_DAY_CONCURRENCY = 16
# Before children were reconciled as they ended (issue 18, measured on main): 30,000
# exporting instance ids grew trafficgen from 18 MB to 326 MB, about 10 KB a child.
OTLP_DAY_BEFORE = "326 MB at 30,000 children (about 10 KB a child: some 20 GB for 2 million)"

_otlp_day_cache: dict = {}


def measure_otlp_day(r: Runner, cfg: dict) -> dict:
    if _otlp_day_cache:
        return _otlp_day_cache
    exe = build_example("otlp_day")
    n = int(os.environ.get("OTLP_DAY_CHILDREN", cfg["otlp_day_children"]))
    r.say(f"otlp day: {n:,} children through the receiver and the ledger, {OTLP_DAY_CONCURRENCY} at a time")
    out = subprocess.run([str(exe), str(n), str(OTLP_DAY_CONCURRENCY), "2"], capture_output=True, text=True,
                         timeout=4 * 3600)
    if out.returncode != 0:
        raise BenchError(f"otlp_day failed: {out.stderr.strip()[-300:]}")
    m = json.loads(out.stdout)
    if m["lost_exports"] or m["failed_requests"] or m["mismatches"] or m["children_reported"] != n:
        raise BenchError(f"otlp_day: {m['lost_exports']} exports lost, {m['failed_requests']} requests failed, "
                         f"{m['mismatches']} families mismatch, {m['children_reported']} of {n} reported")
    _otlp_day_cache.update(m)
    return _otlp_day_cache


def fig_otlp_day_rss(r: Runner, cfg: dict) -> dict:
    m = measure_otlp_day(r, cfg)
    o = m["vm_hwm_bytes"]
    at = ", ".join(f"{b / 1e6:.1f} MB at {d:,}" for d, b in m["rss_bytes_at"])
    notes = [
        f"{m['children']:,} children ({m['export_requests']:,} export requests, each child with its own instance id "
        f"and token) in {m['seconds']:.0f} s, {m['children_per_second']:,.0f} a second; RSS {at}; "
        f"{m['lost_exports']} exports lost, {m['mismatches']} families mismatch, at most "
        f"{m['peak_live_children']} child records alive, {m['windows']} hourly windows",
        f"peak RSS of the whole process (the synthetic exporters' runtime included); before: {OTLP_DAY_BEFORE}",
    ]
    return dict(ours=o / 1e6, ours_text=f"{o / 1e6:.1f} MB", baseline=OTLP_DAY_RSS_BYTES / 1e6,
                baseline_text=f"{OTLP_DAY_RSS_BYTES / 1e6:.0f} MB", ratio=o / OTLP_DAY_RSS_BYTES, notes=notes,
                detail=m)


def fig_otlp_day_cpu(r: Runner, cfg: dict) -> dict:
    m = measure_otlp_day(r, cfg)
    c = m["receiver_cpu_ms_per_child"]
    notes = [
        f"CPU (utime + stime) of the trafficgen-io runtime's threads, where the receiver and the ledger run, "
        f"per child ({m['requests_per_child']} export requests each); the whole process, exporters included: "
        f"{m['process_cpu_ms_per_child']:.3f} ms",
    ]
    return dict(ours=c, ours_text=f"{c:.3f} ms", baseline=OTLP_DAY_CPU_MS, baseline_text=f"{OTLP_DAY_CPU_MS} ms",
                ratio=c / OTLP_DAY_CPU_MS, notes=notes, detail=dict(process_cpu_ms_per_child=m["process_cpu_ms_per_child"]))


_scale_cache: dict = {}


def measure_scale(r: Runner, cfg: dict) -> dict:
    if _scale_cache:
        return _scale_cache
    d = r.sandbox("scale")
    doc = bench_profile(fleet_per_min=SCALE_FLEET_PER_MIN / SCALE_REPLICAS, download_share=0.0,
                        bands=[{"min": "1KiB", "max": "1KiB", "weight": 1.0}])
    for u in doc["users"]:
        u["replicas"] = SCALE_REPLICAS
    prof = r.write_profile(d, doc)
    total = sum(r.fleet_rates(prof)) / 24
    if abs(total - SCALE_FLEET_PER_MIN) > 1.0:
        raise BenchError(f"scale profile asks for {total:.1f} ops/min, not {SCALE_FLEET_PER_MIN}")
    r.say(f"1000 users: {SCALE_REPLICAS} replicas x 10 personas with {NOOP}, {cfg['scale_s']:g}s")
    res = r.run(d, prof, NOOP, cfg["scale_s"], sample_memory=True, sample_cpu=True)
    _scale_cache.update(res=res, users=len(res["summary"]["users"]))
    return _scale_cache


def fig_scale_rss(r: Runner, cfg: dict) -> dict:
    m = measure_scale(r, cfg)
    res, s = m["res"], m["res"]["summary"]
    o = res["vm_hwm"]
    if not o:
        raise BenchError("could not read VmHWM of the trafficgen process")
    notes = [
        f"{m['users']} users (threads), {s['achieved_ops']} of {s['target_ops']:.0f} target operations in "
        f"{s['dispatch_s']} s; VmHWM of the trafficgen process (children excluded), {res['samples']} samples",
    ]
    return dict(ours=o / 1e6, ours_text=f"{o / 1e6:.1f} MB", baseline=SCALE_RSS_BYTES / 1e6,
                baseline_text=f"{SCALE_RSS_BYTES / 1e6:.0f} MB", ratio=o / SCALE_RSS_BYTES, notes=notes,
                detail=dict(users=m["users"], vm_hwm_bytes=o, achieved_ops=s["achieved_ops"]))


def fig_scale_cpu(r: Runner, cfg: dict) -> dict:
    m = measure_scale(r, cfg)
    res = m["res"]
    if res["own_cpu_s"] is None:
        raise BenchError("could not read the trafficgen process's CPU time")
    share = res["own_cpu_s"] / max(res["wall_s"], 1e-9)
    notes = [
        f"{res['own_cpu_s']:.2f} s of CPU (utime + stime of trafficgen itself, children excluded, last sample "
        f"before exit) over {res['wall_s']:.1f} s wall, start-up, drain and summary included",
    ]
    return dict(ours=share * 100, ours_text=f"{share * 100:.1f} % core", baseline=SCALE_CPU_SHARE * 100,
                baseline_text=f"{SCALE_CPU_SHARE * 100:.0f} % core", ratio=share / SCALE_CPU_SHARE, notes=notes,
                detail=dict(own_cpu_s=res["own_cpu_s"], wall_s=res["wall_s"]))
