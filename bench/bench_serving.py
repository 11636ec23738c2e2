"""Held-out residuals of serving forecasts: today's speed forecast vs the scheduler simulator + batched step model.

    python bench/bench_serving.py              # table per quantity (grouped by engine and hardware generation)
    python bench/bench_serving.py --fit-tp     # fit TP_EFFICIENCY (calculators/serving/batched.py) on TP2 rows
    python bench/bench_serving.py --fit-roofline  # fit SERVER_ROOFLINE_NORM on the single-GPU TensorRT-LLM rows
    python bench/bench_serving.py --fit-prefill  # fit the batched model's llama.cpp prefill parameters
    python bench/bench_serving.py --fit-vllm   # vLLM's bandwidth factor; --fit-frontend: its API server's time
    python bench/bench_serving.py --ablate     # the runs' prefix-cache state and the front-end time, on and off

Data: calculators/serving_measurements.yaml (serving runs under load, never fitted), calculators/measurements.yaml
(`batched`: llama-batched-bench S_TG; `serving`: TensorRT-LLM max throughput; `prefill` and `points`: llama-bench;
their `holdout_hardware` patterns mark the rows no fit has seen), calculators/prefill_measurements.yaml (more
llama-bench ppN rows, run settings such as n_ubatch, and the build date before which quantised prefill on NVIDIA ran
dequantise + cuBLAS). Residual = forecast / measured - 1.
(a) today = calculators.speed.forecast (what `python -m calculators speed ... --concurrency C --prompt-tokens P
--output-tokens O --context P+O` prints); (b) new = calculators.serving (simulate() over build_step()).
"""

from __future__ import annotations

import argparse
import fnmatch
import math
import statistics
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from calculators.engines import VLLM_BANDWIDTH_FACTOR  # noqa: E402
from calculators.serving import adapter  # noqa: E402
from calculators.serving.batched import (  # noqa: E402
    build_step,
    decode_aggregate_tokens_per_s,
    decode_step_s,
    engine_config,
    prefill_kernel_of,
    prefill_s,
)
from calculators.serving.metrics import summarize  # noqa: E402
from calculators.serving.simulator import Load, simulate  # noqa: E402
from calculators.speed.calibration import SERVER  # noqa: E402
from model_specs import load_catalog  # noqa: E402
from model_specs.hf_import import model_from_hf_json  # noqa: E402

CONFIGS = {
    "llama-3.1-8b": ROOT / "bench/serving_configs/llama-3.1-8b.json",
    "llama-3.3-70b": ROOT / "bench/serving_configs/llama-3.3-70b.json",
    "qwen2.5-0.5b": ROOT / "bench/serving_configs/qwen2.5-0.5b.json",
    "mistral-7b-v0.3": ROOT / "bench/serving_configs/mistral-7b-v0.3.json",
    "qwen3-8b": ROOT / "bench/serving_configs/qwen3-8b.json",
    "qwen3-4b": ROOT / "bench/serving_configs/qwen3-4b.json",
    "llama-2-7b": ROOT / "bench/serving_configs/llama-2-7b.json",
    "llama-3-8b": ROOT / "tests/fixtures/hf_configs/llama-3-8b.json",
    "qwen2.5-7b": ROOT / "tests/fixtures/hf_configs/qwen2.5-7b.json",
    "gemma-3-4b": ROOT / "tests/fixtures/hf_configs/gemma-3-4b-it.json",
    "gpt-oss-20b": ROOT / "tests/fixtures/hf_configs/gpt-oss-20b.json",
    "qwen3-30b-a3b": ROOT / "tests/fixtures/hf_configs/qwen3-30b-a3b.json",
}
# measurements.yaml model keys -> the configs above (same architecture)
MODEL_OF = {
    "llama2-7b": "llama-2-7b",
    "llama3-8b": "llama-3-8b",
    "llama3-70b": "llama-3.3-70b",
    "qwen25-7b": "qwen2.5-7b",
    "gemma3-4b": "gemma-3-4b",
    "gpt-oss-20b": "gpt-oss-20b",
    "qwen3-30b-a3b": "qwen3-30b-a3b",
    "llama31-8b": "llama-3.1-8b",
    "llama33-70b": "llama-3.3-70b",
}
SWEEP = "prefill by ubatch (fitted)"  # prefill_measurements.yaml `ubatch_sweep`: fits the shape, never held out
TRT = "TensorRT-LLM max throughput (fitted)"  # calibrate the serving class, its roofline norm and TP efficiency
FITTED = (SWEEP, TRT)  # quantities whose every row a fit has seen: reported as such
VLLM_LIKE = ("vllm", "sglang")  # engines simulated with vLLM's scheduler and bandwidth factor
TRT_HARDWARE = {"h100-sxm": "h100-80gb-sxm", "h200-sxm": "h200"}
GENERATION = [
    ("a100*", "ampere"),
    ("a10*", "ampere"),
    ("rtx-30*", "ampere"),
    ("l4", "ada"),
    ("l40*", "ada"),
    ("rtx-40*", "ada"),
    ("h100*", "hopper"),
    ("h200*", "hopper"),
    ("dgx-spark", "blackwell"),
    ("rtx-50*", "blackwell"),
    ("rtx-pro-6000", "blackwell"),
    ("apple-m1*", "apple-m1/m2"),
    ("apple-m2*", "apple-m1/m2"),
    ("apple-m*", "apple-m3+"),
]
_MODELS: dict = {}


