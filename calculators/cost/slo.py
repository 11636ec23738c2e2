"""Cost at the SLO: replicas and money from a measured capacity per replica (a probe capacity search).

The rule, stated once (docs/cost-cli.md and the Costs page repeat it):

- A concurrency capacity is the most concurrent users one replica serves while the SLO holds; the peak load is the
  workload's peak concurrent users. Replicas = max(ceil(peak users / users per replica), ceil(busy-hour output
  tokens/s / goodput output tokens/s per replica)): the second term keeps the month's tokens servable, counting
  only requests that met the SLO (conservative by at most 1 - attainment).
- A rate capacity is the most requests/s one replica serves while the SLO holds; the peak request rate is the
  month's output tokens spread evenly over the busy hours (utilisation x 730 h), in requests of the measured size
  (goodput output tokens/s / goodput requests/s): the capacity holds for requests shaped like the measured ones.
  Replicas = ceil(peak requests/s / requests/s per replica).
- Owned: fixed costs + replicas x GPUs per replica x (monthly instalment + idle power for 730 h) + the power above
  idle for the device-hours the month's output tokens take at the measured goodput (as the forecast's cost model
  counts it), times PUE.
- Rented: replicas x GPUs per replica x USD per GPU-hour x 730 h (busy hours only with scale-to-zero).
- USD per million output tokens at the scenario's volume = USD a month / monthly output tokens x 1e6; at capacity,
  the same cost over what the provisioned replicas serve at the SLO load through the busy hours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from calculators.cost.inputs import HOURS_PER_MONTH, CloudGpu, OwnedHardware, Workload
from calculators.cost.lines import monthly_capital_usd

SEARCHES = ("concurrency", "rate")


class SloCostError(ValueError):
    """A capacity run that cannot be priced, in plain words."""


@dataclass(frozen=True)
class MeasuredCapacity:
    """One replica's capacity at an SLO: users or requests/s, and the goodput at that load."""

    search: str  # "concurrency" (value in users) or "rate" (value in requests/s)
    value: float
    goodput_output_tokens_per_s: float  # output tokens/s of the requests that met the SLO, at that load
    goodput_requests_per_s: float | None = None
    at_least: bool = False  # the search's maximum passed: the real capacity may be higher

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise SloCostError(f"unknown capacity search {self.search!r} (known: concurrency, rate)")
        if not (isinstance(self.value, (int, float)) and math.isfinite(self.value) and self.value > 0):
            raise SloCostError("the capacity must be a positive number of users or requests/s")
        g = self.goodput_output_tokens_per_s
        if not (isinstance(g, (int, float)) and math.isfinite(g) and g > 0):
            raise SloCostError("the capacity run has no goodput (output tokens/s of requests meeting the SLO)")

    @classmethod
    def from_probe(cls, capacity: dict[str, Any]) -> MeasuredCapacity:
        """From the probe's stored `capacity` object (probe.search.search_capacity)."""
        if capacity.get("value") is None:
            raise SloCostError("the endpoint missed the SLO even at the smallest load measured: no capacity to price")
        return cls(
            capacity.get("search", ""),
            capacity["value"],
            capacity.get("goodput_output_tokens_per_s") or 0.0,
            capacity.get("goodput_requests_per_s"),
            bool(capacity.get("at_least")),
        )

    @property
    def unit(self) -> str:
        """'users' or 'requests/s'."""
        return "users" if self.search == "concurrency" else "requests/s"

    @property
    def output_tokens_per_request(self) -> float:
        """Mean output tokens of a request that met the SLO (goodput tokens/s over goodput requests/s)."""
        r = self.goodput_requests_per_s
        if not r or r <= 0:
            raise SloCostError("a rate capacity needs the measured goodput requests/s to turn tokens into requests")
        return self.goodput_output_tokens_per_s / r


@dataclass(frozen=True)
class SloReplicas:
    """Replicas the scenario's peak needs at a measured capacity."""

    peak_load: float  # users or requests/s, in the capacity's unit
    busy_output_tokens_per_s: float  # the month's output tokens over its busy hours
    replicas_for_peak: int
    replicas_for_volume: int  # 0 when the peak term already is the volume term (rate search)
    replicas: int


