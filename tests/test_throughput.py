"""Speed model: golden published points (with sources), the physics it must respect, and its calibration file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from calculators.speed import (
    calibration,
    class_of,
    concurrency_curve,
    custom_device,
    decode_vs_depth,
    forecast,
    roofline,
)
from model_specs import load_catalog
from model_specs.hf_import import model_from_hf_config

ROOT = Path(__file__).resolve().parents[1]
CAT = load_catalog()
CONFIGS = ROOT / "tests" / "fixtures" / "hf_configs"
SPARK = custom_device("nvidia", 273, 62.5, 128)  # DGX Spark (GB10): 273 GB/s LPDDR5X, 128 GB unified
M2_ULTRA_76 = custom_device("apple", 800, 27.2, 192)


def hf(name: str):
    return model_from_hf_config(json.loads((CONFIGS / f"{name}.json").read_text()), model_id=name)


def err(pred: float, measured: float) -> float:
    return abs(pred / measured - 1)


# (id, model, quant, hardware, prompt/depth tokens, generated tokens, measured tok/s, tolerance). Sources:
#   spark: llama.cpp benches/dgx-spark.md (build 2f68ce7cf, tg32 @ depth) via shared/reference/measurements.md s4
#   15396: llama.cpp discussion #15396 (gpt-oss guide, llama-bench tg128)
#   xj3:   XiongjieDai/GPU-Benchmarks-on-LLM-Inference README, LLaMA 3 tables (tg512 from an empty context)
#   pk:    pavlokhmel.com "LLM throughput benchmark on 13 GPUs and 10 models" (2026-06-07)
GOLDEN = [
    ("spark-qwen7b-d0", "qwen2.5-7b", "Q8_0", SPARK, 0, 32, 29.30, 0.12),  # spark
    ("spark-qwen7b-d16k", "qwen2.5-7b", "Q8_0", SPARK, 16384, 32, 25.93, 0.12),  # spark
    ("spark-qwen3moe-d0", "qwen3-30b-a3b", "Q8_0", SPARK, 0, 32, 60.92, 0.15),  # spark
    ("spark-qwen3moe-d16k", "qwen3-30b-a3b", "Q8_0", SPARK, 16384, 32, 40.81, 0.15),  # spark
    ("4090-gptoss20b", "gpt-oss-20b", "MXFP4", "rtx-4090", 0, 128, 225.22, 0.15),  # 15396
    ("3090-llama3-q4km", "llama-3-8b", "Q4_K_M", "rtx-3090", 0, 512, 115.42, 0.15),  # xj3
    ("3090-llama3-f16", "llama-3-8b", "F16", "rtx-3090", 0, 512, 47.40, 0.15),  # xj3
    ("m2ultra-llama3-q4km", "llama-3-8b", "Q4_K_M", M2_ULTRA_76, 0, 512, 78.81, 0.15),  # xj3
    ("h100-gemma4-31b", "gemma-4-31b", "Q4_K_M", "h100-80gb-sxm", 0, 500, 68.0, 0.15),  # pk
    # Held out of the fit (hardware the parameters never saw):
    ("5090-gptoss20b", "gpt-oss-20b", "MXFP4", "rtx-5090", 0, 128, 282.51, 0.20),  # 15396
    ("h200-gemma4-26b", "gemma-4-26b-a4b", "Q4_K_M", "h200", 0, 500, 188.0, 0.20),  # pk
]


@pytest.mark.parametrize("case", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_published_decode_points(case):
    _, model_id, quant, hw, depth, gen, measured, tol = case
    cat = load_catalog()
    model = cat.model(model_id) if model_id in cat.models else hf(model_id)
    ctx = min(model.context_tokens, max(8192, depth + gen))
    dev = cat.device(hw) if isinstance(hw, str) else hw
    f = forecast(model, quant, dev, context_tokens=ctx, prompt_tokens=depth, output_tokens=gen)
    assert err(f.decode_tokens_per_s, measured) <= tol, (f.decode_tokens_per_s, measured)
    assert f.decode_tokens_per_s_low < f.decode_tokens_per_s < f.decode_tokens_per_s_high


def test_golden_batched_aggregate_on_spark():
    # llama-batched-bench, gemma-3-4b Q4_0, PP=512 TG=32, B=32: S_TG 801.81 t/s (measurements.md section 4).
    # S_TG times the decode phase only, so compare the decode-phase aggregate (streams x per-stream decode speed).
    f = forecast(
        hf("gemma-3-4b-it"), "Q4_0", SPARK, context_tokens=4096, prompt_tokens=512, output_tokens=32, concurrency=32
    )
    assert err(32 * f.decode_tokens_per_s, 801.81) <= 0.25, f.decode_tokens_per_s


def test_golden_serving_throughput():
    # TensorRT-LLM perf overview (~v1.0, measurements.md s7): Llama 3.1 8B FP8 on one H200, ISL/OSL 1000/1000:
    # 17,744 output tok/s (held out: the serving parameters were fitted on H100 rows only).
    m = hf("llama-3-8b")
    f = forecast(
        m,
        "FP8",
        CAT.device("h200"),
        engine="vllm",
        context_tokens=2000,
        prompt_tokens=1000,
        output_tokens=1000,
        concurrency=2048,
        kv_dtype="fp8",
    )
    # 2,048 sequences of 2,000 tokens do not all fit in the H200's KV blocks: the rest queue.
    assert f.bound == "kv" and f.max_concurrency is not None and f.max_concurrency < 2048
    assert err(f.aggregate_tokens_per_s, 17744) <= 0.35, f.aggregate_tokens_per_s


def test_decode_slows_as_context_fills():
    curve = decode_vs_depth(CAT.model("gemma-4-31b"), "Q4_K_M", CAT.device("h100-80gb-sxm"))
    speeds = [v for _, v, _, _ in curve]
    assert speeds == sorted(speeds, reverse=True) and speeds[-1] < speeds[0]
    for _, v, lo, hi in curve:
        assert lo < v < hi


def test_moe_reads_only_active_experts():
    dense = forecast(CAT.model("gemma-4-31b"), "Q4_K_M", CAT.device("h100-80gb-sxm"))
    moe = forecast(CAT.model("gemma-4-26b-a4b"), "Q4_K_M", CAT.device("h100-80gb-sxm"))
    assert moe.weight_bytes_per_token < dense.weight_bytes_per_token / 3
    assert moe.decode_tokens_per_s > 2 * dense.decode_tokens_per_s


def test_concurrency_raises_aggregate_and_lowers_per_user_until_memory_runs_out():
    curve = concurrency_curve(CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("rtx-4090"), context_tokens=8192)
    agg = [p.aggregate_tokens_per_s for p in curve]
    user = [p.per_user_tokens_per_s for p in curve]
    assert agg[:5] == sorted(agg[:5]) and agg[-1] >= 0.95 * max(agg)  # rises, then plateaus once compute-bound
    assert user == sorted(user, reverse=True)
    assert curve[0].bound == "memory" and curve[-1].bound == "compute"
    f = forecast(CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("rtx-4090"), concurrency=curve[-1].concurrency + 50)
    assert f.bound == "kv" and any("queue" in n for n in f.notes)
    assert f.max_concurrency == curve[-1].concurrency


def test_large_batches_become_compute_bound():
    f = forecast(
        CAT.model("gemma-4-e2b"),
        "Q4_K_M",
        CAT.device("h100-80gb-sxm"),
        context_tokens=2048,
        prompt_tokens=256,
        output_tokens=128,
        concurrency=512,
    )
    assert f.bound == "compute" and f.max_concurrency >= 512  # all 512 streams fit, arithmetic is the limit
    pts = roofline(CAT.model("gemma-4-e2b"), "Q4_K_M", CAT.device("h100-80gb-sxm"), batches=(1, 1024))["points"]
    assert pts[0]["bound"] == "memory" and pts[1]["bound"] == "compute"


def test_partial_offload_reads_host_memory():
    f = forecast(CAT.model("gemma-4-31b"), "BF16", CAT.device("rtx-4090"), context_tokens=4096)
    assert 0.5 < f.host_fraction < 1 and any("host RAM" in n for n in f.notes)
    fits = forecast(CAT.model("gemma-4-31b"), "BF16", CAT.device("h100-80gb-sxm"), context_tokens=4096)
    assert f.decode_tokens_per_s < fits.decode_tokens_per_s / 5


def test_tensor_parallel_and_layer_split():
    one = forecast(CAT.model("gemma-4-31b"), "BF16", CAT.device("h100-80gb-sxm"), engine="vllm", context_tokens=4096)
    two = forecast(
        CAT.model("gemma-4-31b"), "BF16", CAT.device("h100-80gb-sxm"), engine="vllm", context_tokens=4096, gpus=2
    )
    assert one.decode_tokens_per_s * 1.3 < two.decode_tokens_per_s < one.decode_tokens_per_s * 2
    assert two.step_comm_s > 0
    split = forecast(CAT.model("gemma-4-31b"), "Q8_0", CAT.device("h100-80gb-sxm"), context_tokens=4096, gpus=2)
    single = forecast(CAT.model("gemma-4-31b"), "Q8_0", CAT.device("h100-80gb-sxm"), context_tokens=4096)
    assert split.decode_tokens_per_s == pytest.approx(single.decode_tokens_per_s, rel=0.05)


def test_custom_devices_and_fallbacks():
    assert class_of(custom_device("nvidia", 3350, 989)) == "nvidia-hbm"
    assert class_of(custom_device("nvidia", 1008, 165)) == "nvidia"
    f = forecast(
        CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("m4-max-128gb")
    )  # the catalog lists no Apple FP16 TFLOPS
    assert any("no FP16 TFLOPS" in n for n in f.notes) and f.fp16_flops_per_s > 0
    for bad in (
        lambda: custom_device("tpu", 100, 10),
        lambda: custom_device("nvidia", -1, 10),
        lambda: custom_device("nvidia", 100, 0),
    ):
        with pytest.raises(ValueError):
            bad()


def test_bad_inputs_raise_value_error():
    for kwargs in (
        {"engine": "nope"},
        {"context_tokens": 0},
        {"prompt_tokens": 9000, "context_tokens": 8192},
        {"concurrency": 0},
        {"efficiency_override": 3.0},
    ):
        with pytest.raises(ValueError):
            forecast(CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("rtx-4090"), **kwargs)
    with pytest.raises(ValueError):
        forecast(CAT.model("gemma-4-e4b"), "Q9_Z", CAT.device("rtx-4090"))
    # Ids are the caller's catalog's business (a KeyError naming the id); the calculator never loads a catalog.
    with pytest.raises(KeyError, match="no-such-model"):
        CAT.model("no-such-model")
    with pytest.raises(KeyError, match="no-such-gpu"):
        CAT.device("no-such-gpu")
    with pytest.raises(TypeError, match="look it up"):
        forecast("gemma-4-e4b", "Q4_K_M", CAT.device("rtx-4090"))
    with pytest.raises(TypeError, match="not the id 'rtx-4090'"):
        forecast(CAT.model("gemma-4-e4b"), "Q4_K_M", "rtx-4090")


def test_uncalibrated_engine_and_sparse_class_say_so():
    f = forecast(CAT.model("gemma-4-e4b"), "BF16", CAT.device("h100-80gb-sxm"), engine="vllm")
    assert any("serving-engine parameters" in n for n in f.notes)
    g = forecast(CAT.model("gemma-4-e4b"), "Q4_K_M", CAT.device("rx-7900-xtx"))
    assert any("wide range" in n for n in g.notes)
    assert g.decode_tokens_per_s_high / g.decode_tokens_per_s_low > 1.8


def test_every_catalog_device_and_model_forecasts():
    cat = load_catalog()
    for hw in cat.hardware.values():
        if not hw.memory_bandwidth_gbs:
            continue
        f = forecast(CAT.model("gemma-4-e2b"), "Q4_K_M", hw, context_tokens=4096)
        assert 0 < f.decode_tokens_per_s_low < f.decode_tokens_per_s < f.decode_tokens_per_s_high, hw.id
        assert f.ttft_s > 0 and f.e2e_s > f.ttft_s
    for m in cat.models.values():
        assert (
            forecast(
                m,
                "Q4_K_M",
                CAT.device("h100-80gb-sxm"),
                context_tokens=min(4096, m.context_tokens),
                prompt_tokens=256,
                output_tokens=64,
            ).decode_tokens_per_s
            > 0
        )


def test_calibration_matches_the_measurements_it_was_fitted_on():
    # Editing measurements.yaml without rerunning `python bench/fit_throughput.py --write` fails here.
    digest = hashlib.sha256((ROOT / "calculators" / "measurements.yaml").read_bytes()).hexdigest()
    assert digest == calibration.DATA_SHA256
    n, median, worst = calibration.RESIDUALS["decode_gpu_holdout"]
    assert n >= 50 and median <= 0.10 and worst <= 0.30
    for cp in calibration.CLASSES.values():
        assert 0 < cp.bandwidth_efficiency <= 1 and cp.layer_overhead_s >= 0
        assert cp.decode_rel_low < 0 < cp.decode_rel_high


def test_cpu_range_covers_the_worst_held_out_cpu_miss():
    # Geerling ai-benchmarks issue #33: Framework 13, Ryzen AI 5 340 (DDR5-5600 dual channel), Ollama llama3.1:8b
    # (Q4_K_M), 10.46 tok/s. The held-out CPU misses are forecasts too fast (AmpereOne A192, Radxa Orion O6):
    # measured = forecast / (1 + miss), and the low end must reach it.
    f = forecast(
        hf("llama-3-8b"),
        "Q4_K_M",
        custom_device("cpu", 89.6, None, 16),
        engine="ollama",
        prompt_tokens=0,
        output_tokens=300,
    )
    assert err(f.decode_tokens_per_s, 10.46) <= 0.15, f.decode_tokens_per_s
    n, _, worst = calibration.RESIDUALS["decode_cpu_holdout"]
    assert n >= 6 and f.decode_tokens_per_s_low <= f.decode_tokens_per_s / (1 + worst)
    assert any("CPU decode" in note for note in f.notes)


def test_the_fit_and_the_forecast_share_one_step_formula():
    # The fit regresses decode_terms and predicts with decode_step_s; the forecast's step_time and the serving
    # fit's server_step_s both go through decode_step_parts: one formula, so a change to it moves both.
    from dataclasses import replace

    from calculators.engines import ENGINE_RECORDS
    from calculators.speed import device_from_hardware
    from calculators.speed.calibration import SERVER, SHARED
    from calculators.speed.params import SERVER_STEP_OVERHEAD_S, server_class
    from calculators.speed.setup import _setup
    from calculators.speed.step import attention_flops, decode_step_s, decode_terms, server_step_s, step_time

    kw = dict(
        weight_bytes=4.2e9, kv_bytes=3e8, layers=32, moe=True, bandwidth_bytes_per_s=1e12, flops=2e10,
        fp16_flops_per_s=1.6e14, shared=SHARED, kquant=True,
    )  # fmt: skip
    cls = calibration.CLASSES["nvidia"]
    x0, x1, x2 = decode_terms(**kw)
    linear = x0 / cls.bandwidth_efficiency + x1 * cls.layer_overhead_s + x2 / cls.compute_efficiency
    assert decode_step_s(cls=cls, **kw) == pytest.approx(linear, rel=1e-12)
    cat = load_catalog()
    for hw, engine, quant in (("rtx-4090", "llama.cpp", "Q4_K_M"), ("h100-80gb-sxm", "vllm", "FP8")):
        dev = device_from_hardware(cat.device(hw))
        s = _setup(cat.model("gemma-4-31b"), quant, dev, engine, "f16", 1, None, 0.0, [])
        g, batch, depth = s.geo, 8, 2048
        st = step_time(s, batch, depth)
        flops = batch * (
            2 * g.compute_params + attention_flops(g.q_dim, g.full_layers, g.sliding_layers, g.window, 1, depth)
        )
        fitted = dict(
            weight_bytes=st.weight_bytes, kv_bytes=st.kv_bytes, bandwidth_bytes_per_s=dev.bandwidth_bytes_per_s,
            fp16_flops_per_s=s.fp16, cls=s.cls, kv_read_ratio=s.kv_read_ratio,
        )  # fmt: skip
        if not s.server:
            same = decode_step_s(layers=g.layers, moe=g.moe, flops=flops, shared=SHARED, kquant=g.kquant, **fitted)
            assert st.total_s == pytest.approx(same, rel=1e-12)
            continue
        # vLLM: the serving class (fitted on TensorRT-LLM) with vLLM's bandwidth factor (engine registry)
        sp = replace(
            SERVER, bandwidth_efficiency=SERVER.bandwidth_efficiency * ENGINE_RECORDS[engine].serving_bandwidth_factor
        )
        assert s.cls == server_class(sp)
        same = decode_step_s(
            layers=0, moe=False, flops=flops, shared=SHARED, engine_overhead_s=SERVER_STEP_OVERHEAD_S, **fitted
        )
        served = server_step_s(
            weight_bytes=st.weight_bytes, kv_bytes=st.kv_bytes, decode_flops=flops, prefill_flops=0.0,
            bandwidth_bytes_per_s=dev.bandwidth_bytes_per_s, peak_flops_per_s=s.fp16, tp=1, comm_s=0.0, sp=sp,
        )  # fmt: skip
        assert st.total_s == pytest.approx(same, rel=1e-12)
        assert served == pytest.approx(st.total_s, rel=1e-12)
