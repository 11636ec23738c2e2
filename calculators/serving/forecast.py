"""The serving fields the speed CLI adds (issue 13, items 6-7): aggregate decode of C sequences, TTFT / ITL
distributions under a closed loop of C users from the scheduler simulator, and capacity at an SLO."""

from __future__ import annotations

from calculators.serving import adapter
from calculators.serving.batched import build_step, decode_aggregate_tokens_per_s, engine_config
from calculators.serving.metrics import capacity, summarize
from calculators.serving.simulator import Load, Slo, simulate

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


def serving_fields(
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
    goodput: Slo | None = None,
    slo_attainment: float = 0.95,
    search: str | None = None,
    search_max: float = 1024,
    requests: int = 1000,
) -> dict:
    """JSON-ready fields: decode_aggregate_tokens_per_s, ttft_s_p50/p95, itl_s, e2e_s_p95, simulated aggregate
    throughput and, with an SLO and a search, the probe's `capacity` object (ValueError on bad input)."""
    if search is not None and goodput is None:
        raise ValueError("--search needs --goodput targets")
    if not 0 < slo_attainment <= 1:
        raise ValueError("--slo-attainment must be in (0, 1]")
    m = adapter.resolve_model(model)
    step = build_step(m, quant, hardware, engine, gpus, kv_dtype)
    notes: list[str] = []
    parallel = concurrency if engine == "llama.cpp" else (1 if engine == "ollama" else None)
    try:
        cfg = engine_config(engine, m, quant, hardware, gpus, kv_dtype, parallel, context_tokens)
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
    )
    s = summarize(simulate(step, cfg, load), goodput)
    depth = prompt_tokens + output_tokens // 2
    out = {
        "decode_aggregate_tokens_per_s": decode_aggregate_tokens_per_s(step, concurrency, depth),
        "simulated_output_tokens_per_s": s["output_tokens_per_s"],
        "ttft_s_p50": s["ttft_s"]["p50"],
        "ttft_s_p95": s["ttft_s"]["p95"],
        "itl_s": s["itl_s"]["p50"],
        "itl_s_p95": s["itl_s"]["p95"],
        "e2e_s_p95": s["e2e_s"]["p95"],
        "preemptions": s["preemptions"],
        "serving_notes": notes,
    }
    if goodput is not None:
        out["goodput"] = s["goodput"]
    if search is not None:
        out["capacity"] = capacity(step, cfg, load, goodput, slo_attainment, search, search_max)
    return out