def model(name: str):
    """A ModelSpec from its HF config, else the packaged catalog (cached)."""
    if name not in _MODELS:
        cfg = CONFIGS.get(name)
        _MODELS[name] = model_from_hf_json(cfg.read_bytes(), model_id=name) if cfg else load_catalog().model(name)
    return _MODELS[name]


def device(hw: str):
    """A catalog hardware entry by id (the calculators take objects, not ids)."""
    return load_catalog().device(hw)


def generation(hw: str) -> str:
    """Hardware generation of a device id (the hold-out unit)."""
    return next((g for pat, g in GENERATION if fnmatch.fnmatch(hw, pat)), "other")


@dataclass
class Row:
    """One published figure and the two forecasts of it."""

    quantity: str
    engine: str
    hw: str
    source: str
    measured: float
    today: float | None = None
    new: float | None = None
    heldout: bool = True  # False: a fit (today's or the new one's) has seen this row
    key: tuple[str, str] | None = None  # (device class, kernel family) of llama-bench rows


def _engine(src: dict, m, quant: str, kv: str):
    """The row's scheduler: the engine's defaults with the source's published knobs (SGLang simulated as vLLM)."""
    eng = "vllm" if src["engine"] == "sglang" else src["engine"]
    util = src.get("gpu_memory_utilization", 0.9)
    cfg = engine_config(eng, m, quant, device(src["hardware"]), src["gpus"], kv, gpu_memory_utilization=util)
    if src.get("max_num_batched_tokens"):
        cfg = replace(cfg, token_budget=src["max_num_batched_tokens"])
    return cfg


def _bandwidth_efficiency(src: dict, factors: dict[str, float] | None) -> float:
    """The serving class's bandwidth efficiency for a source's engine: TensorRT-LLM's own (NIM), or times the vLLM
    factor (vLLM; SGLang simulated as vLLM), held out: the factor fitted without the source's rows."""
    base = SERVER.bandwidth_efficiency
    if src["engine"] not in VLLM_LIKE:
        return base
    return base * (factors or {}).get(src["id"], VLLM_BANDWIDTH_FACTOR)


