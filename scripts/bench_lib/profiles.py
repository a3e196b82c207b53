"""The bench profiles: edited copies of profiles.toml (loaded with tomllib, written back
with tomli-w), each measuring only what its figure is about; and profile sizes."""

from __future__ import annotations

import re
import tomllib

import tomli_w

from .common import MAX_USER_OPS_PER_MIN, REPO, SEED, BenchError


def dump_toml(doc: dict) -> str:
    """A profile as TOML text (tomli-w; tomllib reads it back to the same dict)."""
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError) as e:
        raise BenchError(f"cannot write the bench profile as TOML: {e}")


def fleet_limit_per_min() -> float:
    """The highest fleet rate a bench profile (every user at peak, rates in proportion to
    activity) may ask for: the busiest user then asks for just under the per-user limit."""
    with open(REPO / "profiles.toml", "rb") as f:
        acts = [float(u["activity"]) for u in tomllib.load(f)["users"]]
    return 0.99 * MAX_USER_OPS_PER_MIN * sum(acts) / max(acts)


def bench_profile(*, fleet_per_min: float, bands: list[dict], download_share: float,
                  caps: tuple[int, int] | None = None, memory_budget: str | None = None,
                  no_op_client: bool = True) -> dict:
    """A copy of profiles.toml: every user at peak all day, base rate chosen so the fleet
    asks for exactly `fleet_per_min`, every kind with `bands`, a fixed seed."""
    with open(REPO / "profiles.toml", "rb") as f:
        doc = tomllib.load(f)
    doc["run"]["seed"] = SEED
    doc["limits"]["min_free_disk"] = "0"
    # Only what the figure is about: no verdict (a dispatch run offered 3x capacity has a
    # low achieved ratio on purpose), no confirming head-objects (a no-op client cannot
    # answer them), no other subcommands, no scrape of a server's metrics.
    doc.pop("thresholds", None)
    doc["verify"] = {"confirm_uploads": 0.0, "confirm_deletes": 0.0}
    if isinstance(doc.get("mix"), dict):
        doc["mix"] = {k: 0.0 for k in doc["mix"]}
    doc["run"]["server_metrics"] = ""
    # The host guard holds slots back while the machine is saturated (shortfall "host"):
    # a dispatch run saturates it on purpose, and other processes must not change a
    # figure's schedule. Off where the profile has it.
    if "host_guard" in doc["limits"]:
        doc["limits"]["host_guard"] = False
    if caps:
        doc["limits"]["max_in_flight_per_user"], doc["limits"]["max_in_flight"] = caps
    if memory_budget:
        doc["limits"]["upload_memory_budget"] = memory_budget
    users = doc["users"]
    for u in users:
        u["peak_hours"] = "24/7"
    activity = sum(float(u["activity"]) for u in users)
    peak = float(doc["rates"]["peak_multiplier"])
    doc["rates"]["base_ops_per_min"] = fleet_per_min / (peak * activity)
    doc["rates"]["download_share"] = float(download_share)
    # Error probes expect the client to fail; a no-op client cannot, so they are off
    # except where the client is the fake obsctl (the rate row keeps the shipped share).
    if no_op_client:
        doc["rates"]["error_share"] = 0.0
    for kind in doc["kinds"].values():
        kind["bands"] = [dict(b) for b in bands]
    return doc



def parse_size(text: str) -> int:
    """A profile size: 512, "100B", "10K"/"10KiB" (1024), "10KB" (1000), likewise M/G/T."""
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:([KMGT])(i?B)?|(B))?\s*", str(text), re.I)
    if not m:
        raise BenchError(f"cannot read the size {text!r}")
    n, unit, tail = float(m.group(1)), (m.group(2) or "").upper(), (m.group(3) or "")
    if not unit:
        return int(n)
    power = "KMGT".index(unit) + 1
    return int(n * (1000 if tail.upper() == "B" else 1024) ** power)
