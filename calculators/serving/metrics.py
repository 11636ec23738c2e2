"""Latency distributions, goodput under an SLO and the capacity search over simulated runs (vLLM bench definitions:
TTFT, ITL = gaps after the first token, TPOT = (e2e - ttft) / (tokens - 1), E2E; throughput over the whole run)."""

from __future__ import annotations

from dataclasses import replace

from calculators.serving.search import LevelOutcome, search_capacity, validate_search
from calculators.serving.simulator import EngineConfig, Load, SimResult, Slo, StepCost, simulate

SIMULATED_MAX_LEVELS = 64  # simulated levels are cheap: the search is never cut short by its level budget


def _quantile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated quantile of an ascending list (numpy's default)."""
    n = len(sorted_values)
    if n == 0:
        return float("nan")
    pos = q * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def _dist(values: list[float]) -> dict:
    """p50 / p95 / p99 / mean of a list of seconds."""
    v = sorted(values)
    mean = sum(v) / len(v) if v else float("nan")
    return {"p50": _quantile(v, 0.5), "p95": _quantile(v, 0.95), "p99": _quantile(v, 0.99), "mean": mean}


def _weighted_dist(values: list[float], weights: list[float]) -> dict:
    """p50 / p95 / p99 / mean of values carrying weights (the ITL of runs of equal steps)."""
    pairs = sorted(zip(values, weights, strict=True))
    total = sum(weights)
    if not total:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "mean": float("nan")}
    out = {"mean": sum(v * w for v, w in pairs) / total}
    for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99)):
        acc = 0.0
        for v, w in pairs:
            acc += w
            if acc >= q * total:
                out[name] = v
                break
    return out


def request_metrics(r: SimResult) -> tuple[list[float], list[float], list[float]]:
    """(ttft, tpot, e2e) of every served request, seconds."""
    ttft, tpot, e2e = [], [], []
    for i in r.served():
        t1 = r.first_token_s[i] - r.arrival_s[i]
        te = r.finish_s[i] - r.arrival_s[i]
        ttft.append(t1)
        e2e.append(te)
        o = r.output_tokens[i]
        tpot.append((te - t1) / (o - 1) if o > 1 else 0.0)
    return ttft, tpot, e2e


def meets(slo: Slo | None, ttft: float, tpot: float, e2e: float) -> bool:
    """Does one request meet every target of the SLO?"""
    if slo is None:
        return True
    return not (
        (slo.ttft_s is not None and ttft > slo.ttft_s)
        or (slo.tpot_s is not None and tpot > slo.tpot_s)
        or (slo.e2e_s is not None and e2e > slo.e2e_s)
    )


def summarize(r: SimResult, slo: Slo | None = None) -> dict:
    """The JSON-ready figures of one run: distributions, throughput, goodput."""
    ttft, tpot, e2e = request_metrics(r)
    served = r.served()
    start = min(r.arrival_s[i] for i in served) if served else 0.0
    end = max(r.finish_s[i] for i in served) if served else 0.0
    duration = max(end - start, 1e-12)
    out_tokens = sum(r.output_tokens[i] for i in served)
    ok = [meets(slo, a, b, c) for a, b, c in zip(ttft, tpot, e2e, strict=True)]
    total = len(r.arrival_s)
    good_tokens = sum(r.output_tokens[i] for i, k in zip(served, ok, strict=True) if k)
    return {
        "requests": total,
        "served": len(served),
        "rejected": r.rejected,
        "preemptions": r.preemptions,
        "duration_s": duration,
        "ttft_s": _dist(ttft),
        "tpot_s": _dist(tpot),
        "itl_s": _weighted_dist(r.itl_values_s, r.itl_weights),
        "e2e_s": _dist(e2e),
        "request_throughput_per_s": len(served) / duration,
        "output_tokens_per_s": out_tokens / duration,
        "goodput": {
            "attainment": sum(ok) / total,
            "requests_per_s": sum(ok) / duration,
            "output_tokens_per_s": good_tokens / duration,
        },
    }


def _level(step: StepCost, engine: EngineConfig, load: Load, search: str, value: float, slo: Slo) -> LevelOutcome:
    """Simulate one load level: what the capacity search needs to know of it."""
    lv = (
        replace(load, concurrency=int(value), rate_per_s=None)
        if search == "concurrency"
        else replace(load, concurrency=None, rate_per_s=float(value))
    )
    g = summarize(simulate(step, engine, lv), slo)["goodput"]
    return LevelOutcome(value, g["attainment"], g["requests_per_s"], g["output_tokens_per_s"])


def capacity(
    step: StepCost,
    engine: EngineConfig,
    load: Load,
    slo: Slo,
    attainment: float = 0.95,
    search: str = "concurrency",
    search_max: float = 1024,
) -> dict:
    """Largest concurrency (to the integer) or rate (to 5 %) whose simulated SLO attainment meets the target: the
    probe's search (calculators/serving/search.py) over simulated levels, so the same `capacity` object."""
    validate_search(search, search_max)
    if not 0 < attainment <= 1:
        raise ValueError("SLO attainment must be in (0, 1]")
    start = 1 if search == "concurrency" else _first_rate(step, engine, load)
    cap = search_capacity(lambda v: _level(step, engine, load, search, v, slo), search, search_max, attainment,
                          start=min(start, search_max), max_levels=SIMULATED_MAX_LEVELS)  # fmt: skip
    cap["slo"] = {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s, "e2e_s": slo.e2e_s, "attainment": attainment}
    return cap


def _first_rate(step: StepCost, engine: EngineConfig, load: Load) -> float:
    """A starting rate: a quarter of the rate one request at a time could sustain (at least 0.01/s)."""
    single = simulate(step, engine, replace(load, requests=1, concurrency=1, rate_per_s=None))
    e2e = single.finish_s[0] - single.arrival_s[0]
    return max(0.01, 0.25 / max(e2e, 1e-9))
