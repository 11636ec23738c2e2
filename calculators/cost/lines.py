"""Cost lines: each option's monthly cost as fixed + per-token parts, linear in volume between capacity steps."""

from __future__ import annotations

import math
from dataclasses import dataclass

from calculators.cost.inputs import HOURS_PER_MONTH, Capacity, CloudGpu, HostedApi, OwnedHardware, Workload, _check

# ---------------------------------------------------------------- the shared shape of every cost


@dataclass(frozen=True)
class CostLine:
    """cost(V) = usd_fixed + usd_per_replica x replicas(V) + usd_per_token x V, V = total tokens a month.

    replicas(V) = max(min_replicas, ceil(V / tokens_per_replica)); the API has no replicas (usd_per_replica 0).
    Every option's monthly cost has this shape, so evaluating and solving break-evens share one formula.
    """

    usd_fixed: float
    usd_per_replica: float
    usd_per_token: float
    min_replicas: int = 0
    tokens_per_replica: float = math.inf  # tokens a month one replica serves within the busy hours

    def replicas(self, monthly_tokens: float) -> int:
        """Replicas provisioned at this volume."""
        if math.isinf(self.tokens_per_replica) or monthly_tokens <= 0:
            return self.min_replicas
        # The small tolerance keeps V = k x capacity (up to rounding) at k replicas, not k + 1.
        need = math.ceil(monthly_tokens / self.tokens_per_replica * (1 - 1e-12))
        return max(self.min_replicas, need)

    def usd_per_month(self, monthly_tokens: float) -> float:
        """Monthly cost at a total volume of `monthly_tokens`."""
        return (
            self.usd_fixed + self.usd_per_replica * self.replicas(monthly_tokens) + self.usd_per_token * monthly_tokens
        )

    @property
    def asymptotic_usd_per_token(self) -> float:
        """Cost per extra token at very large volume (capacity steps averaged out)."""
        return self.usd_per_token + (
            0.0 if math.isinf(self.tokens_per_replica) else self.usd_per_replica / self.tokens_per_replica
        )


def _min_replicas(w: Workload, cap: Capacity) -> int:
    """Replicas needed to hold the peak concurrency within the latency target (at least one)."""
    return max(1, math.ceil(w.peak_concurrency / cap.users_per_replica))


def _tokens_per_replica(w: Workload, cap: Capacity) -> float:
    """Tokens (in the workload's mix) one replica serves in the month's busy hours."""
    spt = cap.seconds_per_token(w.input_share)
    return w.busy_hours * 3600 / spt if spt > 0 else math.inf  # input-only traffic with no prefill figure


def monthly_capital_usd(price_usd: float, months: float, annual_rate: float = 0.0) -> float:
    """Monthly instalment that pays off `price_usd` over `months`: an annuity at annual_rate / 12 a month."""
    _check(months > 0, "amortization months must be > 0")
    r = annual_rate / 12
    if r == 0:
        return price_usd / months
    # 1 - (1 + r)^-n written with log1p/expm1 so tiny rates keep their precision.
    return price_usd * r / -math.expm1(-months * math.log1p(r))


def owned_line(w: Workload, cap: Capacity, hw: OwnedHardware) -> CostLine:
    """Owned hardware: instalments and idle power per provisioned device, busy power per token, fixed costs."""
    g = cap.gpus_per_replica
    kwh = hw.usd_per_kwh_at_wall
    idle = hw.idle_watts_effective
    per_gpu = monthly_capital_usd(hw.price_usd, hw.amortization_months, hw.cost_of_capital)
    per_gpu += idle / 1000 * HOURS_PER_MONTH * kwh
    # Busy device-hours per token x the extra draw above idle.
    per_token = cap.seconds_per_token(w.input_share) / 3600 * g * (hw.busy_watts - idle) / 1000 * kwh
    return CostLine(hw.fixed_usd_per_month, per_gpu * g, per_token, _min_replicas(w, cap), _tokens_per_replica(w, cap))


def cloud_line(w: Workload, cap: Capacity, cloud: CloudGpu) -> CostLine:
    """Cloud GPUs: every provisioned GPU billed for 730 h (always-on) or for the busy hours (scale-to-zero)."""
    hours = w.busy_hours if cloud.scale_to_zero else HOURS_PER_MONTH
    return CostLine(
        0.0,
        cloud.usd_per_gpu_hour * hours * cap.gpus_per_replica,
        0.0,
        _min_replicas(w, cap),
        _tokens_per_replica(w, cap),
    )


def api_blended_usd_per_mtok(w: Workload, api: HostedApi) -> float:
    """USD per million tokens of the workload's mix (cached input at its price where known)."""
    s = w.input_share
    cached = w.cached_input_share if api.usd_per_mtok_cached_input is not None else 0.0
    p_in = (1 - cached) * api.usd_per_mtok_input + cached * (api.usd_per_mtok_cached_input or 0.0)
    return s * p_in + (1 - s) * api.usd_per_mtok_output


def api_line(w: Workload, api: HostedApi) -> CostLine:
    """Hosted API: linear in tokens, nothing fixed."""
    return CostLine(0.0, 0.0, api_blended_usd_per_mtok(w, api) / 1e6)
