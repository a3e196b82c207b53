"""The figures measured on this machine alone: dispatch, synthesis, memory, rate accuracy
and start-up."""

from __future__ import annotations

import math
import os
import re
import shlex
import statistics
import subprocess
import time
from pathlib import Path

from .common import FAKE_OBSCTL, MAX_USER_OPS_PER_MIN, NOOP, BenchError, nonzero
from .proc import Runner
from .profiles import bench_profile, fleet_limit_per_min

# dispatch: the fleet is offered this many times the rate the bare spawn loop reached in
# the same repetition (at least 1000/s), so trafficgen, which may use every core, is never
# held back by its schedule: what it completes is its ceiling. Slots that find a cap full
# are counted as shortfall and reported. (Offering far more, e.g. 1,000,000/min, makes
# trafficgen spend CPU counting rejected slots; see the report.)
DISPATCH_OVERDRIVE = 3.0
# dispatch in-flight caps: the shipped profile's (64 per user, 256 in all). High enough
# that the no-op client never waits on a cap unless trafficgen itself falls behind.
DISPATCH_CAPS = (64, 256)
RATE_FLEET_PER_MIN = 2000.0
MEMORY_FLEET_PER_MIN = 60.0
# As many slots as the profile allows (capped below by fleet_limit_per_min): the first one
# comes at once.
STARTUP_FLEET_PER_MIN = 1_000_000.0
MEMORY_BASELINE_BYTES = 32_000_000
STARTUP_BASELINE_MS = 100.0


def completed(t: dict) -> int:
    return int(t["uploads"] + t["downloads"] + t["deletes"] + t["failures"])


