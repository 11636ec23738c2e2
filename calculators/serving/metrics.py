"""Latency distributions, goodput under an SLO and the capacity search over simulated runs (vLLM bench definitions:
TTFT, ITL = gaps after the first token, TPOT = (e2e - ttft) / (tokens - 1), E2E; throughput over the whole run)."""

from __future__ import annotations

from dataclasses import replace

from calculators.serving.simulator import EngineConfig, Load, SimResult, Slo, StepCost, simulate


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


def _level(step: StepCost, engine: EngineConfig, load: Load, search: str, value: float, slo: Slo) -> dict:
    """Simulate one load level and return the probe's per-level capacity record."""
    lv = (
        replace(load, concurrency=int(value), rate_per_s=None)
        if search == "concurrency"
        else replace(load, concurrency=None, rate_per_s=float(value))
    )
    s = summarize(simulate(step, engine, lv), slo)
    g = s["goodput"]
    return {
        "value": value,
        "attainment": g["attainment"],
        "goodput_requests_per_s": g["requests_per_s"],
        "goodput_output_tokens_per_s": g["output_tokens_per_s"],
    }


def capacity(
    step: StepCost,
    engine: EngineConfig,
    load: Load,
    slo: Slo,
    attainment: float = 0.95,
    search: str = "concurrency",
    search_max: float = 1024,
) -> dict:
    """Largest concurrency (to the integer) or rate (to 5 %) whose SLO attainment meets the target: bracket by
    doubling, then bisect; the same `capacity` object as the probe's."""
    if search not in ("concurrency", "rate"):
        raise ValueError("search is 'concurrency' or 'rate'")
    if not 0 < attainment <= 1:
        raise ValueError("SLO attainment must be in (0, 1]")
    levels: dict[float, dict] = {}

    def ok(v: float) -> bool:
        if v not in levels:
            levels[v] = _level(step, engine, load, search, v, slo)
        return levels[v]["attainment"] >= attainment

    lo, hi = None, None
    v = 1.0 if search == "concurrency" else _first_rate(step, engine, load)
    while v <= search_max:
        if ok(v):
            lo = v
            v *= 2
        else:
            hi = v
            break
    if lo is None and hi is not None and search == "rate":  # even the first rate fails: bracket downwards
        lo, hi = _down(ok, hi)
    if lo is not None and hi is not None:
        while (hi - lo > 1) if search == "concurrency" else (hi / lo > 1.05):
            mid = (lo + hi) // 2 if search == "concurrency" else (lo * hi) ** 0.5
            if ok(mid):
                lo = mid
            else:
                hi = mid
    best = levels.get(lo) if lo is not None else None
    fail = levels.get(hi) if hi is not None else None
    return {
        "search": search,
        "value": (int(lo) if search == "concurrency" else lo) if lo is not None else None,
        "at_least": lo is not None and hi is None,
        "target_attainment": attainment,
        "attainment": best["attainment"] if best else None,
        "goodput_requests_per_s": best["goodput_requests_per_s"] if best else None,
        "goodput_output_tokens_per_s": best["goodput_output_tokens_per_s"] if best else None,
        "first_failing_value": (int(hi) if search == "concurrency" else hi) if hi is not None else None,
        "first_failing_attainment": fail["attainment"] if fail else None,
        "levels_measured": len(levels),
        "note": _note(search, lo, hi, levels),
        "slo": {"ttft_s": slo.ttft_s, "tpot_s": slo.tpot_s, "e2e_s": slo.e2e_s, "attainment": attainment},
        "levels": [
            {"step": i + 1, **lv, "cut_short": False, "passed": lv["attainment"] >= attainment, "reused": False}
            for i, lv in enumerate(levels.values())
        ],
    }


def _note(search: str, lo: float | None, hi: float | None, levels: dict) -> str | None:
    """The probe's note on an open-ended search (None when the bounds are tight)."""
    if lo is None:
        return f"even the smallest load tried ({search} {min(levels, default=None)}) missed the SLO attainment target"
    if hi is None:
        return f"at least {lo:g}: the search maximum passed; raise --search-max to find the limit"
    return None


def _first_rate(step: StepCost, engine: EngineConfig, load: Load) -> float:
    """A starting rate: a quarter of the rate one request at a time could sustain (at least 0.01/s)."""
    single = simulate(step, engine, replace(load, requests=1, concurrency=1, rate_per_s=None))
    e2e = single.finish_s[0] - single.arrival_s[0]
    return max(0.01, 0.25 / max(e2e, 1e-9))


def _down(ok, hi: float) -> tuple[float | None, float]:
    """Halve the rate until a level passes (at most 10 halvings)."""
    v = hi
    for _ in range(10):
        v /= 2
        if ok(v):
            return v, v * 2
    return None, v
