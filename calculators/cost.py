"""Cost models: owned hardware vs cloud GPU vs hosted API, with break-even volumes, payback and sensitivities.

Pure functions in USD, seconds and tokens. Throughput is a plain input (output tokens/s of one replica, see
`Capacity`), so every figure can be checked by hand; `capacity_from_forecast` is the thin adapter that builds
it from the speed forecast. Assumptions, stated once (docs/cost-cli.md repeats them):

- A month is 730 hours (8760 h / 12) and 30.42 days.
- Traffic arrives during `utilization` x 730 busy hours a month. Enough replicas are provisioned to (a) hold
  the peak concurrency within the latency target and (b) serve the month's tokens inside those busy hours.
- A replica is `gpus_per_replica` devices serving one copy of the model; replica work time is
  output_tokens / output_tokens_per_s + input_tokens / prefill_tokens_per_s (prefill left out when unknown).
  From the forecast, a replica's rate is taken at the concurrency the workload implies (the peak, or the average
  load of the busy hours by Little's law if larger), capped by the latency target and the KV cache.
- Owned hardware draws `busy_watts` per device while it computes and `idle_watts` for the rest of the month,
  times PUE; it is bought outright (no resale value) and paid off in equal monthly instalments over the
  amortisation period (an annuity at the annual cost of capital / 12 a month; straight line at rate 0).
- Cloud always-on bills every hour of the month for every provisioned GPU; scale-to-zero bills only the busy
  hours (no cold-start or minimum-billing charges).
- Hosted API: tokens / 1e6 x price; a `cached_input_share` of input tokens is billed at the cached price where
  one is known.
- Break-even volumes keep the input:output mix, peak concurrency, utilisation and replica throughput fixed and
  vary only the total monthly tokens; between capacity steps every cost is linear in volume, so the break-even is solved in closed
  form segment by segment.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from calculators import memory
from calculators.throughput import SpeedForecast, forecast
from model_specs.loader import Catalog
from model_specs.schema import ApiPrice, CloudPrice, Hardware, ModelSpec

HOURS_PER_MONTH = 730.0  # 8760 / 12
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
DEFAULT_INPUT_SHARE = 5 / 6  # input share of all tokens with no workload given: the scenario's 100 M in, 20 M out
DEFAULT_IDLE_SHARE = 0.10  # idle draw as a share of busy draw when no idle figure is given
MAX_BREAKEVEN_TOKENS = 1e16  # tokens/month; beyond this a break-even is reported as none
_MAX_SEGMENTS = 20_000
OPTIONS = ("owned", "cloud", "api")
ForecastAt = Callable[[int], SpeedForecast]  # throughput.forecast at a concurrency, everything else bound
ForecastFactory = Callable[..., ForecastAt]
PAIRS = (("owned", "cloud"), ("owned", "api"), ("cloud", "api"))


def _check(cond: bool, msg: str) -> None:
    """Raise ValueError(msg) unless cond: the one-line reason the CLI prints."""
    if not cond:
        raise ValueError(msg)


def _finite(x: float | None) -> bool:
    return x is None or (isinstance(x, (int, float)) and math.isfinite(x))


# ---------------------------------------------------------------- inputs


@dataclass(frozen=True)
class Workload:
    """What is served in a month and how fast each user must be served."""

    monthly_input_tokens: float
    monthly_output_tokens: float
    peak_concurrency: int = 1
    utilization: float = 0.5  # share of the month's hours in which traffic arrives
    p95_ttft_s: float | None = None
    min_user_tokens_per_s: float | None = None
    cached_input_share: float = 0.0  # share of input tokens a hosted API bills at its cached price

    def __post_init__(self) -> None:
        for name in (
            "monthly_input_tokens",
            "monthly_output_tokens",
            "utilization",
            "cached_input_share",
            "p95_ttft_s",
            "min_user_tokens_per_s",
        ):
            _check(_finite(getattr(self, name)), f"{name} must be a finite number")
        _check(self.monthly_input_tokens >= 0, "monthly input tokens must be >= 0")
        _check(self.monthly_output_tokens >= 0, "monthly output tokens must be >= 0")
        _check(
            isinstance(self.peak_concurrency, int) and self.peak_concurrency >= 1,
            "peak concurrency must be a whole number >= 1",
        )
        _check(0 < self.utilization <= 1, "utilization must be in (0, 1]: the share of hours with traffic")
        _check(self.p95_ttft_s is None or self.p95_ttft_s > 0, "p95 TTFT target must be > 0 s")
        _check(
            self.min_user_tokens_per_s is None or self.min_user_tokens_per_s > 0,
            "minimum per-user tokens/s must be > 0",
        )
        _check(0 <= self.cached_input_share <= 1, "cached input share must be in [0, 1]")

    @classmethod
    def from_requests(
        cls, requests_per_day: float, input_tokens_per_request: float, output_tokens_per_request: float, **kw: Any
    ) -> Workload:
        """Monthly tokens from requests/day x tokens per request (30.42 days a month)."""
        _check(_finite(requests_per_day) and requests_per_day >= 0, "requests per day must be >= 0")
        return cls(
            requests_per_day * DAYS_PER_MONTH * input_tokens_per_request,
            requests_per_day * DAYS_PER_MONTH * output_tokens_per_request,
            **kw,
        )

    @property
    def monthly_tokens(self) -> float:
        """Input + output tokens a month."""
        return self.monthly_input_tokens + self.monthly_output_tokens

    @property
    def input_share(self) -> float:
        """Input tokens as a share of all tokens (DEFAULT_INPUT_SHARE when the workload is empty)."""
        total = self.monthly_tokens
        return self.monthly_input_tokens / total if total > 0 else DEFAULT_INPUT_SHARE

    @property
    def busy_hours(self) -> float:
        """Hours a month in which traffic arrives."""
        return self.utilization * HOURS_PER_MONTH

    def scaled_to(self, monthly_tokens: float) -> Workload:
        """The same workload at another total volume, keeping the input:output mix."""
        s = self.input_share
        return replace(self, monthly_input_tokens=monthly_tokens * s, monthly_output_tokens=monthly_tokens * (1 - s))


@dataclass(frozen=True)
class Capacity:
    """What one replica (one copy of the model on `gpus_per_replica` devices) delivers within the latency target."""

    output_tokens_per_s: float  # aggregate output tokens/s of one replica serving `users_per_replica` streams
    users_per_replica: int = 1  # concurrent streams one replica holds within the latency target
    gpus_per_replica: int = 1
    prefill_tokens_per_s: float | None = None  # None: prefill time is not counted
    source: str = "input"  # "forecast", "measured" or "input"
    latency_met: bool = True
    note: str | None = None

    def __post_init__(self) -> None:
        _check(_finite(self.output_tokens_per_s) and self.output_tokens_per_s > 0, "throughput must be > 0 tokens/s")
        _check(
            _finite(self.prefill_tokens_per_s) and (self.prefill_tokens_per_s is None or self.prefill_tokens_per_s > 0),
            "prefill throughput must be > 0 tokens/s",
        )
        _check(
            isinstance(self.users_per_replica, int) and self.users_per_replica >= 1, "users per replica must be >= 1"
        )
        _check(isinstance(self.gpus_per_replica, int) and self.gpus_per_replica >= 1, "GPUs per replica must be >= 1")

    def seconds_per_token(self, input_share: float) -> float:
        """Replica-seconds of work per token of the workload's mix."""
        s = (1 - input_share) / self.output_tokens_per_s
        if self.prefill_tokens_per_s:
            s += input_share / self.prefill_tokens_per_s
        return s

    def scaled(self, factor: float) -> Capacity:
        """The same replica with every rate multiplied by `factor` (for sensitivities)."""
        p = self.prefill_tokens_per_s
        return replace(
            self,
            output_tokens_per_s=self.output_tokens_per_s * factor,
            prefill_tokens_per_s=None if p is None else p * factor,
        )


