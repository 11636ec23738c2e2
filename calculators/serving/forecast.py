"""The serving fields the speed CLI adds (issue 13, items 6-7): aggregate decode of C sequences, TTFT / ITL
distributions under a closed loop of C users from the scheduler simulator, and capacity at an SLO."""

from __future__ import annotations

from dataclasses import dataclass, replace

from calculators.engines import engine as engine_record
from calculators.serving import adapter
from calculators.serving.batched import (
    BatchedStep,
    build_step,
    decode_aggregate_tokens_per_s,
    engine_config,
    prefill_s,
)
from calculators.serving.metrics import capacity, summarize
from calculators.serving.simulator import EngineConfig, Load, Slo, simulate

GOODPUT_KEYS = {"ttft": "ttft_s", "tpot": "tpot_s", "e2e": "e2e_s"}


def parse_goodput(specs: list[str] | str) -> Slo:
    """`ttft:MS tpot:MS e2e:MS` (any subset, as vLLM bench --goodput) -> Slo in seconds (ValueError when bad)."""
    items = specs.split() if isinstance(specs, str) else [p for s in specs for p in s.split()]
    if not items:
        raise ValueError("--goodput needs at least one of ttft:MS tpot:MS e2e:MS")
    out: dict[str, float] = {}
    for item in items:
        key, _, val = item.partition(":")
        if key not in GOODPUT_KEYS:
            raise ValueError(f"unknown goodput target '{item}' (ttft:MS, tpot:MS, e2e:MS)")
        try:
            ms = float(val)
        except ValueError:
            raise ValueError(f"goodput target '{item}' needs a number of milliseconds") from None
        if not ms > 0:
            raise ValueError(f"goodput target '{item}' must be positive")
        out[GOODPUT_KEYS[key]] = ms / 1e3
    return Slo(**out)


HEADLINE_REQUESTS = 1000  # simulated requests behind a headline (CLI, pages, cost plans); at least one per user


@dataclass(frozen=True)
class ServingSetup:
    """One scenario bound to the simulator: step model, engine scheduler, closed-loop load, and notes."""

    step: BatchedStep
    engine: EngineConfig
    load: Load
    notes: tuple[str, ...]


def serving_setup(
    model,
    quant: str,
    hardware,
    engine: str = "llama.cpp",
    context_tokens: int = 8192,
    prompt_tokens: int = 512,
    output_tokens: int = 256,
    concurrency: int = 1,
    gpus: int = 1,
    kv_dtype: str = "f16",
    requests: int = HEADLINE_REQUESTS,
    weights_override=None,
    efficiency_override: float | None = None,
    threads: int | None = None,
    cached_prefix_tokens: int = 0,
) -> ServingSetup:
    """The batched step model and the engine's scheduler for a closed loop of `concurrency` users (ValueError);
    `weights_override`: an actual file's exact weights (calculators/gguf_file.py) instead of the recipe's;
    `efficiency_override`: a measured bandwidth efficiency; `threads`: llama.cpp -t on a CPU;
    `cached_prefix_tokens`: leading prompt tokens every request finds in the engine's prefix cache."""
    m, wo = adapter.resolve_model(model), weights_override
    eff = efficiency_override
    step = build_step(m, quant, hardware, engine, gpus, kv_dtype, weights_override=wo, efficiency_override=eff,
                      threads=threads)  # fmt: skip
    notes: list[str] = []
    # llama.cpp is started with -np = the users simulated; Ollama keeps its default OLLAMA_NUM_PARALLEL.
    rec = engine_record(engine)
    parallel = (
        None if rec.serving_scheduler else (concurrency if engine == "llama.cpp" else rec.scheduler.parallel_slots)
    )
    try:
        cfg = engine_config(engine, m, quant, hardware, gpus, kv_dtype, parallel, context_tokens, weights_override=wo)
    except ValueError as e:  # weights alone overflow the device: simulate without a KV limit, say so
        cfg = engine_config(engine, None, quant, hardware, gpus, kv_dtype, parallel, None)
        notes.append(f"{e}: the simulation assumes unlimited KV cache")
    if engine == "ollama":
        notes.append("Ollama: OLLAMA_NUM_PARALLEL=1 (its default), requests beyond it queue")
    load = Load(
        concurrency=concurrency,
        requests=max(requests, concurrency),
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        cached_prefix_tokens=cached_prefix_tokens,
    )
    return ServingSetup(step, cfg, load, tuple(notes))


def serving_fields(
    *scenario,
    goodput: Slo | None = None,
    slo_attainment: float = 0.95,
    search: str | None = None,
    search_max: float = 1024,
    **scenario_kw,
) -> dict:
    """`fields_of` the scenario `serving_setup(*scenario, **scenario_kw)` describes (ValueError on bad input)."""
    return fields_of(serving_setup(*scenario, **scenario_kw), goodput, slo_attainment, search, search_max)


