"""The report: the machine's facts, the table, the targets, and the JSON document."""

from __future__ import annotations

import math
import os
import platform
import re
import subprocess
from pathlib import Path

from .common import REPO, TARGETS


def machine() -> dict:
    info = dict(cores=os.cpu_count(), kernel=platform.release())
    try:
        info["usable_cores"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
            info["cpu"] = m.group(1).strip() if m else platform.processor()
        with open("/proc/meminfo") as f:
            mem = {l.split(":")[0]: int(l.split()[1]) * 1024 for l in f if l.split()[1:2] and l.split()[1].isdigit()}
        info["mem_total_bytes"] = mem.get("MemTotal")
        info["mem_available_bytes"] = mem.get("MemAvailable")
        with open("/proc/loadavg") as f:
            info["loadavg"] = " ".join(f.read().split()[:3])
    except OSError:
        pass
    return info


def fs_of(path: Path) -> str:
    best, fstype = "", "?"
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                mnt = parts[1].replace("\\040", " ")
                if str(path).startswith(mnt.rstrip("/") + "/") or str(path) == mnt:
                    if len(mnt) >= len(best):
                        best, fstype = mnt, f"{parts[2]} on {parts[0]} at {mnt}"
    except OSError:
        pass
    return fstype


def git_rev() -> str:
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--", "src", "Cargo.toml",
                                "Cargo.lock"], capture_output=True, text=True, timeout=10).stdout.strip()
        return rev + (" (src modified)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "?"


def passes(fig: str, ratio: float) -> bool:
    op, val = TARGETS[fig]
    return ratio >= val if op == ">=" else ratio <= val


def positive(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) and x > 0


def render(rows: list[dict], quick: bool) -> str:
    head = ["figure", "ours", "baseline (same run)", "ratio", "target", "result"]
    body = []
    for row in rows:
        if "error" in row or "skipped" in row:
            what = "ERROR" if "error" in row else "skipped"
            body.append([row["figure"], what, "-", "-", f"{TARGETS[row['figure']][0]} {TARGETS[row['figure']][1]}",
                         what if "error" in row else "SKIP"])
            continue
        res = "PASS" if row["passed"] else "FAIL"
        body.append([row["figure"], row["ours_text"], row["baseline_text"], f"{row['ratio']:.3f}",
                     f"{row['target_op']} {row['target']}", f"({res.lower()})" if quick else res])
    widths = [max(len(str(r[i])) for r in [head] + body) for i in range(len(head))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(head, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for b in body:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(b, widths)).rstrip())
    return "\n".join(lines)