def _serving_rows(
    data: dict, factors: dict[str, float] | None = None, frontends: dict[str, float] | None = None
) -> list[Row]:
    """Aggregate throughput, TTFT and ITL under a closed loop or a Poisson rate (serving_measurements.yaml): the
    run's own lengths, request count and prefix-cache state, through the same simulator the CLI's headline comes
    from; `factors` / `frontends`: per source, the vLLM bandwidth factor and front-end time fitted without it."""
    rows: list[Row] = []
    for src in (s for s in data["sources"] if not s.get("excluded")):
        m = model(src["model"])
        p, o, gpus, quant = src["prompt_tokens"], src["output_tokens"], src["gpus"], src["quant"]
        kv = src.get("kv_dtype", "fp8" if quant == "FP8" else "f16")
        eff = _bandwidth_efficiency(src, factors)
        step = build_step(m, quant, device(src["hardware"]), "vllm", gpus, kv, efficiency_override=eff)
        cfg = _engine(src, m, quant, kv)
        if src["engine"] in VLLM_LIKE and frontends and src["id"] in frontends:
            cfg = replace(cfg, frontend_s=frontends[src["id"]])
        rate = src.get("load") == "rate"
        lengths = dict(
            prompt_tokens=p, output_tokens=o, prompt_sd=src.get("prompt_sd", 0), output_sd=src.get("output_sd", 0)
        )
        for k, (level, tput, ttft_ms, itl_ms, *n) in enumerate(src["rows"]):
            n_req = (n or [src.get("num_prompts")])[0] or min(max(50 * level, 200), 5000)
            # the same prompts replayed on one server: every level after the first finds them in the prefix cache
            warm = p if src.get("prefix_cache") == "warm_after_first" and k > 0 else 0
            load = (
                Load(rate_per_s=level, requests=n_req, cached_prefix_tokens=warm, **lengths)
                if rate
                else Load(concurrency=level, requests=max(n_req, level), cached_prefix_tokens=warm, **lengths)
            )
            f = (
                None
                if rate
                else adapter.forecast(m, quant, device(src["hardware"]), "vllm", p + o, p, o, level, gpus, kv, eff)
            )
            s = summarize(simulate(step, cfg, load))
            tag = dict(engine=src["engine"], hw=src["hardware"], source=src["id"])
            rows.append(Row("aggregate under load", measured=tput, today=f and f.aggregate_tokens_per_s,
                            new=s["output_tokens_per_s"], **tag))  # fmt: skip
            if ttft_ms is not None:
                stat = "mean" if src["ttft_stat"] == "mean" else "p50"
                rows.append(Row("TTFT under load", measured=ttft_ms / 1e3, today=f and f.ttft_s, new=s["ttft_s"][stat],
                                **tag))  # fmt: skip
            if itl_ms is not None:
                istat = "mean" if src["itl_stat"] == "mean" else "p50"
                rows.append(Row("ITL", measured=itl_ms / 1e3, today=f and 1 / f.decode_tokens_per_s,
                                new=s["itl_s"][istat], **tag))  # fmt: skip
    return rows


FACTOR_GRID = [round(0.60 + 0.02 * i, 2) for i in range(26)]  # 0.60 .. 1.10


def _factor_errors(data: dict) -> dict[str, dict[float, list[float]]]:
    """Per vLLM source and grid factor: |log(forecast / measured)| of its aggregate throughput and ITL rows."""
    out: dict[str, dict[float, list[float]]] = {}
    for src in (s for s in data["sources"] if s["engine"] == "vllm" and not s.get("excluded")):
        for factor in FACTOR_GRID:
            rows = _serving_rows({"sources": [src]}, {src["id"]: factor})
            fit_rows = [r for r in rows if r.quantity in ("aggregate under load", "ITL")]
            out.setdefault(src["id"], {})[factor] = [abs(math.log(r.new / r.measured)) for r in fit_rows]
    return out


def fit_vllm(errors: dict[str, dict[float, list[float]]], exclude: str | None = None) -> float:
    """vLLM's bandwidth factor (calculators/engines.py): the grid value with the least mean |log(forecast /
    measured)| over the aggregate throughput and ITL of the published vLLM runs, source `exclude` left out. TTFT is
    not fitted: its error under load is the simulator's queueing, not the step's speed."""

    def loss(f: float) -> float:
        return statistics.mean(e for sid, by in errors.items() if sid != exclude for e in by[f])

    return min(FACTOR_GRID, key=loss)


FRONTEND_GRID_MS = [2.5 * i for i in range(25)]  # 0 .. 60 ms


