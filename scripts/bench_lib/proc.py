"""Processes: CPU and memory readings from /proc, the background load a figure ran beside,
stopping trafficgen, building the examples, and the Runner that runs trafficgen bounded in
a sandbox of its own."""

from __future__ import annotations

import glob
import json
import os
import re
import resource
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from .common import GRACE, REPO, BenchError
from .profiles import dump_toml


def cpu_busy_s() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = f.readline().split()[1:]
    v = [int(x) for x in fields]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)  # user nice system irq softirq steal
    return busy / os.sysconf("SC_CLK_TCK")


def our_cpu_s() -> float:
    """CPU seconds of this script plus every descendant it (or they) waited for."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


class Background:
    """Measures how many cores *other* processes kept busy while a figure ran (the
    machine may be shared); reported next to each figure."""

    def __init__(self):
        self.t, self.busy, self.ours = time.monotonic(), cpu_busy_s(), our_cpu_s()

    def cores(self, also_ours_s: float = 0.0) -> float:
        """`also_ours_s`: CPU seconds of processes the figure started but did not wait
        for (a server in its own session)."""
        wall = max(time.monotonic() - self.t, 1e-9)
        foreign = (cpu_busy_s() - self.busy) - (our_cpu_s() - self.ours) - also_ours_s
        return max(foreign, 0.0) / wall


def stop_process(p: subprocess.Popen):
    """trafficgen: a first SIGTERM stops gently, a second kills its children and exits."""
    for sig, wait in ((signal.SIGTERM, 5), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
        if p.poll() is not None:
            return
        try:
            p.send_signal(sig)
        except ProcessLookupError:
            return
        try:
            p.wait(wait)
        except subprocess.TimeoutExpired:
            pass


def read_status(pid: int) -> dict[str, int]:
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(v.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return out


class Runner:
    def __init__(self, trafficgen: Path, spawn_loop: Path, work: Path, verbose: bool):
        self.tg, self.spawn_loop, self.work, self.verbose = trafficgen, spawn_loop, work, verbose
        self.n = 0

    def say(self, msg: str):
        print(f"  .. {msg}", file=sys.stderr, flush=True)

    def sandbox(self, tag: str) -> Path:
        self.n += 1
        d = self.work / f"{self.n:02d}-{tag}"
        d.mkdir(parents=True)
        return d

    def write_profile(self, d: Path, doc: dict) -> Path:
        p = d / "profile.toml"
        p.write_text(dump_toml(doc))
        chk = subprocess.run([str(self.tg), "--profiles", str(p), "check"], capture_output=True, text=True, timeout=30)
        if chk.returncode != 0:
            why = chk.stderr.strip() or chk.stdout.strip() or "no output"
            raise BenchError(f"`trafficgen check` rejects the bench profile {p} (exit {chk.returncode}): {why}")
        return p

    def fleet_rates(self, profile: Path) -> list[float]:
        r = subprocess.run([str(self.tg), "--profiles", str(profile), "plan", "--json"],
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            raise BenchError(f"trafficgen plan failed: {r.stderr.strip()}")
        return [float(h["total"]) for h in json.loads(r.stdout)["hours"]]

    def run(self, d: Path, profile: Path, client: str, seconds: float, env: dict | None = None,
            extra: list[str] | None = None, sample_memory: bool = False, sample_cpu: bool = False,
            timing: list[str] | None = None,
            ok_codes: tuple[int, ...] = (0,), limit: float | None = None) -> dict:
        """One trafficgen run, bounded. Returns the summary plus facts about the run.
        `timing` replaces the default `--duration SECONDS --time-scale 1 --grace-period
        GRACE`; an exit code outside `ok_codes` is an error."""
        summary, log = d / "summary.json", d / "log" / "trafficgen.log"
        tmp = d / "tmp"
        tmp.mkdir(exist_ok=True)
        # A state dir (lock and object journal) of its own: never another run's lock, and
        # never another run's leftovers to delete.
        state = d / "state"
        if timing is None:
            timing = ["--duration", f"{int(round(seconds * 1000))}ms", "--time-scale", "1", "--grace-period", GRACE]
        cmd = [str(self.tg), "--profiles", str(profile), "--obsctl", client, *timing,
               "--summary-json", str(summary), "--log-file", str(log), "--temp-dir", str(tmp),
               "--state-dir", str(state), "-q", *(extra or [])]
        full_env = dict(os.environ)
        full_env.pop("RUST_BACKTRACE", None)
        full_env.update(env or {})
        limit = limit if limit is not None else seconds + 15 + 60
        hwm = rss = 0
        samples = 0
        cpu = None
        with open(d / "stdout", "wb") as out, open(d / "stderr", "wb") as err:
            launched, t0 = time.time(), time.monotonic()
            p = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=full_env, cwd=d)
            try:
                while p.poll() is None:
                    if time.monotonic() - t0 > limit:
                        stop_process(p)
                        raise BenchError(f"trafficgen did not finish within {limit:.0f}s: {shlex.join(cmd)}")
                    if sample_cpu:
                        cpu = own_cpu_s(p.pid) or cpu
                    if sample_memory:
                        st = read_status(p.pid)
                        if st:
                            samples += 1
                            hwm = max(hwm, st.get("VmHWM", 0))
                            rss = max(rss, st.get("VmRSS", 0))
                    time.sleep(0.02 if sample_memory or sample_cpu else 0.05)
            except BaseException:
                stop_process(p)
                raise
            wall = time.monotonic() - t0
        if p.returncode not in ok_codes:
            tail = (d / "stderr").read_text(errors="replace").strip().splitlines()[-5:]
            raise BenchError(f"trafficgen exited {p.returncode}: {shlex.join(cmd)}\n    " + "\n    ".join(tail))
        try:
            s = json.loads(summary.read_text())
        except (OSError, ValueError) as e:
            raise BenchError(f"no summary from trafficgen ({summary}): {e}")
        logs = ""
        for f in sorted(glob.glob(str(d / "log" / "*"))):
            logs += Path(f).read_text(errors="replace")
        m = re.search(r"waiting up to \S+ for (\d+) operations in flight", logs)
        # "stopping (duration): waiting up to 15s for N operations in flight" is logged only
        # when N > 0; None when the log does not say (the caller then counts conservatively).
        return dict(summary=s, wall_s=wall, launched=launched, inflight_at_stop=int(m.group(1)) if m else None,
                    vm_hwm=hwm, vm_rss_max=rss, samples=samples, cmd=cmd, returncode=p.returncode, own_cpu_s=cpu)



def proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system, children waited for included) of a running process."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


def own_cpu_s(pid: int) -> float | None:
    """CPU seconds (user + system) of a running process itself, children excluded."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


# Which cargo profile the binaries come from: "release" (the figures), or "debug" under
# `--debug` (the test suite's check that every row runs, on the build its tests made).
PROFILE = {"dir": "release", "flags": ["--release"]}


def use_debug_build() -> None:
    PROFILE.update(dir="debug", flags=[])


def target_dir() -> Path:
    return REPO / "target" / PROFILE["dir"]


def build_example(name: str) -> Path:
    exe = target_dir() / "examples" / name
    if not os.access(exe, os.X_OK):
        cmd = ["cargo", "build", *PROFILE["flags"], "--example", name]
        b = subprocess.run(cmd, cwd=REPO, timeout=900)
        if b.returncode != 0:
            raise BenchError(f"{' '.join(cmd)} failed")
    return exe