@dataclass(frozen=True)
class SloCost:
    """One option's cost at the SLO."""

    option: str  # "owned" or "cloud"
    replicas: int
    gpus: int
    usd_per_month: float
    usd_per_replica_month: float
    usd_per_mtok_output: float | None  # at the scenario's volume; None when it has no output tokens
    usd_per_mtok_output_at_capacity: float  # the provisioned replicas at their SLO load through the busy hours


def _ceil(x: float) -> int:
    """ceil with a tolerance, so 8 / 4 x (1 + 1e-15) stays 2 replicas."""
    return max(1, math.ceil(x * (1 - 1e-12)))


def slo_replicas(w: Workload, cap: MeasuredCapacity) -> SloReplicas:
    """Replicas for the workload's peak (and volume) at `cap` per replica; the rule is in the module docstring."""
    busy_tps = w.monthly_output_tokens / (w.busy_hours * 3600)
    if cap.search == "concurrency":
        peak = float(w.peak_concurrency)
        for_peak = _ceil(peak / cap.value)
        for_volume = _ceil(busy_tps / cap.goodput_output_tokens_per_s)
        return SloReplicas(peak, busy_tps, for_peak, for_volume, max(for_peak, for_volume))
    peak = busy_tps / cap.output_tokens_per_request
    for_peak = _ceil(peak / cap.value)
    return SloReplicas(peak, busy_tps, for_peak, 0, for_peak)


def _per_mtok(usd: float, tokens: float) -> float | None:
    return usd / tokens * 1e6 if tokens > 0 else None


def _cost(option: str, w: Workload, cap: MeasuredCapacity, gpus: int, per_replica: float, fixed: float) -> SloCost:
    """`fixed` is paid once (fixed costs, busy energy), `per_replica` for each replica provisioned."""
    r = slo_replicas(w, cap).replicas
    total = fixed + r * per_replica
    at_capacity_tokens = r * cap.goodput_output_tokens_per_s * w.busy_hours * 3600
    return SloCost(
        option,
        r,
        r * gpus,
        total,
        per_replica,
        _per_mtok(total, w.monthly_output_tokens),
        total / at_capacity_tokens * 1e6,
    )


def _check_gpus(gpus_per_replica: int) -> None:
    if not (isinstance(gpus_per_replica, int) and gpus_per_replica >= 1):
        raise SloCostError("devices per replica must be a whole number >= 1")


def owned_slo_cost(w: Workload, cap: MeasuredCapacity, hw: OwnedHardware, gpus_per_replica: int = 1) -> SloCost:
    """Owned hardware at the SLO: replicas x (instalments + idle power) + busy power for the tokens + fixed costs."""
    _check_gpus(gpus_per_replica)
    price_kwh, idle_w = hw.usd_per_kwh_at_wall, hw.idle_watts_effective
    per_device = monthly_capital_usd(hw.price_usd, hw.amortization_months, hw.cost_of_capital)
    per_device += idle_w / 1000 * HOURS_PER_MONTH * price_kwh
    busy_device_h = w.monthly_output_tokens / cap.goodput_output_tokens_per_s / 3600 * gpus_per_replica
    busy_usd = (hw.busy_watts - idle_w) / 1000 * busy_device_h * price_kwh
    return _cost("owned", w, cap, gpus_per_replica, per_device * gpus_per_replica, hw.fixed_usd_per_month + busy_usd)


def cloud_slo_cost(w: Workload, cap: MeasuredCapacity, cloud: CloudGpu, gpus_per_replica: int = 1) -> SloCost:
    """Rented GPUs at the SLO: replicas x GPUs x USD per GPU-hour x billed hours."""
    _check_gpus(gpus_per_replica)
    hours = w.busy_hours if cloud.scale_to_zero else HOURS_PER_MONTH
    return _cost("cloud", w, cap, gpus_per_replica, cloud.usd_per_gpu_hour * hours * gpus_per_replica, 0.0)