def fields_of(
    su: ServingSetup,
    goodput: Slo | None = None,
    slo_attainment: float = 0.95,
    search: str | None = None,
    search_max: float = 1024,
) -> dict:
    """JSON-ready fields: decode_aggregate_tokens_per_s, the batched model's decode and prefill rates,
    ttft_s_p50/p95/mean, itl_s, e2e_s_p50/p95, simulated aggregate throughput and, with an SLO and a search, the
    probe's `capacity` object (ValueError on bad input)."""
    if search is not None and goodput is None:
        raise ValueError("--search needs --goodput targets")
    if not 0 < slo_attainment <= 1:
        raise ValueError("--slo-attainment must be in (0, 1]")
    prompt_tokens, concurrency = su.load.prompt_tokens, su.load.concurrency
    s = summarize(simulate(su.step, su.engine, su.load), goodput)
    depth = adapter.mean_depth_tokens(prompt_tokens, su.load.output_tokens)
    out = {
        "decode_aggregate_tokens_per_s": decode_aggregate_tokens_per_s(su.step, concurrency, depth),
        "single_stream_decode_tokens_per_s": decode_aggregate_tokens_per_s(su.step, 1, depth),
        "prefill_tokens_per_s": prompt_tokens / prefill_s(su.step, prompt_tokens) if prompt_tokens else 0.0,
        "simulated_output_tokens_per_s": s["output_tokens_per_s"],
        "ttft_s_p50": s["ttft_s"]["p50"],
        "ttft_s_p95": s["ttft_s"]["p95"],
        "ttft_s_mean": s["ttft_s"]["mean"],
        "itl_s": s["itl_s"]["p50"],
        "itl_s_p95": s["itl_s"]["p95"],
        "e2e_s_p50": s["e2e_s"]["p50"],
        "e2e_s_p95": s["e2e_s"]["p95"],
        "preemptions": s["preemptions"],
        "serving_notes": list(su.notes),
    }
    if goodput is not None:
        out["goodput"] = s["goodput"]
    if search is not None:
        out["capacity"] = capacity(su.step, su.engine, su.load, goodput, slo_attainment, search, search_max)
    return out


def steady_requests(users: int) -> int:
    """Requests for a quick closed-loop run with a steady p95: 4 per user, at least 200 (sizing and curves)."""
    return max(200, 4 * users)


def simulated_points(su: ServingSetup, points: list) -> list:
    """The concurrency curve's points (calculators.speed ConcurrencyPoint) with aggregate and per-user throughput,
    median TTFT and end-to-end time of a simulated closed loop at each level (step time and bound kept)."""
    out, eng = [], su.engine
    for p in points:
        c = p.concurrency
        load = replace(su.load, concurrency=c, requests=steady_requests(c))
        if eng.kind == "llama.cpp":  # llama-server started with -np = the users at each level, as the scenario is
            kv = None if eng.kv_tokens is None else eng.kv_tokens // eng.max_seqs * c
            eng = replace(eng, max_seqs=c, kv_tokens=kv)
        s = summarize(simulate(su.step, eng, load))
        agg = s["output_tokens_per_s"]
        ttft, e2e = s["ttft_s"]["p50"], s["e2e_s"]["p50"]
        out.append(replace(p, aggregate_tokens_per_s=agg, per_user_tokens_per_s=agg / p.concurrency, ttft_s=ttft,
                           e2e_s=e2e))  # fmt: skip
    return out


def batched_depth(
    su: ServingSetup, rows: list[tuple[int, float, float, float]]
) -> list[tuple[int, float, float, float]]:
    """The decode-vs-depth rows (depth, tokens/s, low, high) of one stream from the batched step the headline uses,
    each range keeping its relative spread."""
    out = []
    for d, v, lo, hi in rows:
        r = decode_aggregate_tokens_per_s(su.step, 1, d)
        out.append((d, r, lo * r / v, hi * r / v))
    return out


def latency_curve(su: ServingSetup, concurrencies: list[int], slo: Slo | None = None) -> list[dict]:
    """Closed-loop latency per number of users: p50/p95 TTFT, median and p95 ITL, output tokens/s, attainment."""
    rows = []
    for c in sorted(set(concurrencies)):
        load = replace(su.load, concurrency=c, requests=max(su.load.requests, 2 * c))
        s = summarize(simulate(su.step, su.engine, load), slo)
        rows.append(
            {
                "concurrency": c,
                "ttft_s_p50": s["ttft_s"]["p50"],
                "ttft_s_p95": s["ttft_s"]["p95"],
                "itl_s": s["itl_s"]["p50"],
                "itl_s_p95": s["itl_s"]["p95"],
                "output_tokens_per_s": s["output_tokens_per_s"],
                "attainment": s["goodput"]["attainment"],
            }
        )
    return rows