@dataclass(frozen=True)
class OwnedHardware:
    """Hardware bought outright; prices and watts are per device (one GPU, or one laptop / mini PC)."""

    price_usd: float
    busy_watts: float
    idle_watts: float | None = None  # None: DEFAULT_IDLE_SHARE x busy_watts
    amortization_months: float = 36
    electricity_usd_per_kwh: float = 0.15
    pue: float = 1.0
    cost_of_capital: float = 0.0  # annual rate, e.g. 0.08
    fixed_usd_per_month: float = 0.0  # rack space, support, ... for the whole deployment
    label: str = "owned hardware"

    def __post_init__(self) -> None:
        for name in (
            "price_usd",
            "busy_watts",
            "idle_watts",
            "amortization_months",
            "electricity_usd_per_kwh",
            "pue",
            "cost_of_capital",
            "fixed_usd_per_month",
        ):
            _check(_finite(getattr(self, name)), f"{name} must be a finite number")
        _check(self.price_usd >= 0, "hardware price must be >= 0 USD")
        _check(self.busy_watts >= 0, "power draw must be >= 0 W")
        _check(
            self.idle_watts is None or 0 <= self.idle_watts <= self.busy_watts,
            "idle power must be between 0 W and the busy power",
        )
        _check(self.amortization_months > 0, "amortization months must be > 0")
        _check(self.electricity_usd_per_kwh >= 0, "electricity price must be >= 0 USD/kWh")
        _check(self.pue >= 1, "PUE must be >= 1")
        _check(0 <= self.cost_of_capital <= 1, "cost of capital must be an annual rate between 0 and 1 (e.g. 0.08)")
        _check(self.fixed_usd_per_month >= 0, "fixed monthly cost must be >= 0 USD")

    @property
    def idle_watts_effective(self) -> float:
        """Idle draw, defaulting to DEFAULT_IDLE_SHARE of the busy draw."""
        return self.busy_watts * DEFAULT_IDLE_SHARE if self.idle_watts is None else self.idle_watts

    @property
    def usd_per_kwh_at_wall(self) -> float:
        """Electricity price including the facility overhead (PUE)."""
        return self.electricity_usd_per_kwh * self.pue


@dataclass(frozen=True)
class CloudGpu:
    """A rented GPU billed by the hour."""

    usd_per_gpu_hour: float
    scale_to_zero: bool = False  # bill only busy hours
    label: str = "cloud GPU"

    def __post_init__(self) -> None:
        _check(_finite(self.usd_per_gpu_hour) and self.usd_per_gpu_hour >= 0, "cloud price must be >= 0 USD/GPU-hour")


@dataclass(frozen=True)
class HostedApi:
    """A hosted model billed per million tokens."""

    usd_per_mtok_input: float
    usd_per_mtok_output: float
    usd_per_mtok_cached_input: float | None = None
    label: str = "hosted API"

    def __post_init__(self) -> None:
        for name in ("usd_per_mtok_input", "usd_per_mtok_output", "usd_per_mtok_cached_input"):
            v = getattr(self, name)
            _check(_finite(v) and (v is None or v >= 0), f"{name} must be >= 0 USD per million tokens")

    def scaled(self, factor: float) -> HostedApi:
        """Every price multiplied by `factor` (for sensitivities)."""
        c = self.usd_per_mtok_cached_input
        return replace(
            self,
            usd_per_mtok_input=self.usd_per_mtok_input * factor,
            usd_per_mtok_output=self.usd_per_mtok_output * factor,
            usd_per_mtok_cached_input=None if c is None else c * factor,
        )


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
    notes = ()
    if w.cached_input_share > 0 and api.usd_per_mtok_cached_input is None:
        notes = ("no cached-input price known: all input billed at the full price",)
    return OptionCost(
        "api",
        api.label,
        total,
        _per_mtok(total, w.monthly_tokens),
        {"input": inp, "cached_input": cin, "output": out},
        notes=notes,
        capacity_monthly_tokens=math.inf,
    )


