"""A replica's capacity from the speed forecast or from a measurement."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from calculators.cost.inputs import Capacity, Workload
from calculators.cost.lines import _min_replicas
from calculators.serving.forecast import served_forecast, steady_requests
from calculators.speed import SpeedForecast
from model_specs.schema import Hardware, ModelSpec

ForecastAt = Callable[[int], SpeedForecast]  # throughput.forecast at a concurrency, everything else bound
ForecastFactory = Callable[..., ForecastAt]


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
        p95 = getattr(f, "ttft_s_p95", None)  # the simulated p95 under load; else the single figure
        ok = ok and (f.ttft_s if p95 is None else p95) <= w.p95_ttft_s
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
    cached_prefix_tokens: int = 0,
) -> ForecastAt:
    """forecast(concurrency) bound to everything else: the speed headline under load (calculators.serving), as the
    Speed page and the CLI give it, with the simulated p95 TTFT the latency target is checked against."""
    kw = dict(engine=engine, gpus=gpus, context_tokens=context_tokens, prompt_tokens=prompt_tokens,
              output_tokens=output_tokens, efficiency_override=efficiency_override)  # fmt: skip

    def at(concurrency: int) -> SpeedForecast:
        n = steady_requests(concurrency)
        return served_forecast(model, quant, hardware, concurrency=concurrency, requests=n,
                               cached_prefix_tokens=cached_prefix_tokens, **kw)  # fmt: skip

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
