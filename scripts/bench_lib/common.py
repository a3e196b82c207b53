"""What every figure shares: where things are, the settings of the full and the quick run,
the targets, the two ways a figure can end early."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
FAKE_OBSCTL = REPO / "tests" / "bin" / "fake-obsctl"
NOOP = "/bin/true"

# Figure settings. "quick" keeps every row but shrinks durations and repetitions to what
# a smoke test needs (every row runs end to end and yields positive numbers; CI).
SETTINGS = {
    "full": dict(
        dispatch_s=10.0, dispatch_reps=3, baseline_s=10.0,
        synth_size=1 << 30, synth_reps=5,
        memory_s=60.0, memory_max_file=None,
        rate_s=60.0,
        startup_reps=5, startup_run_s=1.0,
        garage_s=60.0,
        otlp_s=10.0, otlp_idle_s=2.0, otlp_telemetry_wait=None,
        otlp_day_children=2_000_000,
        scale_s=60.0,
        ab_s=180.0,
    ),
    "quick": dict(
        dispatch_s=1.0, dispatch_reps=1, baseline_s=1.0,
        synth_size=32 << 20, synth_reps=1,
        memory_s=2.0, memory_max_file="64MiB",
        rate_s=2.0,
        startup_reps=3, startup_run_s=0.3,
        garage_s=15.0,
        otlp_s=1.0, otlp_idle_s=1.0, otlp_telemetry_wait="1s",
        otlp_day_children=5_000,
        scale_s=3.0,
        ab_s=30.0,
    ),
}

# trafficgen rejects a profile whose user asks for more than this many ops per wall
# minute (MAX_USER_OPS_PER_MIN in src/config/profile.rs).
MAX_USER_OPS_PER_MIN = 100_000.0
GRACE = "15s"
SEED = 42

TARGETS = {
    # figure: (op, value)
    "dispatch": (">=", 0.8),
    "synthesis": (">=", 0.7),
    "memory": ("<=", 1.0),
    "rate accuracy": (">=", 0.95),
    "start-up": ("<=", 1.0),
    "garage": (">=", 0.95),
    "otlp receiver": (">=", 1.0),
    "otlp cpu/child": ("<=", 1.0),
    "otlp day rss": ("<=", 1.0),
    "otlp day cpu/child": ("<=", 1.0),
    "1000 users rss": ("<=", 1.0),
    "1000 users cpu": ("<=", 1.0),
    "ab minutes": ("<=", 1.0),
}
FIGURES = list(TARGETS)


class BenchError(Exception):
    pass


class BenchSkip(Exception):
    """A figure that cannot run here (not a failure): one line says why."""


def nonzero(d: dict) -> dict:
    return {k: v for k, v in d.items() if v}