# ---------------------------------------------------------------- break-even and payback


@dataclass(frozen=True)
class Breakeven:
    """Total monthly tokens (at the workload's mix) where the cheaper of two options changes."""

    a: str
    b: str
    monthly_tokens: float | None
    cheaper_below: str | None  # the option that is cheaper at lower volume
    at_capacity_step: bool = False  # the cheaper option changes where one more replica is added (a jump)
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.a}_vs_{self.b}"


def _sign(x: float, tol: float) -> int:
    return 0 if abs(x) <= tol else (1 if x > 0 else -1)


def _envelope(line: CostLine) -> tuple[float, float, float, float]:
    """(intercept, slope, slack, from_tokens): cost(V) in [intercept + slope V, ... + slack) for V >= from_tokens."""
    if math.isinf(line.tokens_per_replica):
        return line.usd_fixed + line.usd_per_replica * line.min_replicas, line.usd_per_token, 0.0, 0.0
    # ceil(V / c) <= replicas < V / c + 1 once V is past the minimum replica count's capacity.
    slope = line.usd_per_token + line.usd_per_replica / line.tokens_per_replica
    return line.usd_fixed, slope, line.usd_per_replica, max(line.min_replicas, 1) * line.tokens_per_replica


def breakeven_monthly_tokens(
    a: CostLine, b: CostLine, names: tuple[str, str] = ("a", "b"), max_tokens: float = MAX_BREAKEVEN_TOKENS
) -> Breakeven:
    """First volume V > 0 where cost_a(V) - cost_b(V) changes sign.

    Between capacity steps both costs are linear, so the root in a stretch is -(intercept difference) / (slope
    difference); where the sign flips across a step, the step's volume is returned with at_capacity_step=True (no
    volume there gives equal costs). Stretches where the linear envelopes of the two step functions prove that the
    order cannot change are skipped, and "cheaper at every volume" is only said when the envelopes prove it.
    """
    na, nb = names

    def segment(line: CostLine, v: float) -> tuple[int, float]:
        """(replicas of the capacity segment holding v, the volume where that segment ends)."""
        if math.isinf(line.tokens_per_replica):
            return line.min_replicas, math.inf
        r = max(line.min_replicas, 1, math.ceil(v / line.tokens_per_replica))  # any traffic needs one replica
        return r, r * line.tokens_per_replica

    (ra, next_a), (rb, next_b) = segment(a, 0.0), segment(b, 0.0)
    ia, sa, slack_a, from_a = _envelope(a)
    ib, sb, slack_b, from_b = _envelope(b)
    sigma, k_env, v_env = sa - sb, ia - ib, max(from_a, from_b)
    m = a.usd_per_token - b.usd_per_token
    lo, s0 = 0.0, 0
    for _ in range(_MAX_SEGMENTS):
        hi = min(next_a, next_b, max_tokens)
        ka, kb = a.usd_fixed + a.usd_per_replica * ra, b.usd_fixed + b.usd_per_replica * rb
        k = ka - kb  # cost_a - cost_b = k + m V on (lo, hi]
        # Tolerance relative to the costs compared, so rounding never fakes a crossing.
        tol_lo = 1e-9 * max(1.0, abs(ka + a.usd_per_token * lo), abs(kb + b.usd_per_token * lo))
        tol_hi = 1e-9 * max(1.0, abs(ka + a.usd_per_token * hi), abs(kb + b.usd_per_token * hi))
        s_lo, s_hi = _sign(k + m * lo, tol_lo), _sign(k + m * hi, tol_hi)
        if s0 == 0:
            s0 = s_lo or _sign(m, 0.0)
        elif s_lo != s0:  # flipped (or became equal) across a capacity step
            return Breakeven(
                na, nb, lo, na if s0 < 0 else nb, True, "the cheaper option changes where one more replica is added"
            )
        if s0 and s_hi != s0:
            root = min(max(-k / m, lo), hi) if m else lo
            return Breakeven(na, nb, root, na if s0 < 0 else nb, False, "costs are equal here")
        if s0 and hi >= v_env:
            # For V >= hi: k_env + sigma V - slack_b < cost_a - cost_b < k_env + sigma V + slack_a, so `gap` bounds
            # how far the order is from flipping; it shrinks at `rate` per token when that is positive.
            gap = -(k_env + sigma * hi + slack_a) if s0 < 0 else k_env + sigma * hi - slack_b
            rate = -s0 * sigma
            tol = 1e-9 * max(1.0, abs(ia + sa * hi), abs(ib + sb * hi))
            if gap > tol and rate <= 0:
                cheap = na if s0 < 0 else nb
                return Breakeven(na, nb, None, cheap, False, f"{cheap} is cheaper at every volume")
            if gap > tol and hi < max_tokens and hi + (gap - tol) / rate > min(next_a, next_b):
                lo = min(hi + (gap - tol) / rate, max_tokens)  # the order cannot flip before here
                (ra, next_a), (rb, next_b) = segment(a, lo), segment(b, lo)
                continue
        if hi >= max_tokens:
            break
        lo = hi
        if hi == next_a:
            ra += 1
            next_a = ra * a.tokens_per_replica
        if hi == next_b:
            rb += 1
            next_b = rb * b.tokens_per_replica
    if s0 == 0:
        return Breakeven(na, nb, None, None, False, "the two options cost the same at every volume")
    cheap = na if s0 < 0 else nb
    return Breakeven(
        na, nb, None, cheap, False, f"{cheap} is cheaper up to at least {lo:.3g} tokens/month; no break-even below that"
    )


def payback_months(
    upfront_usd: float, owned_running_usd_per_month: float, alternative_usd_per_month: float, annual_rate: float = 0.0
) -> float | None:
    """Months until buying pays back against an alternative; None when it never does.

    Monthly saving S = alternative - owned running cost (power + fixed). Without cost of capital the payback is
    upfront / S; with a monthly rate r the discounted payback is -ln(1 - upfront x r / S) / ln(1 + r).
    """
    if upfront_usd <= 0:
        return 0.0
    saving = alternative_usd_per_month - owned_running_usd_per_month
    if saving <= 0:
        return None
    r = annual_rate / 12
    if r == 0:
        return upfront_usd / saving
    x = 1 - upfront_usd * r / saving
    if x <= 0:
        return None
    return -math.log(x) / math.log1p(r)


