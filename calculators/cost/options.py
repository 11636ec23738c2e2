"""Monthly cost of one option (owned, cloud, API) with its parts and per-token figure."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from calculators.cost.inputs import HOURS_PER_MONTH, Capacity, CloudGpu, HostedApi, OwnedHardware, Workload
from calculators.cost.lines import cloud_line, monthly_capital_usd, owned_line

# ---------------------------------------------------------------- results


@dataclass(frozen=True)
class OptionCost:
    """One option's monthly cost at the workload, with its parts."""

    option: str  # "owned", "cloud" or "api"
    label: str
    usd_per_month: float
    usd_per_mtok: float | None  # per million input + output tokens; None when the volume is 0
    breakdown_usd_per_month: dict[str, float] = field(default_factory=dict)
    replicas: int = 0
    gpus: int = 0
    billed_gpu_hours: float = 0.0  # GPU-hours paid for (cloud) or powered (owned) a month
    busy_gpu_hours: float = 0.0  # GPU-hours spent computing
    capacity_monthly_tokens: float | None = None  # most tokens a month these replicas serve in the busy hours
    throughput_source: str | None = None
    latency_met: bool = True
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (infinite capacity as None)."""
        d = asdict(self)
        d["notes"] = list(self.notes)
        if d["capacity_monthly_tokens"] is not None and math.isinf(d["capacity_monthly_tokens"]):
            d["capacity_monthly_tokens"] = None
        return d


def _per_mtok(usd: float, tokens: float) -> float | None:
    return usd / tokens * 1e6 if tokens > 0 else None


def _capacity_notes(cap: Capacity) -> tuple[str, ...]:
    notes = [cap.note] if cap.note else []
    if not cap.latency_met:
        notes.append("the latency target is not met even with one user per replica")
    if cap.prefill_tokens_per_s is None:
        notes.append("prefill time not counted (no prefill throughput given)")
    return tuple(notes)


def _busy_gpu_hours(w: Workload, cap: Capacity) -> float:
    """Device-hours a month spent computing the workload's tokens."""
    return w.monthly_tokens * cap.seconds_per_token(w.input_share) / 3600 * cap.gpus_per_replica


def owned_cost(w: Workload, cap: Capacity, hw: OwnedHardware) -> OptionCost:
    """Monthly cost of serving `w` on owned hardware."""
    line = owned_line(w, cap, hw)
    v = w.monthly_tokens
    r = line.replicas(v)
    g = r * cap.gpus_per_replica
    busy_h = _busy_gpu_hours(w, cap)
    kwh = hw.usd_per_kwh_at_wall
    idle = hw.idle_watts_effective
    capital = monthly_capital_usd(hw.price_usd, hw.amortization_months, hw.cost_of_capital) * g
    energy = (idle * (g * HOURS_PER_MONTH - busy_h) + hw.busy_watts * busy_h) / 1000 * kwh
    total = line.usd_per_month(v)
    return OptionCost(
        "owned",
        hw.label,
        total,
        _per_mtok(total, v),
        {"capital": capital, "energy": energy, "fixed": hw.fixed_usd_per_month},
        r,
        g,
        g * HOURS_PER_MONTH,
        busy_h,
        r * line.tokens_per_replica,
        cap.source,
        cap.latency_met,
        _capacity_notes(cap),
    )


def cloud_cost(w: Workload, cap: Capacity, cloud: CloudGpu) -> OptionCost:
    """Monthly cost of serving `w` on rented GPUs."""
    line = cloud_line(w, cap, cloud)
    v = w.monthly_tokens
    r = line.replicas(v)
    g = r * cap.gpus_per_replica
    hours = w.busy_hours if cloud.scale_to_zero else HOURS_PER_MONTH
    total = line.usd_per_month(v)
    busy_h = _busy_gpu_hours(w, cap)
    notes = _capacity_notes(cap) + (("billed for busy hours only (scale-to-zero)",) if cloud.scale_to_zero else ())
    return OptionCost(
        "cloud",
        cloud.label,
        total,
        _per_mtok(total, v),
        {"gpu_hours": total},
        r,
        g,
        g * hours,
        busy_h,
        r * line.tokens_per_replica,
        cap.source,
        cap.latency_met,
        notes,
    )


def api_cost(w: Workload, api: HostedApi) -> OptionCost:
    """Monthly cost of `w` on a hosted API."""
    cached = w.cached_input_share if api.usd_per_mtok_cached_input is not None else 0.0
    inp = w.monthly_input_tokens / 1e6 * (1 - cached) * api.usd_per_mtok_input
    cin = w.monthly_input_tokens / 1e6 * cached * (api.usd_per_mtok_cached_input or 0.0)
    out = w.monthly_output_tokens / 1e6 * api.usd_per_mtok_output
    total = inp + cin + out
    notes: tuple[str, ...] = ()
    if w.cached_input_share > 0 and api.usd_per_mtok_cached_input is None:
        notes = ("no cached-input price known: all input billed at the full price",)
    elif cached > 0:
        notes = (f"{cached:.0%} of input tokens billed at the cached price",)
    return OptionCost(
        "api",
        api.label,
        total,
        _per_mtok(total, w.monthly_tokens),
        {"input": inp, "cached_input": cin, "output": out},
        notes=notes,
        capacity_monthly_tokens=math.inf,
    )