def fig_dispatch(r: Runner, cfg: dict) -> dict:
    d = r.sandbox("dispatch")
    ours, base, runs = [], [], []
    for i in range(cfg["dispatch_reps"]):
        r.say(f"dispatch {i + 1}/{cfg['dispatch_reps']}: baseline spawn_loop {NOOP} for {cfg['baseline_s']:g}s")
        out = subprocess.run([str(r.spawn_loop), f"{cfg['baseline_s']}", NOOP], capture_output=True, text=True,
                             timeout=cfg["baseline_s"] + 60)
        m = re.match(r"spawned (\d+) in ([\d.]+) s", out.stdout)
        if out.returncode != 0 or not m:
            raise BenchError(f"spawn_loop failed: {out.stderr.strip() or out.stdout.strip()}")
        base.append(int(m.group(1)) / float(m.group(2)))
        offered = min(max(DISPATCH_OVERDRIVE * base[-1], 1000.0) * 60.0, fleet_limit_per_min())
        rd = d / f"run{i + 1}"
        rd.mkdir()
        prof = r.write_profile(rd, bench_profile(
            fleet_per_min=offered, download_share=0.0, caps=DISPATCH_CAPS,
            bands=[{"min": "1KiB", "max": "1KiB", "weight": 1.0}]))
        r.say(f"dispatch {i + 1}/{cfg['dispatch_reps']}: trafficgen with {NOOP} for {cfg['dispatch_s']:g}s, "
              f"offered {offered / 60:,.0f} ops/s")
        res = r.run(rd, prof, NOOP, cfg["dispatch_s"])
        s, t = res["summary"], res["summary"]["totals"]
        done = completed(t)
        if res["inflight_at_stop"] is None:
            # Nothing was in flight at the stop (or the log no longer says): count over the
            # whole run, drain included, so nothing finished after the stop is credited.
            rate, how = done / s["duration_s"], "completed / duration_s"
        else:
            rate, how = (done - res["inflight_at_stop"]) / s["dispatch_s"], "(completed - in flight at stop) / dispatch_s"
        ours.append(rate)
        runs.append(dict(ops_per_s=round(rate, 1), counted=how, offered_per_min=round(offered),
                         dispatch_s=s["dispatch_s"], duration_s=s["duration_s"],
                         started=t["started"], completed=done, failures=t["failures"],
                         in_flight_at_stop=res["inflight_at_stop"] or 0, shortfall=t["shortfall"],
                         shortfall_by_reason=nonzero(t["shortfall_by_reason"]),
                         target_ops=s["target_ops"], upload_latency_ms=s["latency_ms"].get("upload"),
                         baseline_spawns_per_s=round(base[-1], 1)))
    o, b = statistics.median(ours), statistics.median(base)
    mid = sorted(runs, key=lambda x: x["ops_per_s"])[len(runs) // 2]
    fails = sum(x["failures"] for x in runs)
    lat = mid["upload_latency_ms"] or {}
    notes = [
        "counted: operations completed (uploads+downloads+deletes+failures in the summary) before the stop, "
        "= (completed - in flight at the stop, from the log) / dispatch_s; "
        f"median of {len(runs)}: " + ", ".join(f"{x['ops_per_s']:.0f}" for x in runs)
        + " ops/s; baseline (serial spawn+wait of /bin/true): " + ", ".join(f"{x:.0f}" for x in base) + " spawns/s",
        f"offered {DISPATCH_OVERDRIVE:g}x the baseline ({mid['offered_per_min'] / 60:,.0f} ops/s in the median run; "
        f"10 users 24/7, 1 KiB files, no downloads), caps {DISPATCH_CAPS[0]}/user {DISPATCH_CAPS[1]} in all; "
        f"median run: started {mid['started']:,} of {mid['target_ops']:,.0f} offered, shortfall {mid['shortfall']:,} "
        f"({', '.join(f'{k} {v:,}' for k, v in mid['shortfall_by_reason'].items()) or 'none'}), "
        f"in flight at stop {mid['in_flight_at_stop']}, failures {mid['failures']}, "
        f"upload latency p50 {lat.get('p50_ms', 0):.0f} ms p99 {lat.get('p99_ms', 0):.0f} ms",
    ]
    capped = [x for x in runs if x["offered_per_min"] < DISPATCH_OVERDRIVE * x["baseline_spawns_per_s"] * 60 - 1]
    if capped:
        notes.append(f"offer capped at {capped[0]['offered_per_min'] / 60:,.0f} ops/s in {len(capped)} run(s): "
                     f"trafficgen allows at most {MAX_USER_OPS_PER_MIN:,.0f} ops/min per user")
    if fails:
        notes.append(f"WARNING: {fails} operations failed with a no-op client")
    return dict(ours=o, ours_text=f"{o:,.0f} ops/s", baseline=b, baseline_text=f"{b:,.0f} spawns/s",
                ratio=o / b, notes=notes, detail=dict(runs=runs, baseline_spawns_per_s=base))


def fig_synthesis(r: Runner, cfg: dict) -> dict:
    d = r.sandbox("synth")
    size = cfg["synth_size"]
    mib = size >> 20
    ours, base, internal = [], [], []

    def dd(path: Path) -> list[str]:
        return ["dd", "if=/dev/zero", f"of={path}", "bs=1M", f"count={mib}", "status=none"]

    for i in range(cfg["synth_reps"]):
        # Alternate who goes first, so neither always follows the other.
        for who in (("dd", "synth") if i % 2 == 0 else ("synth", "dd")):
            path = d / ("file.mp4" if who == "synth" else "file.dd")
            cmd = dd(path) if who == "dd" else [str(r.tg), "synth", str(path), "--size", f"{mib}MiB", "--ext", ".mp4"]
            # Same preparation for both: flush dirty pages, then write and delete a file of
            # the same size (untimed). Page-cache pages that were freed a while ago can be
            # slow to touch again (in a VM, free pages are handed back to the host); this
            # makes both writers start with the same, recently freed memory.
            os.sync()
            warm = d / "warm-up"
            subprocess.run(dd(warm), capture_output=True, timeout=300, check=True)
            warm.unlink()
            r.say(f"synthesis {i + 1}/{cfg['synth_reps']}: {who} {mib} MiB")
            t0 = time.perf_counter()
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
            secs = time.perf_counter() - t0
            try:
                got = path.stat().st_size
            except OSError:
                got = -1
            finally:
                path.unlink(missing_ok=True)
            if p.returncode != 0 or got != size:
                raise BenchError(f"{shlex.join(cmd)} failed (exit {p.returncode}, {got} bytes): {p.stderr.strip()}")
            (ours if who == "synth" else base).append(size / 1e6 / secs)
            if who == "synth":
                m = re.search(r"([\d.]+) MB/s", p.stderr)
                internal.append(float(m.group(1)) if m else None)
    # Best of N for both: in this kind of VM the same write varies up to 5x from run to
    # run (kernel time touching recently freed pages), for dd and trafficgen alike, so
    # the fastest run is the one that shows the writer and not the VM.
    o, b = max(ours), max(base)
    notes = [
        f"{mib} MiB .mp4 vs dd bs=1M count={mib}, same dir ({d.parent}), no fsync in either; each timed run "
        f"preceded by os.sync() and an untimed dd write+delete of the same size; wall time of each process; "
        f"best of {len(ours)}: synth " + ", ".join(f"{x:.0f}" for x in ours)
        + " MB/s, dd " + ", ".join(f"{x:.0f}" for x in base) + " MB/s"
        + f" (medians {statistics.median(ours):.0f} and {statistics.median(base):.0f} MB/s)",
    ]
    return dict(ours=o, ours_text=f"{o:,.0f} MB/s", baseline=b, baseline_text=f"{b:,.0f} MB/s (dd)",
                ratio=o / b, notes=notes, detail=dict(synth_mb_s=ours, dd_mb_s=base, synth_self_reported_mb_s=internal,
                                                      bytes=size))


def fig_memory(r: Runner, cfg: dict) -> dict:
    d = r.sandbox("memory")
    prof = r.write_profile(d, bench_profile(
        fleet_per_min=MEMORY_FLEET_PER_MIN, download_share=0.0,
        bands=[{"min": "1KiB", "max": "1MiB", "weight": 0.75},
               {"min": "1MiB", "max": "100MiB", "weight": 0.15},
               {"min": "100MiB", "max": "1GiB", "weight": 0.05},
               {"min": "1GiB", "max": "1GiB", "weight": 0.05}]))
    extra = ["--max-file-size", cfg["memory_max_file"]] if cfg["memory_max_file"] else []
    r.say(f"memory: trafficgen with {NOOP}, files up to {cfg['memory_max_file'] or '1GiB'}, {cfg['memory_s']:g}s")
    res = r.run(d, prof, NOOP, cfg["memory_s"], extra=extra, sample_memory=True)
    if not res["vm_hwm"]:
        raise BenchError("could not read VmHWM of the trafficgen process")
    t = res["summary"]["totals"]
    o = res["vm_hwm"]
    notes = [
        f"VmHWM of the trafficgen process (children excluded), {res['samples']} samples every 20 ms; "
        f"max VmRSS seen {res['vm_rss_max'] / 1e6:.1f} MB; MB = 10^6 bytes",
        f"{MEMORY_FLEET_PER_MIN:.0f} ops/min, no-op client: {t['files_created']} files written, "
        f"{t['large_files']} above 100 MiB, {t['bytes_up'] / 2**30:.2f} GiB in all; "
        f"shortfall {t['shortfall']} ({', '.join(f'{k} {v}' for k, v in nonzero(t['shortfall_by_reason']).items()) or 'none'})",
    ]
    if not cfg["memory_max_file"] and not t["large_files"]:
        notes.append("WARNING: no file above 100 MiB was written; the figure does not cover large files")
    return dict(ours=o / 1e6, ours_text=f"{o / 1e6:.1f} MB", baseline=MEMORY_BASELINE_BYTES / 1e6,
                baseline_text=f"{MEMORY_BASELINE_BYTES / 1e6:.0f} MB", ratio=o / MEMORY_BASELINE_BYTES, notes=notes,
                detail=dict(vm_hwm_bytes=o, vm_rss_max_bytes=res["vm_rss_max"], samples=res["samples"],
                            files_created=t["files_created"], large_files=t["large_files"], bytes_up=t["bytes_up"]))


def fig_rate(r: Runner, cfg: dict) -> dict:
    d = r.sandbox("rate")
    doc = bench_profile(fleet_per_min=RATE_FLEET_PER_MIN, download_share=0.2, no_op_client=False,
                        bands=[{"min": "1KiB", "max": "16KiB", "weight": 1.0}])
    arrivals = str(doc["rates"].get("arrivals", "poisson"))
    prof = r.write_profile(d, doc)
    hours = r.fleet_rates(prof)
    if any(abs(h - RATE_FLEET_PER_MIN) > 0.05 for h in hours):
        raise BenchError(f"rate profile does not ask for {RATE_FLEET_PER_MIN} ops/min every hour: {hours}")
    store = d / "s3"
    store.mkdir()
    env = {"FAKE_OBSCTL_MODE": "slow", "FAKE_OBSCTL_SLEEP": "2.5", "FAKE_S3_DIR": str(store)}
    r.say(f"rate accuracy: trafficgen with fake-obsctl (2.5 s per call), {RATE_FLEET_PER_MIN:.0f} ops/min, "
          f"{cfg['rate_s']:g}s")
    res = r.run(d, prof, str(FAKE_OBSCTL), cfg["rate_s"], env=env)
    s, t = res["summary"], res["summary"]["totals"]
    achieved, target = float(s["achieved_ops"]), float(s["target_ops"])
    if target <= 0:
        raise BenchError(f"summary has target_ops {target}")
    lag = s.get("start_lag_ms", {})
    notes = [
        f"achieved_ops / target_ops from the summary over dispatch_s {s['dispatch_s']} s; "
        f"{s['achieved_ops_per_min']:.0f} of {s['target_ops_per_min']:.0f} ops/min; "
        f"start lag p50 {lag.get('p50_ms', 0):.0f} ms p99 {lag.get('p99_ms', 0):.0f} ms; "
        f"shortfall {t['shortfall']} ({', '.join(f'{k} {v}' for k, v in nonzero(t['shortfall_by_reason']).items()) or 'none'}); "
        f"failures {t['failures']} ({', '.join(f'{k} {v}' for k, v in nonzero(t['failures_by_class']).items()) or 'none'})",
        (f"arrivals {arrivals} (as shipped): over this window one standard deviation is {100 / math.sqrt(target):.1f} % "
         "of the target" if arrivals == "poisson" else f"arrivals {arrivals} (as shipped)"),
    ]
    return dict(ours=achieved, ours_text=f"{achieved:,.0f} ops", baseline=target,
                baseline_text=f"{target:,.1f} ops (target)", ratio=achieved / target, notes=notes,
                detail=dict(summary_totals=t, dispatch_s=s["dispatch_s"], duration_s=s["duration_s"],
                            start_lag_ms=lag, latency_ms=s["latency_ms"]))


def write_stamp_client(d: Path, stamps: Path) -> Path:
    """A no-op client that appends a wall-clock timestamp when called with `cp`."""
    w = d / "stamp-client"
    if Path("/bin/bash").exists():
        # bash 5's $EPOCHREALTIME needs no extra process; fall back to date(1) without it.
        w.write_text("#!/bin/bash\n"
                     "for a; do if [ \"$a\" = cp ]; then\n"
                     f"  if [ -n \"${{EPOCHREALTIME:-}}\" ]; then printf '%s\\n' \"$EPOCHREALTIME\" >> {shlex.quote(str(stamps))}\n"
                     f"  else date +%s.%N >> {shlex.quote(str(stamps))}; fi; break\n"
                     "fi; done\nexit 0\n")
    else:
        w.write_text("#!/bin/sh\n"
                     f"for a; do if [ \"$a\" = cp ]; then date +%s.%N >> {shlex.quote(str(stamps))}; break; fi; done\n"
                     "exit 0\n")
    w.chmod(0o755)
    return w


def first_stamp(stamps: Path) -> float | None:
    try:
        vals = [float(x.replace(",", ".")) for x in stamps.read_text().split()]
    except (OSError, ValueError):
        return None
    return min(vals) if vals else None


def fig_startup(r: Runner, cfg: dict) -> dict:
    d = r.sandbox("startup")
    stamps = d / "stamps"
    client = write_stamp_client(d, stamps)
    prof = r.write_profile(d, bench_profile(
        fleet_per_min=min(STARTUP_FLEET_PER_MIN, fleet_limit_per_min()), download_share=0.0, caps=(1, 10),
        bands=[{"min": "1KiB", "max": "1KiB", "weight": 1.0}]))
    # The client's own start-up is part of every figure: measure it alone.
    own = []
    for _ in range(10):
        stamps.unlink(missing_ok=True)
        t0 = time.time()
        subprocess.run([str(client), "--region", "x", "cp", "a", "b"], check=True)
        own.append((first_stamp(stamps) - t0) * 1000)
    ms = []
    for i in range(cfg["startup_reps"]):
        stamps.unlink(missing_ok=True)
        rd = d / f"run{i + 1}"
        rd.mkdir()
        r.say(f"start-up {i + 1}/{cfg['startup_reps']}")
        res = r.run(rd, prof, str(client), cfg["startup_run_s"])
        first = first_stamp(stamps)
        if first is None:
            raise BenchError("the stamp client was never called with cp (no traffic started)")
        ms.append((first - res["launched"]) * 1000)
    o = statistics.median(ms)
    notes = [
        f"launch (just before exec) to the first `cp` child writing its timestamp, median of {len(ms)}: "
        + ", ".join(f"{x:.1f}" for x in ms) + " ms; includes `--version` and 10 bucket checks through the "
        f"client, and the stamp client's own start-up ({statistics.median(own):.1f} ms when launched alone)",
    ]
    return dict(ours=o, ours_text=f"{o:.1f} ms", baseline=STARTUP_BASELINE_MS,
                baseline_text=f"{STARTUP_BASELINE_MS:.0f} ms", ratio=o / STARTUP_BASELINE_MS, notes=notes,
                detail=dict(runs_ms=ms, stamp_client_alone_ms=own))