# ---------------------------------------------------------------- the whole comparison


@dataclass(frozen=True)
class CostInputs:
    """Everything a comparison needs; an option left None is reported missing with the reason in `missing`."""

    workload: Workload
    owned: OwnedHardware | None = None
    owned_capacity: Capacity | None = None
    cloud: CloudGpu | None = None
    cloud_capacity: Capacity | None = None
    api: HostedApi | None = None
    missing: dict[str, str] = field(default_factory=dict)

    def line(self, option: str, w: Workload | None = None) -> CostLine | None:
        """The option's cost line for workload `w` (default: this workload); None when the option is missing."""
        w = w or self.workload
        if option == "owned" and self.owned and self.owned_capacity:
            return owned_line(w, self.owned_capacity, self.owned)
        if option == "cloud" and self.cloud and self.cloud_capacity:
            return cloud_line(w, self.cloud_capacity, self.cloud)
        if option == "api" and self.api:
            return api_line(w, self.api)
        return None

    def missing_reason(self, option: str) -> str:
        """Why an option cannot be priced."""
        return self.missing.get(option, f"no {option} inputs given")


@dataclass(frozen=True)
class Comparison:
    """The three options at one workload, the break-evens between them and the hardware payback."""

    options: dict[str, OptionCost | None]
    missing: dict[str, str]
    breakevens: tuple[Breakeven, ...]
    payback: dict[str, float | None]  # "vs_cloud", "vs_api" -> months (None = never or not comparable)
    payback_notes: dict[str, str]
    cheapest: str | None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON shape: owned / cloud / api objects, breakeven_monthly_tokens and payback_months."""
        out: dict[str, Any] = {}
        for name in OPTIONS:
            o = self.options.get(name)
            out[name] = (
                o.to_dict()
                if o
                else {"usd_per_month": None, "usd_per_mtok": None, "missing": self.missing.get(name, "not given")}
            )
        out["cheapest"] = self.cheapest
        out["breakeven_monthly_tokens"] = {b.key: b.monthly_tokens for b in self.breakevens}
        out["breakeven"] = {
            b.key: {
                "monthly_tokens": b.monthly_tokens,
                "cheaper_below": b.cheaper_below,
                "at_capacity_step": b.at_capacity_step,
                "note": b.note,
            }
            for b in self.breakevens
        }
        out["payback_months"] = dict(self.payback)
        out["payback_notes"] = dict(self.payback_notes)
        return out


def option_cost(inputs: CostInputs, option: str, w: Workload | None = None) -> OptionCost | None:
    """One option's cost at workload `w` (default: the inputs' workload); None when it is missing."""
    w = w or inputs.workload
    if option == "owned" and inputs.owned and inputs.owned_capacity:
        return owned_cost(w, inputs.owned_capacity, inputs.owned)
    if option == "cloud" and inputs.cloud and inputs.cloud_capacity:
        return cloud_cost(w, inputs.cloud_capacity, inputs.cloud)
    if option == "api" and inputs.api:
        return api_cost(w, inputs.api)
    return None


def compare(inputs: CostInputs) -> Comparison:
    """Price every available option, solve the break-evens of each pair and the hardware's payback."""
    options = {name: option_cost(inputs, name) for name in OPTIONS}
    missing = {name: inputs.missing_reason(name) for name, o in options.items() if o is None}
    breakevens = []
    for a, b in PAIRS:
        la, lb = inputs.line(a), inputs.line(b)
        if la is None or lb is None:
            gone = a if la is None else b
            breakevens.append(Breakeven(a, b, None, None, False, f"{gone} is not priced: {missing[gone]}"))
        else:
            breakevens.append(breakeven_monthly_tokens(la, lb, (a, b)))
    payback: dict[str, float | None] = {"vs_cloud": None, "vs_api": None}
    notes: dict[str, str] = {}
    owned = options["owned"]
    for alt in ("cloud", "api"):
        key = f"vs_{alt}"
        other = options[alt]
        if owned is None or other is None:
            notes[key] = "not comparable: " + (missing.get("owned") if owned is None else missing[alt])
            continue
        assert inputs.owned is not None
        upfront = inputs.owned.price_usd * owned.gpus
        running = owned.breakdown_usd_per_month["energy"] + owned.breakdown_usd_per_month["fixed"]
        months = payback_months(upfront, running, other.usd_per_month, inputs.owned.cost_of_capital)
        payback[key] = months
        if months is None:
            notes[key] = f"never: running the hardware costs at least as much as the {alt} option saves"
        else:
            notes[key] = f"{upfront:,.0f} USD upfront, saving {other.usd_per_month - running:,.2f} USD a month"
            if months > inputs.owned.amortization_months:
                notes[key] += f"; longer than the {inputs.owned.amortization_months:g}-month amortisation period"
    priced = {k: v for k, v in options.items() if v is not None}
    cheapest = min(priced, key=lambda k: priced[k].usd_per_month) if priced else None
    return Comparison(options, missing, tuple(breakevens), payback, notes, cheapest)


def cost_curves(inputs: CostInputs, monthly_tokens: Sequence[float]) -> dict[str, list[float | None]]:
    """Monthly cost of each option at each total volume (same mix, concurrency and utilisation)."""
    out: dict[str, list[float | None]] = {}
    for name in OPTIONS:
        line = inputs.line(name)
        out[name] = [None if line is None else line.usd_per_month(v) for v in monthly_tokens]
    return out


