"""Fit the serving engines' step parameters (calculators/serving/batched.py SERVING) on published serving runs, and
print the held-out error: leave one hardware generation out, then leave one engine family out.

    python bench/fit_serving.py            # cross-validated table, then the fit on every row (paste into batched.py)

Rows: calculators/serving_measurements.yaml (vLLM, SGLang, NIM closed loops and rates: aggregate output tokens/s,
TTFT, ITL) and the TensorRT-LLM max-throughput rows of calculators/measurements.yaml. Each prediction is a run of the
scheduler simulator over the batched step, as the CLI's headline is. Loss: mean |log(forecast / measured)| per
quantity, the three quantities weighted equally. Search: coordinate descent in log space (golden section per
parameter, three sweeps), bounded to physical ranges.
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import dataclass, fields, replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bench_serving as bs  # noqa: E402

from calculators.serving.batched import SERVING, ServingParams, build_step  # noqa: E402
from calculators.serving.metrics import summarize  # noqa: E402
from calculators.serving.simulator import Load, simulate  # noqa: E402

BOUNDS = {  # physical ranges of each parameter
    "bandwidth_efficiency": (0.5, 1.0),
    "compute_efficiency": (0.2, 1.0),
    "prefill_efficiency": (0.2, 1.0),
    "step_overhead_s": (1e-4, 1e-2),
    "layer_overhead_s": (1e-7, 2e-4),
    "moe_layer_factor": (1.0, 10.0),
    "request_overhead_s": (1e-4, 5e-2),
}
if len(sys.argv) > 1:  # fit only the named parameters
    BOUNDS = {k: v for k, v in BOUNDS.items() if k in sys.argv[1:]}
FIT_REQUESTS = 300  # requests per simulated level while fitting (the bench uses the runs' own counts)


@dataclass(frozen=True)
class Case:
    """One published figure and how to simulate it."""

    quantity: str  # "aggregate" | "ttft" | "itl"
    stat: str  # "p50" | "mean" (aggregate: unused)
    measured: float
    engine: str
    gen: str
    source: str
    build: tuple  # build_step arguments
    src: dict  # the source block (engine knobs)
    load: Load


def cases() -> list[Case]:
    """Every serving figure with a measured value (ShareGPT-free sources only, as in the bench)."""
    data = yaml.safe_load((ROOT / "calculators/serving_measurements.yaml").read_text(encoding="utf-8"))
    meas = yaml.safe_load((ROOT / "calculators/measurements.yaml").read_text(encoding="utf-8"))
    out: list[Case] = []
    for src in data["sources"]:
        m, quant = bs.model(src["model"]), src["quant"]
        kv = src.get("kv_dtype", "fp8" if quant == "FP8" else "f16")
        rate = src.get("load") == "rate"
        lengths = dict(prompt_tokens=src["prompt_tokens"], output_tokens=src["output_tokens"],
                       prompt_sd=src.get("prompt_sd", 0), output_sd=src.get("output_sd", 0))  # fmt: skip
        for level, tput, ttft_ms, itl_ms, *n in src["rows"]:
            req = min((n or [src.get("num_prompts")])[0] or FIT_REQUESTS, FIT_REQUESTS)
            load = (
                Load(rate_per_s=level, requests=req, **lengths)
                if rate
                else Load(concurrency=level, requests=max(req, level), **lengths)
            )
            base = dict(engine=src["engine"], gen=bs.generation(src["hardware"]), source=src["id"],
                        build=(m, quant, src["hardware"], "vllm", src["gpus"], kv), src=src, load=load)  # fmt: skip
            out.append(Case("aggregate", "mean", tput, **base))
            if ttft_ms is not None:
                out.append(Case("ttft", "mean" if src["ttft_stat"] == "mean" else "p50", ttft_ms / 1e3, **base))
            if itl_ms is not None:
                out.append(Case("itl", "mean" if src["itl_stat"] == "mean" else "p50", itl_ms / 1e3, **base))
    trt = {"engine": "tensorrt-llm", "gpu_memory_utilization": 0.95, "gpus": 1}
    for hw_key, mkey, tp, isl, osl, tput in meas["serving"]["rows"]:
        hw, m = bs.TRT_HARDWARE[hw_key], bs.model(bs.MODEL_OF[mkey])
        load = Load(concurrency=FIT_REQUESTS, requests=FIT_REQUESTS, prompt_tokens=isl, output_tokens=osl)
        out.append(Case("aggregate", "mean", tput, "tensorrt-llm", bs.generation(hw), "trtllm-perf-overview",
                        (m, "FP8", hw, "vllm", tp, "fp8"), {**trt, "hardware": hw, "gpus": tp}, load))  # fmt: skip
    return out


def predict(c: Case, p: ServingParams) -> float:
    """The simulated figure of one case under parameters `p`."""
    step = build_step(*c.build, serving=p)
    m, quant, hw, _, gpus, kv = c.build
    cfg = replace(bs._engine(c.src, m, quant, kv), request_overhead_s=p.request_overhead_s)
    s = summarize(simulate(step, cfg, c.load))
    if c.quantity == "aggregate":
        return s["output_tokens_per_s"]
    return s["ttft_s" if c.quantity == "ttft" else "itl_s"][c.stat]


def loss(cs: list[Case], p: ServingParams) -> float:
    """Mean over quantities of the mean |log(forecast / measured)|; TTFT only where one user waits for nobody (the
    queueing of TTFT under load is the simulator's structure, not a parameter to tune)."""
    per: dict[str, list[float]] = {}
    for c in cs:
        if c.quantity == "ttft" and (c.load.concurrency or 0) != 1:
            continue
        per.setdefault(c.quantity, []).append(abs(math.log(max(predict(c, p), 1e-9) / c.measured)))
    return statistics.mean(statistics.mean(v) for v in per.values())


def fit(cs: list[Case], start: ServingParams = SERVING, sweeps: int = 3) -> ServingParams:
    """Coordinate descent: golden-section search of each parameter in log space within its bounds."""
    p = start
    for _ in range(sweeps):
        for name, (lo, hi) in BOUNDS.items():
            a, b = math.log(lo), math.log(hi)
            f = lambda x, p=p, name=name: loss(cs, replace(p, **{name: math.exp(x)}))  # noqa: E731
            g = (math.sqrt(5) - 1) / 2
            x1, x2 = b - g * (b - a), a + g * (b - a)
            f1, f2 = f(x1), f(x2)
            for _ in range(10):
                if f1 < f2:
                    b, x2, f2 = x2, x1, f1
                    x1 = b - g * (b - a)
                    f1 = f(x1)
                else:
                    a, x1, f1 = x1, x2, f2
                    x2 = a + g * (b - a)
                    f2 = f(x2)
            cur = math.log(min(max(getattr(p, name), lo), hi))
            best = min((f1, x1), (f2, x2), (f(cur), cur))
            p = replace(p, **{name: math.exp(best[1])})
    return p


def _errors(cs: list[Case], p: ServingParams) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for c in cs:
        out.setdefault(c.quantity, []).append(predict(c, p) / c.measured - 1)
    return out


def main() -> None:
    cs = cases()
    print(f"{len(cs)} figures; loss with today's parameters {loss(cs, SERVING):.3f}")
    for key in ("gen", "engine"):
        held: dict[str, list[float]] = {}
        for v in sorted({getattr(c, key) for c in cs}):
            train = [c for c in cs if getattr(c, key) != v]
            test = [c for c in cs if getattr(c, key) == v]
            p = fit(train, sweeps=2)
            for q, e in _errors(test, p).items():
                held.setdefault(q, []).extend(e)
            print(f"  held out {key}={v}: {len(test)} figures, fitted on {len(train)}", flush=True)
        for q, e in held.items():
            print(f"leave one {key} out  {q:10} n={len(e):3}  {bs._stats(e)}")
    p = fit(cs)
    print("SERVING = ServingParams(")
    for f in fields(p):
        print(f"    {f.name}={getattr(p, f.name):.4g},")
    print(")")
    for q, e in _errors(cs, p).items():
        print(f"in sample  {q:10} n={len(e):3}  {bs._stats(e)}")


if __name__ == "__main__":
    main()