def held_out_frontends(data: dict, factors: dict[str, float]) -> dict[str, float]:
    """Per vLLM / SGLang source, VLLM_FRONTEND_S fitted on the TTFT rows of the other such sources: the grid value
    with the least mean |log(forecast / measured)|; key "all": fitted on every source."""
    srcs = [s for s in data["sources"] if s["engine"] in VLLM_LIKE and not s.get("excluded")]
    err: dict[str, dict[float, list[float]]] = {}
    for src in srcs:
        for ms in FRONTEND_GRID_MS:
            rows = _serving_rows({"sources": [src]}, factors, {src["id"]: ms / 1e3})
            err.setdefault(src["id"], {})[ms] = [abs(math.log(r.new / r.measured)) for r in rows
                                                  if r.quantity == "TTFT under load"]  # fmt: skip

    def fit(exclude: str | None) -> float:
        pool = [sid for sid in err if sid != exclude and err[sid][0.0]]
        return min(FRONTEND_GRID_MS, key=lambda ms: statistics.mean(e for sid in pool for e in err[sid][ms])) / 1e3

    return {sid: fit(sid) for sid in err} | {"all": fit(None)}


def held_out_factors(data: dict) -> dict[str, float]:
    """Per vLLM source, the factor fitted on the other vLLM sources (SGLang sources: fitted on all of them)."""
    errors = _factor_errors(data)
    return {s["id"]: fit_vllm(errors, exclude=s["id"]) for s in data["sources"]
            if s["engine"] in VLLM_LIKE and not s.get("excluded")}  # fmt: skip


def _trt_rows(meas: dict, tp_efficiency: float | None = None, roofline_norm: float | None = None) -> list[Row]:
    """TensorRT-LLM offline max throughput (measurements.yaml `serving`): all requests queued at once. They calibrate
    the serving class and SERVER_ROOFLINE_NORM (the TP2 H100 rows: TP_EFFICIENCY), so they are never held out."""
    rows = []
    for hw_key, mkey, tp, isl, osl, tput in meas["serving"]["rows"]:
        hw, m = TRT_HARDWARE[hw_key], model(MODEL_OF[mkey])
        kw = {} if tp_efficiency is None else {"tp_efficiency": tp_efficiency}
        step = build_step(
            m, "FP8", device(hw), "vllm", tp, "fp8", efficiency_override=SERVER.bandwidth_efficiency, **kw
        )
        if roofline_norm is not None:
            step = replace(step, roofline_norm=roofline_norm)
        cfg = engine_config("tensorrt-llm", m, "FP8", device(hw), tp, "fp8", gpu_memory_utilization=0.95)
        n = 1500
        s = summarize(simulate(step, cfg, Load(concurrency=n, requests=n, prompt_tokens=isl, output_tokens=osl)))
        f = adapter.forecast(
            m, "FP8", device(hw), "vllm", isl + osl, isl, osl, n, tp, "fp8", SERVER.bandwidth_efficiency
        )
        tp2 = tp > 1 and hw == "h100-80gb-sxm"  # TP_EFFICIENCY is fitted on these, the norm on the others
        rows.append(Row(TRT, "tensorrt-llm", hw, "trtllm-perf-overview" + (" TP2" if tp2 else ""), tput,
                        f.aggregate_tokens_per_s, s["output_tokens_per_s"], heldout=False))  # fmt: skip
    return rows


