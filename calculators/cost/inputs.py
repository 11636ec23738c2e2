"""Cost inputs: the workload, a replica's capacity, and the three options' prices (validated records)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

HOURS_PER_MONTH = 730.0  # 8760 / 12
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
DEFAULT_INPUT_SHARE = 5 / 6  # input share of all tokens with no workload given: the scenario's 100 M in, 20 M out
DEFAULT_IDLE_SHARE = 0.10  # idle draw as a share of busy draw when no idle figure is given


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


def prefix_cached_input_share(cached_prefix_tokens: int, prompt_tokens: int) -> float:
    """Share of input tokens an API bills at its cached price when every request repeats the same cached prefix
    (derived: assumes the provider's cache holds it for every request, as the engine's prefix cache does)."""
    return min(max(cached_prefix_tokens, 0), prompt_tokens) / prompt_tokens if prompt_tokens > 0 else 0.0


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