def curve_volumes(monthly_tokens: float, breakevens: Iterable[Breakeven], n: int = 240) -> list[float]:
    """n log-spaced volumes: two decades either side of the workload (at least 1 M), widened to show each break-even."""
    v_now = max(monthly_tokens, 1e6)
    found = [b.monthly_tokens for b in breakevens if b.monthly_tokens]
    lo = min([v_now / 100, *(v / 10 for v in found)])
    hi = max([v_now * 100, *(v * 10 for v in found)])
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]


# ---------------------------------------------------------------- sensitivities


SENSITIVITY_FACTORS = ("utilization", "electricity price", "amortization", "API price", "throughput")


@dataclass(frozen=True)
class Sensitivity:
    """An option's monthly cost when one input moves down and up by `pct`."""

    factor: str
    option: str
    pct: float
    base_usd_per_month: float
    low_input_usd_per_month: float  # cost with the input at -pct
    high_input_usd_per_month: float  # cost with the input at +pct

    @property
    def swing_usd(self) -> float:
        """Width of the tornado bar."""
        return abs(self.high_input_usd_per_month - self.low_input_usd_per_month)


def _perturbed(inputs: CostInputs, factor: str, k: float) -> CostInputs:
    """Inputs with one factor multiplied by k."""
    if factor == "utilization":
        w = replace(inputs.workload, utilization=min(1.0, inputs.workload.utilization * k))
        return replace(inputs, workload=w)
    if factor == "electricity price" and inputs.owned:
        return replace(
            inputs, owned=replace(inputs.owned, electricity_usd_per_kwh=inputs.owned.electricity_usd_per_kwh * k)
        )
    if factor == "amortization" and inputs.owned:
        return replace(inputs, owned=replace(inputs.owned, amortization_months=inputs.owned.amortization_months * k))
    if factor == "API price" and inputs.api:
        return replace(inputs, api=inputs.api.scaled(k))
    if factor == "throughput":
        return replace(
            inputs,
            owned_capacity=inputs.owned_capacity.scaled(k) if inputs.owned_capacity else None,
            cloud_capacity=inputs.cloud_capacity.scaled(k) if inputs.cloud_capacity else None,
        )
    return inputs


def sensitivities(
    inputs: CostInputs, pct: float = 0.2, factors: Iterable[str] = SENSITIVITY_FACTORS
) -> tuple[Sensitivity, ...]:
    """Tornado data: each factor at -pct and +pct, for every priced option, biggest swing first."""
    _check(0 < pct < 1, "sensitivity percentage must be between 0 and 100 (exclusive)")
    out = []
    for name in OPTIONS:
        base = option_cost(inputs, name)
        if base is None:
            continue
        for f in factors:
            lo = option_cost(_perturbed(inputs, f, 1 - pct), name)
            hi = option_cost(_perturbed(inputs, f, 1 + pct), name)
            assert lo is not None and hi is not None
            out.append(Sensitivity(f, name, pct, base.usd_per_month, lo.usd_per_month, hi.usd_per_month))
    return tuple(sorted(out, key=lambda s: (OPTIONS.index(s.option), -s.swing_usd)))


# ---------------------------------------------------------------- plain words


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def sizing_sentence(w: Workload, cap: Capacity, hardware_name: str, replicas: int) -> str:
    """'N users at this latency need K GPUs' in plain words."""
    target = []
    if w.p95_ttft_s is not None:
        target.append(f"first token within {w.p95_ttft_s:g} s (p95)")
    if w.min_user_tokens_per_s is not None:
        target.append(f"at least {w.min_user_tokens_per_s:g} tokens/s each")
    at = " with " + " and ".join(target) if target else ""
    n = w.peak_concurrency
    gpus = replicas * cap.gpus_per_replica
    of = f" of {cap.gpus_per_replica} devices" if cap.gpus_per_replica > 1 else ""
    s = (
        f"{_plural(n, 'concurrent user')}{at} need{'s' if n == 1 else ''} {gpus} x {hardware_name}: "
        f"{_plural(replicas, 'replica')}{of}, each serving up to {_plural(cap.users_per_replica, 'user')} at "
        f"{cap.output_tokens_per_s:,.0f} output tokens/s in total ({cap.source})."
    )
    if replicas > _min_replicas(w, cap):
        s += (
            f" The month's tokens, arriving in {w.busy_hours:,.0f} busy hours, need more replicas than the peak "
            "concurrency does."
        )
    if not cap.latency_met:
        s += " Even one user per replica misses the latency target on this hardware."
    return s


# ---------------------------------------------------------------- adapter: capacity from the speed forecast


def _concurrency_candidates(peak: int) -> list[int]:
    """Concurrency levels to try: every level up to 64, then powers of two, and the peak itself."""
    levels = set(range(1, min(peak, 64) + 1))
    c = 64
    while c < peak:
        levels.add(c)
        c *= 2
    levels.add(peak)
    return sorted(levels)


def _meets(f: SpeedForecast, w: Workload, concurrency: int) -> bool:
    """Whether `concurrency` streams fit the KV cache (beyond it requests queue) and meet the latency target."""
    ok = f.max_concurrency is None or concurrency <= f.max_concurrency
    if w.p95_ttft_s is not None:
        ok = ok and f.ttft_s <= w.p95_ttft_s
    if w.min_user_tokens_per_s is not None:
        ok = ok and f.per_user_tokens_per_s >= w.min_user_tokens_per_s
    return ok