def _batched_rows(meas: dict) -> list[Row]:
    """llama-batched-bench S_TG (aggregate decode of B sequences, prefill excluded) on the DGX Spark."""
    names = {"qwen25-7b": "qwen2.5-7b", "gemma3-4b": "gemma-3-4b", "gpt-oss-20b": "gpt-oss-20b"}
    rows = []
    for block in meas["batched"]:
        pp, tg = block["prompt_tokens"], block["gen_tokens"]
        for hw, mkey, quant, _size, b, sps in block["rows"]:
            if mkey not in names:
                continue
            m = model(names[mkey])
            step = build_step(m, quant, device(hw), "llama.cpp")
            f = adapter.forecast(m, quant, device(hw), "llama.cpp", pp + tg, pp, tg, b)
            rows.append(Row("llama.cpp aggregate decode (S_TG)", "llama.cpp", hw, "llamacpp-dgx-spark", sps,
                            f.aggregate_tokens_per_s, decode_aggregate_tokens_per_s(step, b, pp + tg // 2),
                            heldout=block.get("fit", True) is False))  # fmt: skip
    return rows


def _device(meas: dict, hw: str):
    """A measurements.yaml hardware entry as a speed-model Device."""
    h = meas["hardware"][hw]
    kind = h["kind"]
    return adapter.Device(
        id=hw, name=hw, kind=kind, bandwidth_bytes_per_s=h["bandwidth_gbs"] * 1e9,
        fp16_flops_per_s=h["fp16_tflops"] * 1e12 if h.get("fp16_tflops") else None, memory_bytes=None,
        unified_memory=kind in ("apple", "cpu"), hbm=bool(h.get("hbm")),
    )  # fmt: skip


def _prefill_blocks(meas: dict, extra: dict) -> list[dict]:
    """measurements.yaml `prefill` blocks plus prefill_measurements.yaml's, each with its source's run settings."""
    settings = extra.get("source_settings", {})
    return [{**settings.get(b["source"], {}), **b} for b in meas["prefill"] + extra.get("prefill", [])]


def _prefill_kernel(meas: dict, extra: dict, source: str, kind: str, quant: str) -> str | None:
    """The kernel family a row's build ran where it differs from today's: quantised weights dequantised to FP16 for
    cuBLAS on NVIDIA builds older than llama.cpp PR #8075 (prefill_measurements.yaml `mmq_default_since`)."""
    if kind != "nvidia" or quant.upper().startswith(("F16", "BF16", "F32")):
        return None
    date = str({**meas["sources"], **extra.get("sources", {})}[source]["date"])[:7]
    return "dequant-f16" if len(date) == 7 and date < extra["mmq_default_since"] else None


def _llamabench_rows(meas: dict, extra: dict | None = None) -> list[Row]:
    """llama-bench prefill (ppN; at depth D apart: the fit never sees a depth) and single-stream decode (tgN) for
    models with a config."""
    extra = extra if extra is not None else _extra()
    holdout = meas["holdout_hardware"]
    rows = []
    blocks = (
        ("prefill", _prefill_blocks(meas, extra)),
        (SWEEP, extra.get("ubatch_sweep", [])),
        ("single-stream decode", meas["points"]),
    )
    for quantity, section_blocks in blocks:
        for block in section_blocks:
            for r in block["rows"]:
                hw, mkey, quant, depth, val = r[0], r[1], r[2], r[4], r[5]
                if mkey not in MODEL_OF or hw not in meas["hardware"]:
                    continue
                kind = meas["hardware"][hw]["kind"]
                if kind not in ("nvidia", "apple", "amd", "intel"):
                    continue
                m, dev = model(MODEL_OF[mkey]), _device(meas, hw)
                prefill = quantity in ("prefill", SWEEP)
                pk = _prefill_kernel(meas, extra, block["source"], kind, quant) if prefill else None
                try:
                    s = adapter.setup(m, quant, dev, "llama.cpp")
                    step = build_step(m, quant, dev, "llama.cpp", prefill_kernel=pk)
                except ValueError:
                    continue
                held = any(fnmatch.fnmatch(hw, p) for p in holdout)
                if prefill:
                    n, ubatch = r[6], r[7] if len(r) > 7 else block.get("ubatch")
                    if ubatch:
                        step = replace(step, ubatch=ubatch)
                    today = n / adapter.prefill_time(s, n, depth)
                    new = n / prefill_s(step, n, depth_tokens=depth)
                    kernel = pk or prefill_kernel_of(s.geo.quant, s.geo.kquant, s.cls_name)
                else:
                    today = 1 / adapter.step_time(s, 1, depth).total_s
                    new = 1 / decode_step_s(step, 1, depth)
                    kernel = "f16" if quant.upper().startswith(("F16", "BF16")) else "int8"
                row = Row(quantity, "llama.cpp", hw, block["source"], val, today, new, held, (s.cls_name, kernel))
                if block.get("not_ppn"):  # not a ppN figure: reported apart, never fitted
                    row.quantity, row.heldout = "prefill, not ppN (" + block["source"] + ")", True
                elif prefill and depth:  # checks the attention term; the fit never sees a depth
                    row.quantity, row.heldout = "prefill at depth (depth never fitted)", True
                rows.append(row)
    return rows


def _extra() -> dict:
    """calculators/prefill_measurements.yaml."""
    return yaml.safe_load((ROOT / "calculators/prefill_measurements.yaml").read_text(encoding="utf-8"))


def _stats(errs: list[float]) -> str:
    if not errs:
        return "      -"
    a = sorted(abs(e) for e in errs)
    p90 = a[min(len(a) - 1, int(round(0.9 * (len(a) - 1))))]
    return f"{statistics.median(a):6.1%} {p90:6.1%} {a[-1]:7.1%}"


def report(rows: list[Row]) -> None:
    """Median / p90 / worst |forecast / measured - 1| per quantity and group, held-out rows only."""
    print(f"{'quantity':36} {'group':24} {'n':>3}  {'today med   p90   worst':24}  {'new med   p90   worst':24}")
    for q in dict.fromkeys(r.quantity for r in rows):
        sel = [r for r in rows if r.quantity == q and (r.heldout or q in FITTED)]
        groups = [("all fitted" if q in FITTED else "all held out", sel)]
        for key in ("engine", "gen"):
            vals = sorted({r.engine if key == "engine" else generation(r.hw) for r in sel})
            if len(vals) > 1:
                for v in vals:
                    groups.append(
                        (f"{key}={v}", [r for r in sel if (r.engine if key == "engine" else generation(r.hw)) == v])
                    )
        if q == "prefill":  # the row set: llama-bench pp512, Llama 2 7B Q4_0, discussion #15013 (all GPUs)
            groups.append(
                ("#15013 all 10 (5 fitted)", [r for r in rows if r.quantity == q and r.source == "llamacpp-15013"])
            )
        for name, rs in groups:
            te = [r.today / r.measured - 1 for r in rs if r.today]
            ne = [r.new / r.measured - 1 for r in rs if r.new]
            print(f"{q:36} {name:24} {len(rs):3}  {_stats(te):24}  {_stats(ne):24}")
        print()


def sim_timing() -> float:
    """Seconds to simulate 1,000 requests (Llama 3.1 8B BF16 on an A10G, 32 users, 512 + 256 tokens)."""
    m = model("llama-3.1-8b")
    step = build_step(m, "BF16", device("a10g"), "vllm")
    cfg = engine_config("vllm", m, "BF16", device("a10g"))
    load = Load(concurrency=32, requests=1000, prompt_tokens=512, output_tokens=256, prompt_sd=128, output_sd=64)
    simulate(step, cfg, load)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        simulate(step, cfg, load)
        best = min(best, time.perf_counter() - t)
    return best


def fit_tp(meas: dict) -> None:
    """Grid-search TP_EFFICIENCY: the median log error of the TP2 H100 rows closest to zero."""
    best = None
    for e in [0.6 + 0.025 * i for i in range(17)]:
        rows = [r for r in _trt_rows(meas, e) if r.source.endswith("TP2")]
        med = statistics.median(math.log(r.new / r.measured) for r in rows)
        print(f"tp_efficiency {e:.3f}: median log(forecast/measured) {med:+.3f} on {len(rows)} rows")
        if best is None or abs(med) < abs(best[1]):
            best = (e, med)
    print(f"best TP_EFFICIENCY = {best[0]:.3f}")


ROOFLINE_GRID = [1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 4.0, math.inf]


def fit_roofline(meas: dict) -> None:
    """Grid-search SERVER_ROOFLINE_NORM: the least RMS log error on the single-GPU TensorRT-LLM rows."""
    best = None
    for p in ROOFLINE_GRID:
        rows = [r for r in _trt_rows(meas, roofline_norm=p) if not r.source.endswith("TP2")]
        rms = math.sqrt(statistics.mean(math.log(r.new / r.measured) ** 2 for r in rows))
        errors = _stats([r.new / r.measured - 1 for r in rows])
        print(f"norm {p:>4}: RMS log(forecast/measured) {rms:.4f}, |error| {errors} on {len(rows)} rows")
        if best is None or rms < best[1]:
            best = (p, rms)
    print(f"best SERVER_ROOFLINE_NORM = {best[0]}")


def _fit_prefill_efficiencies(meas: dict, extra: dict) -> list[Row]:
    """Per (class, kernel) prefill efficiency: geometric mean of measured / forecast on the non-held-out ppN rows;
    returns those rows and the ubatch sweep's."""
    import math

    from calculators.serving import batched

    batched.PREFILL_EFFICIENCY.clear()
    for _ in range(3):  # the weight-streaming and overhead terms do not scale with the efficiency: iterate
        groups: dict[tuple[str, str], dict[str, list[float]]] = {}
        for r in _llamabench_rows(meas, extra):
            if r.quantity == "prefill" and not r.heldout:
                groups.setdefault(r.key, {}).setdefault(r.hw, []).append(math.log(r.measured / r.new))
        for key, per_device in groups.items():  # each device counts once, however many rows it has
            logs = [sum(v) / len(v) for v in per_device.values()]
            current = batched.PREFILL_EFFICIENCY.get(key, _model_for_key(key))
            batched.PREFILL_EFFICIENCY[key] = current * math.exp(sum(logs) / len(logs))
    return [r for r in _llamabench_rows(meas, extra) if r.quantity in ("prefill", SWEEP) and not r.heldout]


PREFILL_GRID = {  # dense / routed-expert half-saturation (tokens), CUDA time per layer, per expert per ubatch (us)
    "LLAMACPP_PREFILL_HALF_TOKENS": (0, 16),
    "EXPERT_HALF_TOKENS": (0, 32, 64, 128),
    "CUDA_PREFILL_LAYER_OVERHEAD_S": (0, 25, 50, 75),
    "CUDA_PREFILL_EXPERT_OVERHEAD_S": (0, 2, 4, 6, 8, 10, 12),
}


def _set_prefill_shape(half: float, expert_half: float, layer_us: float, expert_us: float = 0.0) -> None:
    from calculators.serving import batched

    batched.LLAMACPP_PREFILL_HALF_TOKENS, batched.EXPERT_HALF_TOKENS = float(half), float(expert_half)
    batched.CUDA_PREFILL_LAYER_OVERHEAD_S = layer_us * 1e-6
    batched.CUDA_PREFILL_EXPERT_OVERHEAD_S = expert_us * 1e-6


def fit_prefill(meas: dict) -> None:
    """Fit the dense and routed-expert half-saturations and CUDA_PREFILL_LAYER_OVERHEAD_S (grid, least squares in
    log error) with the per (class, kernel) efficiencies, on the prefill rows outside the hold-out and the ubatch
    sweep."""
    import itertools
    import math

    from calculators.serving import batched

    extra, best = _extra(), None
    for shape in itertools.product(*PREFILL_GRID.values()):
        _set_prefill_shape(*shape)
        rows = _fit_prefill_efficiencies(meas, extra)
        sse = sum(math.log(r.new / r.measured) ** 2 for r in rows)
        if best is None or sse < best[1]:
            best = (shape, sse)
    _set_prefill_shape(*best[0])
    rows = _fit_prefill_efficiencies(meas, extra)
    print(f"sum log^2 {best[1]:.4f} on {len(rows)} rows")
    for name, v in zip(PREFILL_GRID, best[0], strict=True):
        print(f"{name} = {v}e-6" if name.endswith("_S") else f"{name} = {float(v)!r}")
    for key, v in sorted(batched.PREFILL_EFFICIENCY.items()):
        n = sum(1 for r in rows if r.key == key and r.quantity == "prefill")
        print(f"    {key!r}: {v:.4f},  # {n} row{'s' if n != 1 else ''}")
    for r in rows:
        if r.quantity == SWEEP:
            print(
                f"  ubatch sweep {r.hw}: measured {r.measured:.0f}, forecast {r.new:.0f} ({r.new / r.measured - 1:+.1%})"
            )


QUANTITIES = ("aggregate under load", "TTFT under load", "ITL")


def ablate(data: dict, meas: dict) -> None:
    """Held-out aggregate / TTFT / ITL with the runs' prefix-cache state and vLLM's front-end time each on or off."""
    print("prefix cache  front end  | aggregate med p90 worst | TTFT med p90 worst | ITL med p90 worst")
    for cache in (False, True):
        srcs = [s if cache else {k: v for k, v in s.items() if k != "prefix_cache"} for s in data["sources"]]
        d = {"sources": srcs}
        factors = held_out_factors(d)
        for front in (False, True):
            fr = held_out_frontends(d, factors) if front else {s["id"]: 0.0 for s in srcs}
            rows = [r for r in _serving_rows(d, factors, fr) + _trt_rows(meas) if r.heldout]
            cols = [_stats([r.new / r.measured - 1 for r in rows if r.quantity == q]) for q in QUANTITIES]
            print(f"{'modelled' if cache else 'cold':13s} {'fitted' if front else 'none':10s} | " + " | ".join(cols))


def _model_for_key(key: tuple[str, str]) -> float:
    """Today's prefill efficiency of a class (the starting point of the fit)."""
    from calculators.speed import calibration

    return calibration.CLASSES[key[0]].prefill_efficiency


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fit-tp", action="store_true")
    ap.add_argument("--fit-roofline", action="store_true")
    ap.add_argument("--fit-prefill", action="store_true")
    ap.add_argument("--fit-vllm", action="store_true")
    ap.add_argument("--fit-frontend", action="store_true")
    ap.add_argument("--ablate", action="store_true", help="each serving change on and off, same held-out rows")
    args = ap.parse_args()
    meas = yaml.safe_load((ROOT / "calculators/measurements.yaml").read_text(encoding="utf-8"))
    if args.fit_tp:
        fit_tp(meas)
        return
    if args.fit_roofline:
        fit_roofline(meas)
        return
    if args.fit_prefill:
        fit_prefill(meas)
        return
    data = yaml.safe_load((ROOT / "calculators/serving_measurements.yaml").read_text(encoding="utf-8"))
    if args.ablate:
        ablate(data, meas)
        return
    factors = held_out_factors(data)
    if args.fit_vllm:
        print(f"VLLM_BANDWIDTH_FACTOR = {fit_vllm(_factor_errors(data))}  (all vLLM runs)")
        for sid, f in factors.items():
            print(f"  fitted without {sid}: {f}")
        return
    frontends = held_out_frontends(data, factors)
    if args.fit_frontend:
        print(f"VLLM_FRONTEND_S = {frontends.pop('all')}  (TTFT of all vLLM / SGLang runs)")
        for sid, f in frontends.items():
            print(f"  fitted without {sid}: {f}")
        return
    rows = _serving_rows(data, factors, frontends) + _trt_rows(meas) + _batched_rows(meas) + _llamabench_rows(meas)
    report(rows)
    print(f"vLLM bandwidth factor per source, fitted without it: {sorted(set(factors.values()))}")
    held = sorted({round(v * 1e3, 1) for k, v in frontends.items() if k != "all"})
    print(f"vLLM front-end time per source, fitted without it (ms): {held}")
    for src in (s for s in data["sources"] if s.get("excluded")):
        print(f"Not used: {src['id']}: {src['excluded']}")
    print("Notes: the TensorRT-LLM rows calibrated the serving class (both columns), SERVER_ROOFLINE_NORM (single-GPU")
    print("rows) and TP_EFFICIENCY (H100 TP2 rows), so they are reported as fitted. The DGX Spark dense batched rows")
    print("entered today's fit and are left out; the two MoE S_TG rows were never fitted.")
    print(f"1,000-request simulation: {sim_timing() * 1e3:.1f} ms (best of 5)")


if __name__ == "__main__":
    main()