def under_load(f: adapter.SpeedForecast, served: dict) -> adapter.SpeedForecast:
    """The forecast with its headline figures from the serving model (one answer for CLI, pages and report): decode
    and prefill rates from the batched step; TTFT and end-to-end medians, TTFT p95 and the output throughput of the
    simulated closed loop of the forecast's users. Each range keeps the forecast's relative spread, so it still
    contains its point. A model spilling to host memory keeps the closed form (the batched step has no host-offload
    term)."""
    if f.host_fraction > 0:
        return f
    c, cold = f.concurrency, f.cold_start_s
    dec, pf = served["decode_aggregate_tokens_per_s"] / c, served["prefill_tokens_per_s"]
    d, k = dec / f.decode_tokens_per_s, (pf / f.prefill_tokens_per_s if pf > 0 and f.prefill_tokens_per_s else 1.0)
    ttft, e2e = served["ttft_s_p50"] + cold, served["e2e_s_p50"] + cold
    agg, p95 = served["simulated_output_tokens_per_s"], served["ttft_s_p95"] + cold
    t, e, a = (ttft - cold) / (f.ttft_s - cold), (e2e - cold) / (f.e2e_s - cold), agg / f.aggregate_tokens_per_s
    return replace(
        f,
        decode_tokens_per_s=dec,
        decode_tokens_per_s_low=f.decode_tokens_per_s_low * d,
        decode_tokens_per_s_high=f.decode_tokens_per_s_high * d,
        single_stream_decode_tokens_per_s=served["single_stream_decode_tokens_per_s"],
        prefill_tokens_per_s=f.prefill_tokens_per_s * k,
        prefill_tokens_per_s_low=f.prefill_tokens_per_s_low * k,
        prefill_tokens_per_s_high=f.prefill_tokens_per_s_high * k,
        ttft_s=ttft,
        ttft_s_low=(f.ttft_s_low - cold) * t + cold,
        ttft_s_high=(f.ttft_s_high - cold) * t + cold,
        e2e_s=e2e,
        e2e_s_low=(f.e2e_s_low - cold) * e + cold,
        e2e_s_high=(f.e2e_s_high - cold) * e + cold,
        aggregate_tokens_per_s=agg,
        aggregate_tokens_per_s_low=f.aggregate_tokens_per_s_low * a,
        aggregate_tokens_per_s_high=f.aggregate_tokens_per_s_high * a,
        per_user_tokens_per_s=agg / c,
        ttft_s_p95=p95,
        notes=(*f.notes, UNDER_LOAD_NOTE) if c > 1 else f.notes,
    )


def serving_keywords(f: adapter.SpeedForecast, forecast_kw: dict) -> dict:
    """`serving_setup`'s keywords for the scenario that `forecast(..., **forecast_kw)` resolved into `f`: the same
    settings at the forecast's context, prompt and output lengths and users."""
    kw = {k: v for k, v in forecast_kw.items() if k != "cold_start"}
    kw.update(context_tokens=f.context_tokens, prompt_tokens=f.prompt_tokens, output_tokens=f.output_tokens)
    return {**kw, "concurrency": f.concurrency}


def served_forecast(
    model, quant: str, hardware, *, requests: int = HEADLINE_REQUESTS, cached_prefix_tokens: int = 0, **forecast_kw
) -> adapter.SpeedForecast:
    """The speed headline every page and the cost plans give for a scenario (`forecast`'s keywords), as the CLI does:
    `under_load` of the closed form from `requests` simulated requests; the closed form alone where the scenario
    cannot be simulated (no room for one request's KV)."""
    f = adapter.forecast(model, quant, hardware, **forecast_kw)
    kw = serving_keywords(f, forecast_kw)
    try:
        served = serving_fields(model, quant, hardware, requests=requests, cached_prefix_tokens=cached_prefix_tokens,
                                **kw)  # fmt: skip
    except ValueError:
        return f
    return under_load(f, served)


def implied_efficiency(
    model,
    quant: str,
    hardware,
    measured_decode_tokens_per_s: float,
    *,
    depth_tokens: int = 0,
    **step_kw,
) -> float:
    """The bandwidth efficiency at which the headline's batched step (`build_step`'s keywords) decodes one stream at
    `depth_tokens` at the measured speed; feed it back as `efficiency_override` (ValueError when none can)."""
    if not measured_decode_tokens_per_s > 0:
        raise ValueError("measured decode speed must be positive")
    m = adapter.resolve_model(model)

    def rate(eff: float) -> float:
        step = build_step(m, quant, hardware, efficiency_override=eff, **step_kw)
        return decode_aggregate_tokens_per_s(step, 1, depth_tokens)

    lo, hi = 1e-4, adapter.MAX_EFFICIENCY_OVERRIDE
    top = rate(hi)
    if top < measured_decode_tokens_per_s:
        raise ValueError(
            f"measured {measured_decode_tokens_per_s:,.1f} tokens/s is faster than this model allows on this device "
            f"even at {hi:.0%} of its peak bandwidth ({top:,.1f}: its arithmetic and fixed costs remain): check "
            "model, quant and device"
        )
    if rate(lo) > measured_decode_tokens_per_s:
        raise ValueError("measured speed is too slow to be this model on this device: check model, quant and device")
    for _ in range(40):  # the rate grows with the efficiency: bisect its logarithm to 1e-5 relative
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if rate(mid) < measured_decode_tokens_per_s else (lo, mid)
    return (lo * hi) ** 0.5


UNDER_LOAD_NOTE = (
    "TTFT, end-to-end time and throughput under load: medians of the scheduler simulation of a closed loop of "
    "these users (calculators/serving)"
)