def capacity_from_forecast(forecast_at: ForecastAt, w: Workload, gpus_per_replica: int = 1) -> Capacity:
    """One replica's capacity at the concurrency the workload implies, within the latency target.

    The concurrency is the smallest level that covers both the peak and the average load the monthly volume
    implies during the busy hours (Little's law: output tokens/s needed / per-user tokens/s), or the largest level
    that still meets the latency target and fits the KV cache when that is smaller. `forecast_at(concurrency)`
    returns a SpeedForecast-like object (calculators.throughput.forecast with everything else bound).
    """
    out_rate = w.monthly_output_tokens / (w.busy_hours * 3600)
    best = None
    first = None
    for c in _concurrency_candidates(max(w.peak_concurrency, 1024)):
        f = forecast_at(c)
        first = first or (c, f)
        if not _meets(f, w, c):
            break  # TTFT only grows, per-user speed only falls and KV room only runs out as concurrency grows
        best = (c, f)
        if c >= max(w.peak_concurrency, out_rate / max(f.per_user_tokens_per_s, 1e-12)):
            break
    met = best is not None
    c, f = best or first
    fit_notes = [n for n in f.notes if "does not fit" in n or "fit in memory" in n]
    return Capacity(
        float(f.aggregate_tokens_per_s),
        c,
        gpus_per_replica,
        f.prefill_tokens_per_s or None,
        "forecast",
        met,
        "; ".join(fit_notes) or None,
    )


def capacity_from_measured(
    output_tokens_per_s: float,
    w: Workload,
    gpus_per_replica: int = 1,
    prefill_tokens_per_s: float | None = None,
    concurrency: int | None = None,
) -> Capacity:
    """One replica's capacity from a measured aggregate output rate (a probe run or a typed figure).

    Users per replica: the measured concurrency when known; else as many streams as keep each at the minimum
    per-user speed (aggregate / minimum); else the peak concurrency (one replica assumed to hold it).
    """
    if concurrency:
        users = concurrency
    elif w.min_user_tokens_per_s:
        users = max(1, int(output_tokens_per_s // w.min_user_tokens_per_s))
    else:
        users = w.peak_concurrency
    met = not (w.min_user_tokens_per_s and output_tokens_per_s / users < w.min_user_tokens_per_s)
    return Capacity(output_tokens_per_s, users, gpus_per_replica, prefill_tokens_per_s, "measured", met)


# ---------------------------------------------------------------- from the catalog: prices with sources, capacities


@dataclass(frozen=True)
class Quote:
    """A price or figure as shown to the user: its value, where it came from and when."""

    value: float | None
    source: str  # URL, "typed in", or why there is none
    as_of: str | None = None
    label: str = ""


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


def cloud_prices_for(catalog: Catalog, hardware_id: str) -> list[CloudPrice]:
    """Catalog cloud prices for one device, cheapest first."""
    hid = catalog.aliases.get(hardware_id, hardware_id)
    return sorted((p for p in catalog.cloud_prices if p.hardware == hid), key=lambda p: p.usd_per_gpu_hour)


def api_prices_for(catalog: Catalog, model_id: str, w: Workload | None = None) -> list[ApiPrice]:
    """Catalog API prices for one model (by id, alias or provider model name), cheapest at the mix first.

    Free listings (0 / 0: rate-limited free tiers) go last, so a default pick is a price one can serve traffic at.
    """
    mid = catalog.aliases.get(model_id, model_id)
    names = {mid, model_id, *(catalog.models[mid].aliases if mid in catalog.models else [])}
    pats = [re.compile(rf"(^|[^a-z0-9]){re.escape(_norm(n))}($|[^a-z0-9])") for n in names]
    found = [p for p in catalog.api_prices if p.model in names or any(r.search(_norm(p.model)) for r in pats)]
    share = w.input_share if w else DEFAULT_INPUT_SHARE
    blended = {id(p): share * p.usd_per_mtok_input + (1 - share) * p.usd_per_mtok_output for p in found}
    return sorted(found, key=lambda p: (blended[id(p)] == 0, blended[id(p)]))


def _pick(prices: Sequence[Any], provider: str | None, what: str) -> Any | None:
    if provider is None:
        return prices[0] if prices else None
    for p in prices:
        if p.provider.lower() == provider.lower():
            return p
    known = ", ".join(sorted({p.provider for p in prices})) or "none"
    raise ValueError(f"no {what} price from provider '{provider}' in the catalog (known: {known})")


@dataclass(frozen=True)
class CostRequest:
    """Every input of a cost comparison by catalog id, plus typed overrides (None = from the catalog)."""

    workload: Workload
    model: str
    quant: str = "Q4_K_M"
    engine: str = "llama.cpp"
    hardware: str = "rtx-4090"
    gpus: int = 1  # devices per replica (tensor parallel)
    context_tokens: int = 8192
    prompt_tokens: int = 1000  # per request, for the forecast's TTFT
    output_tokens: int = 200  # per request
    # Owned hardware.
    hardware_price_usd: float | None = None
    amortization_months: float = 36
    cost_of_capital: float = 0.0
    power_watts: float | None = None  # per device while computing; None = catalog TDP
    idle_watts: float | None = None
    electricity_usd_per_kwh: float = 0.15
    pue: float = 1.0
    fixed_usd_per_month: float = 0.0
    tokens_per_s: float | None = None  # measured aggregate output tokens/s of one owned replica
    measured_concurrency: int | None = None
    # Cloud.
    cloud_hardware: str | None = None  # None = the owned hardware if rentable, else the cheapest rentable fit
    cloud_model: str | None = None
    cloud_quant: str | None = None
    cloud_engine: str = "vllm"
    cloud_gpus: int | None = None
    cloud_provider: str | None = None
    cloud_usd_per_hour: float | None = None
    cloud_tokens_per_s: float | None = None  # measured aggregate output tokens/s of one cloud replica
    scale_to_zero: bool = False
    # Hosted API.
    api_model: str | None = None
    api_provider: str | None = None
    api_input_usd_per_mtok: float | None = None
    api_output_usd_per_mtok: float | None = None
    api_cached_input_usd_per_mtok: float | None = None


@dataclass(frozen=True)
class CostPlan:
    """A request resolved against the catalog: the pure inputs, each price's provenance, and the sizing."""

    request: CostRequest
    inputs: CostInputs
    quotes: dict[str, Quote]
    labels: dict[str, str]  # option -> "model quant on hardware"
    sizing: dict[str, str]  # option -> plain-words sizing sentence
    throughput_source: str  # of the owned option: "forecast" or "measured"


def default_forecast_factory(
    model: ModelSpec,
    quant: str,
    hardware: Hardware,
    *,
    engine: str,
    gpus: int,
    context_tokens: int,
    prompt_tokens: int,
    output_tokens: int,
    efficiency_override: float | None = None,
) -> ForecastAt:
    """forecast(concurrency) bound to everything else, from calculators.throughput.forecast."""

    def at(concurrency: int) -> SpeedForecast:
        return forecast(
            model,
            quant,
            hardware,
            engine=engine,
            gpus=gpus,
            context_tokens=context_tokens,
            prompt_tokens=prompt_tokens,
            output_tokens=output_tokens,
            concurrency=concurrency,
            efficiency_override=efficiency_override,
        )

    return at


def measured_forecast_factory(measurement: dict[str, Any] | None) -> ForecastFactory:
    """The default factory, with a probe-measured bandwidth efficiency wherever model, quant, device and engine match.

    `measurement` is what the probe page stores for "use my measurement": model, quant, hw, engine and
    efficiency_override. Other options (a rented GPU, another model) keep the fitted efficiency.
    """

    def factory(model: ModelSpec, quant: str, hardware: Hardware, **kw: Any) -> ForecastAt:
        eff = measured_efficiency(measurement, model.id, quant, hardware.id, kw.get("engine"))
        return default_forecast_factory(model, quant, hardware, efficiency_override=eff, **kw)

    return factory


def measured_efficiency(
    measurement: dict[str, Any] | None, model_id: str, quant: str, hardware_id: str, engine: str | None
) -> float | None:
    """The measurement's bandwidth efficiency when it was taken with this model, quant, device and engine."""
    m = measurement or {}
    same = (m.get("model"), m.get("quant"), m.get("hw"), m.get("engine")) == (model_id, quant, hardware_id, engine)
    return m.get("efficiency_override") if same else None


def _serves(catalog: Catalog, model_id: str, quant: str, engine: str, hw: Hardware, gpus: int, context: int) -> bool:
    """Whether the devices hold the weights and one request's KV cache (the memory calculator's fit)."""
    model = catalog.model(model_id)
    req = memory.MemoryRequest(
        model=model,
        quant=quant,
        context_tokens=min(context, model.context_tokens),
        engine=engine,
        hardware=hw,
        gpus=gpus,
    )
    try:
        return bool(memory.estimate(req).fits)
    except ValueError:  # the engine cannot run this format
        return False


def _capacity(
    catalog: Catalog,
    req: CostRequest,
    model_id: str,
    quant: str,
    hw_id: str,
    engine: str,
    gpus: int,
    factory: ForecastFactory,
    measured: float | None,
) -> Capacity:
    w = req.workload
    if measured is not None:
        return capacity_from_measured(measured, w, gpus, concurrency=req.measured_concurrency)
    at = factory(
        catalog.model(model_id),
        quant,
        catalog.device(hw_id),
        engine=engine,
        gpus=gpus,
        context_tokens=req.context_tokens,
        prompt_tokens=req.prompt_tokens,
        output_tokens=req.output_tokens,
    )
    return capacity_from_forecast(at, w, gpus)


def default_cloud_quant(catalog: Catalog, quant: str, engine: str) -> str:
    """The owned option's quantization when the cloud engine runs it, else AWQ (4-bit, what vLLM serves widely)."""
    q = catalog.quant(quant)
    if engine in q.engines or "AWQ" not in catalog.quants:
        return q.id
    return "AWQ"


def cloud_hardware_for(catalog: Catalog, req: CostRequest) -> Hardware:
    """The device to rent: as asked; else the owned device if rentable; else the cheapest rentable fit."""
    if req.cloud_hardware:
        return catalog.device(req.cloud_hardware)
    hw = catalog.device(req.hardware)
    if cloud_prices_for(catalog, hw.id) or req.cloud_usd_per_hour is not None:
        return hw
    model = catalog.model(req.cloud_model or req.model)
    quant = req.cloud_quant or default_cloud_quant(catalog, req.quant, req.cloud_engine)
    gpus = req.cloud_gpus or req.gpus
    for p in sorted(catalog.cloud_prices, key=lambda p: p.usd_per_gpu_hour):
        dev = catalog.hardware[p.hardware]
        if _serves(catalog, model.id, quant, req.cloud_engine, dev, gpus, req.context_tokens):
            return dev
    return hw


def _label(model_name: str, quant: str, gpus: int, hardware_name: str) -> str:
    """'Gemma 4 31B AWQ on 2 x NVIDIA A100 80GB' (no count for one device)."""
    return f"{model_name} {quant} on {f'{gpus} x ' if gpus > 1 else ''}{hardware_name}"


def plan_costs(catalog: Catalog, req: CostRequest, forecast_factory: ForecastFactory | None = None) -> CostPlan:
    """Resolve a request against the catalog: prices (typed or catalog, with sources), capacities, sizing."""
    factory = forecast_factory or default_forecast_factory
    w = req.workload
    model = catalog.model(req.model)
    hw = catalog.device(req.hardware)
    catalog.quant(req.quant)
    _check(req.gpus >= 1, "--gpus must be >= 1")
    quotes: dict[str, Quote] = {}
    missing: dict[str, str] = {}
    labels: dict[str, str] = {}
    sizing: dict[str, str] = {}

    # Owned.
    owned = owned_cap = None
    labels["owned"] = _label(model.name, req.quant, req.gpus, hw.name)
    if req.hardware_price_usd is not None:
        quotes["hardware_price_usd"] = Quote(req.hardware_price_usd, "typed in", None, hw.name)
    elif hw.price_usd is not None:
        quotes["hardware_price_usd"] = Quote(
            hw.price_usd, hw.field_sources.get("price_usd", hw.source), hw.as_of.isoformat(), hw.price_note or hw.name
        )
    else:
        quotes["hardware_price_usd"] = Quote(None, f"no price for {hw.id} in the catalog")
        missing["owned"] = f"no purchase price for {hw.id} in the catalog; pass --hardware-price-usd"
    if req.power_watts is not None:
        quotes["power_watts"] = Quote(req.power_watts, "typed in", None, hw.name)
    elif hw.tdp_watts is not None:
        quotes["power_watts"] = Quote(
            hw.tdp_watts, hw.field_sources.get("tdp_watts", hw.source), hw.as_of.isoformat(), f"{hw.name} TDP"
        )
    else:
        quotes["power_watts"] = Quote(None, f"no power figure for {hw.id} in the catalog")
        missing.setdefault("owned", f"no power figure for {hw.id} in the catalog; pass --power-watts")
    if "owned" not in missing:
        try:
            owned_cap = _capacity(
                catalog, req, model.id, req.quant, hw.id, req.engine, req.gpus, factory, req.tokens_per_s
            )
        except ValueError as e:  # no forecast for this case (does not fit, unknown class, ...)
            missing["owned"] = f"no throughput for {model.id} on {hw.id}: {e}; pass --tokens-per-s"
    if "owned" not in missing:
        owned = OwnedHardware(
            price_usd=quotes["hardware_price_usd"].value,
            busy_watts=quotes["power_watts"].value,
            idle_watts=req.idle_watts,
            amortization_months=req.amortization_months,
            electricity_usd_per_kwh=req.electricity_usd_per_kwh,
            pue=req.pue,
            cost_of_capital=req.cost_of_capital,
            fixed_usd_per_month=req.fixed_usd_per_month,
            label=labels["owned"],
        )

    # Cloud.
    cloud = cloud_cap = None
    c_model = catalog.model(req.cloud_model or req.model)
    c_quant = req.cloud_quant or default_cloud_quant(catalog, req.quant, req.cloud_engine)
    c_gpus = req.cloud_gpus or req.gpus
    c_hw = cloud_hardware_for(catalog, req)
    labels["cloud"] = _label(c_model.name, c_quant, c_gpus, c_hw.name)
    price = _pick(cloud_prices_for(catalog, c_hw.id), req.cloud_provider, f"cloud {c_hw.id}")
    if req.cloud_usd_per_hour is not None:
        quotes["cloud_usd_per_gpu_hour"] = Quote(req.cloud_usd_per_hour, "typed in", None, c_hw.name)
    elif price is not None:
        quotes["cloud_usd_per_gpu_hour"] = Quote(
            price.usd_per_gpu_hour,
            price.source,
            price.as_of.isoformat(),
            f"{price.provider}: {price.offering or c_hw.name}",
        )
    else:
        quotes["cloud_usd_per_gpu_hour"] = Quote(None, f"no cloud price for {c_hw.id} in the catalog")
        missing["cloud"] = f"no cloud price for {c_hw.id} in the catalog; pass --cloud-usd-per-hour"
    if "cloud" not in missing:
        try:
            cloud_cap = _capacity(
                catalog, req, c_model.id, c_quant, c_hw.id, req.cloud_engine, c_gpus, factory, req.cloud_tokens_per_s
            )
        except ValueError as e:
            missing["cloud"] = f"no throughput forecast for {c_model.id} on {c_hw.id}: {e}"
    if "cloud" not in missing:
        cloud = CloudGpu(quotes["cloud_usd_per_gpu_hour"].value, req.scale_to_zero, labels["cloud"])

    # Hosted API.
    api = None
    a_model = catalog.model(req.api_model or req.model)
    ap = _pick(api_prices_for(catalog, a_model.id, w), req.api_provider, f"API {a_model.id}")
    labels["api"] = (
        f"{a_model.name} via {ap.provider}"
        if ap and req.api_input_usd_per_mtok is None
        else f"{a_model.name} via a hosted API"
    )
    typed = (req.api_input_usd_per_mtok, req.api_output_usd_per_mtok)
    if (typed[0] is None) != (typed[1] is None):
        raise ValueError("give both --api-input-usd-per-mtok and --api-output-usd-per-mtok, or neither")
    if typed[0] is not None:
        quotes["api_usd_per_mtok_input"] = Quote(typed[0], "typed in")
        quotes["api_usd_per_mtok_output"] = Quote(typed[1], "typed in")
        cached = req.api_cached_input_usd_per_mtok
        quotes["api_usd_per_mtok_cached_input"] = Quote(cached, "typed in" if cached is not None else "none given")
    elif ap is not None:
        src, as_of = ap.source, ap.as_of.isoformat()
        quotes["api_usd_per_mtok_input"] = Quote(ap.usd_per_mtok_input, src, as_of, ap.provider)
        quotes["api_usd_per_mtok_output"] = Quote(ap.usd_per_mtok_output, src, as_of, ap.provider)
        cached = (
            req.api_cached_input_usd_per_mtok
            if req.api_cached_input_usd_per_mtok is not None
            else ap.usd_per_mtok_cached_input
        )
        quotes["api_usd_per_mtok_cached_input"] = Quote(
            cached, src if cached is not None else "none in the catalog", as_of, ap.provider
        )
    else:
        missing["api"] = (
            f"no hosted-API price for {a_model.id} in the catalog; pass --api-input-usd-per-mtok and "
            "--api-output-usd-per-mtok"
        )
    if "api" not in missing:
        api = HostedApi(
            quotes["api_usd_per_mtok_input"].value,
            quotes["api_usd_per_mtok_output"].value,
            quotes["api_usd_per_mtok_cached_input"].value,
            labels["api"],
        )

    inputs = CostInputs(w, owned, owned_cap, cloud, cloud_cap, api, missing)
    for name, cap, dev in (("owned", owned_cap, hw), ("cloud", cloud_cap, c_hw)):
        o = option_cost(inputs, name)
        if cap is not None and o is not None:
            sizing[name] = sizing_sentence(w, cap, dev.name, o.replicas)
    source = "measured" if req.tokens_per_s is not None else "forecast"
    return CostPlan(req, inputs, quotes, labels, sizing, source)
