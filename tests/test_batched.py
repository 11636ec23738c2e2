"""The batched step model: physics (weights once, KV per sequence, MoE experts, tensor / pipeline parallel) and
golden points from published llama-batched-bench runs."""

import math
from pathlib import Path

import pytest

from calculators.serving.batched import (
    SERVER_ROOFLINE_NORM,
    build_step,
    decode_aggregate_tokens_per_s,
    decode_step_s,
    engine_config,
    kv_capacity_tokens,
    prefill_s,
    roofline_s,
)
from calculators.serving.metrics import summarize
from calculators.serving.simulator import Load, simulate
from model_specs import load_catalog
from model_specs.hf_import import model_from_hf_json

CAT = load_catalog()
DEV = CAT.device  # the serving package takes catalog objects, not ids

CONFIGS = Path(__file__).parent / "fixtures" / "hf_configs"
BENCH_CONFIGS = Path(__file__).parents[1] / "bench" / "serving_configs"  # config.json of the benched models


def _model(name: str):
    return model_from_hf_json((CONFIGS / f"{name}.json").read_bytes(), model_id=name)


@pytest.mark.parametrize(
    "batch, measured",
    # llama.cpp benches/dgx-spark.md (build 2f68ce7cf, 2025-11-02), llama-batched-bench PP=512 TG=32,
    # Qwen2.5-Coder-7B Q8_0 on a DGX Spark (GB10): S_TG t/s; also /work/shared/reference/measurements.md section 4.
    [(1, 29.24), (8, 195.67), (32, 593.27)],
)
def test_dgx_spark_batched_decode_matches_llama_batched_bench(batch, measured):
    step = build_step(_model("qwen2.5-7b"), "Q8_0", DEV("dgx-spark"), "llama.cpp")
    assert decode_aggregate_tokens_per_s(step, batch, 512 + 16) == pytest.approx(measured, rel=0.12)


def test_weights_are_read_once_per_step_and_kv_per_sequence():
    step = build_step(_model("llama-3-8b"), "Q4_K_M", DEV("rtx-4090"), "llama.cpp")
    one, eight = decode_step_s(step, 1, 2048), decode_step_s(step, 8, 2048)
    assert eight < 8 * one / 2.5  # eight streams cost far less than eight single steps
    assert decode_aggregate_tokens_per_s(step, 8, 2048) > 2.5 * decode_aggregate_tokens_per_s(step, 1, 2048)
    deeper = decode_step_s(step, 8, 8192) - eight
    assert deeper == pytest.approx(step.kv_token_s * 8 * (8192 - 2048), rel=1e-9)


def test_arithmetic_takes_over_at_large_batches():
    # Memory-bound at batch 1 (aggregate grows almost linearly), compute-bound at 1024 (it flattens).
    step = build_step(_model("llama-3-8b"), "BF16", DEV("h100-80gb-sxm"), "vllm")
    r = [decode_aggregate_tokens_per_s(step, b, 0) for b in (1, 2, 512, 1024)]
    assert r[1] / r[0] > 1.9
    assert r[3] / r[2] < 1.5


def test_moe_experts_touched_grow_with_the_batch():
    step = build_step(_model("qwen3-30b-a3b"), "Q4_K_M", DEV("rtx-4090"), "llama.cpp")
    e, k = step.experts, step.experts_active
    assert step.weights_read_bytes(1) == pytest.approx(step.dense_weight_bytes + step.expert_bytes * k / e)
    b = 8
    expected = step.dense_weight_bytes + step.expert_bytes * (1 - (1 - k / e) ** b)
    assert step.weights_read_bytes(b) == pytest.approx(expected)
    assert step.weights_read_bytes(4096) == pytest.approx(step.dense_weight_bytes + step.expert_bytes, rel=1e-6)


def test_serving_steps_overlap_weight_reads_and_arithmetic_partly():
    assert roofline_s(3.0, 4.0, 1.0) == 7.0 and roofline_s(3.0, 4.0, math.inf) == 4.0
    assert roofline_s(3.0, 4.0, 1.5) == pytest.approx((3**1.5 + 4**1.5) ** (1 / 1.5))
    m = _model("llama-3-8b")
    vllm = build_step(m, "BF16", DEV("h100-80gb-sxm"), "vllm")
    assert vllm.roofline_norm == SERVER_ROOFLINE_NORM
    assert build_step(m, "Q4_K_M", DEV("rtx-4090"), "llama.cpp").roofline_norm == 1.0  # fitted as a sum
    assert math.isinf(build_step(m, "Q4_K_M", DEV("ryzen-9-7950x"), "llama.cpp").roofline_norm)
    memory_s = vllm.weights_read_bytes(256) / vllm.bandwidth_bytes_per_s
    arithmetic_s = 256 * vllm.dense_flops_per_token / vllm.decode_flops_per_s
    fixed_s = vllm.overhead_s + 256 * vllm.per_seq_s
    assert decode_step_s(vllm, 256, 0) - fixed_s == pytest.approx(roofline_s(memory_s, arithmetic_s, 1.5))
    assert max(memory_s, arithmetic_s) < decode_step_s(vllm, 256, 0) - fixed_s < memory_s + arithmetic_s


@pytest.mark.parametrize(
    "isl, osl, measured",
    # TensorRT-LLM performance overview (trtllm-bench max throughput), Llama 3.3 70B FP8 on one H200, output tok/s
    # (calculators/measurements.yaml `serving`): rows that fit the serving class and SERVER_ROOFLINE_NORM. Summing
    # weight reads and arithmetic forecasts the first two 15 % low, taking their max 18-22 % high.
    [(128, 2048, 4336), (500, 2000, 3666), (2048, 2048, 2003)],
)
def test_serving_throughput_matches_tensorrt_llm_max_throughput(isl, osl, measured):
    from calculators.speed.calibration import SERVER

    m = model_from_hf_json((BENCH_CONFIGS / "llama-3.3-70b.json").read_bytes(), model_id="llama-3.3-70b")
    step = build_step(m, "FP8", DEV("h200"), "vllm", 1, "fp8", efficiency_override=SERVER.bandwidth_efficiency)
    cfg = engine_config("tensorrt-llm", m, "FP8", DEV("h200"), 1, "fp8", gpu_memory_utilization=0.95)
    load = Load(concurrency=1500, requests=1500, prompt_tokens=isl, output_tokens=osl)
    assert summarize(simulate(step, cfg, load))["output_tokens_per_s"] == pytest.approx(measured, rel=0.10)


def test_tensor_parallel_helps_but_less_than_linearly_and_pipeline_only_divides_arithmetic():
    m = _model("llama-3-8b")
    one = build_step(m, "BF16", DEV("h100-80gb-sxm"), "vllm", gpus=1)
    two = build_step(m, "BF16", DEV("h100-80gb-sxm"), "vllm", gpus=2)
    pp2 = build_step(m, "BF16", DEV("h100-80gb-sxm"), "vllm", gpus=2, pp=2)
    assert two.comm_fixed_s > 0 and two.comm_per_token_s > 0
    t1, t2 = decode_step_s(one, 64, 1024), decode_step_s(two, 64, 1024)
    assert t1 / 2 < t2 < t1
    assert pp2.bandwidth_bytes_per_s == one.bandwidth_bytes_per_s
    assert pp2.decode_flops_per_s == pytest.approx(2 * one.decode_flops_per_s)
    with pytest.raises(ValueError, match="multiple"):
        build_step(m, "BF16", DEV("h100-80gb-sxm"), "vllm", gpus=3, pp=2)


def test_prefill_has_attention_quadratic_term():
    step = build_step(_model("llama-3-8b"), "BF16", DEV("h100-80gb-sxm"), "vllm")
    short, long = prefill_s(step, 1024), prefill_s(step, 16384)
    assert long / short > 16  # more than linear: attention over a growing context


def test_vllm_kv_blocks_come_from_memory_left_after_weights():
    m = _model("llama-3-8b")
    kv80 = kv_capacity_tokens(m, "BF16", DEV("h100-80gb-sxm"))
    kv40 = kv_capacity_tokens(m, "BF16", DEV("a100-40gb-sxm"))
    # Llama 3 8B: 128 KiB of f16 KV per token; ~16 GB of weights.
    assert 350_000 < kv80 < 480_000
    assert 80_000 < kv40 < 160_000
    cfg = engine_config("vllm", m, "BF16", DEV("h100-80gb-sxm"))
    assert cfg.kv_tokens == kv80 and cfg.max_seqs == 1024


def test_vllm_kv_capacity_matches_the_published_server_logs():
    # vLLM's startup log prints its KV capacity. A10G, Qwen3-8B BF16, --gpu-memory-utilization 0.92: 23,040 tokens
    # (walidelkhatib/llm-inference-benchmarks); RTX 3090, Qwen3-4B BF16, 0.90: 86,320 tokens (dlinlabs/vllm-serving-lab).
    # The A10G's share is of the 23,028 MiB its driver reports (ECC on), not of the 24 GiB on the label.
    qwen3 = {
        n: model_from_hf_json((BENCH_CONFIGS / f"{n}.json").read_bytes(), model_id=n) for n in ("qwen3-8b", "qwen3-4b")
    }
    a10g = kv_capacity_tokens(qwen3["qwen3-8b"], "BF16", DEV("a10g"), gpu_memory_utilization=0.92)
    rtx3090 = kv_capacity_tokens(qwen3["qwen3-4b"], "BF16", DEV("rtx-3090"), gpu_memory_utilization=0.90)
    assert a10g == pytest.approx(23_040, rel=0.10)
    assert rtx3090 == pytest.approx(86_320, rel=0.05)


def test_simulated_server_on_the_batched_model_runs_fast_and_is_consistent():
    m = _model("llama-3-8b")
    step = build_step(m, "BF16", DEV("a10g"), "vllm")
    cfg = engine_config("vllm", m, "BF16", DEV("a10g"))
    s = summarize(simulate(step, cfg, Load(concurrency=1, requests=3, prompt_tokens=512, output_tokens=64)))
    # One user at a time: TTFT = the API server's front-end time + one prefill chunk step, TPOT = decode steps at the
    # growing depth.
    assert s["ttft_s"]["p50"] == pytest.approx(cfg.frontend_s + prefill_s(step, 512), rel=1e-6)
    assert s["tpot_s"]["p50"] == pytest.approx(decode_step_s(step, 1, 512 + 32), rel=0.01)


@pytest.mark.parametrize("hw, threads", [("ryzen-9-7950x", None), ("core-i5-13600k", 12), ("raspberry-pi-5-8gb", 2)])
def test_a_catalog_cpu_steps_at_the_cpu_models_pace(hw, threads):
    # The simulator's step on a CPU comes from the CPU decode model (threads, sustained bandwidth, barriers): one
    # sequence decodes as fast as the single-stream forecast says. It used the GPU-style class bandwidth before
    # (7950X, Gemma 4 E4B Q4_K_M: 5.8 tok/s simulated vs 15.6 forecast).
    from calculators.speed import forecast
    from model_specs import load_catalog

    cat = load_catalog()
    m, dev = cat.model("gemma-4-e4b"), cat.device(hw)
    f = forecast(m, "Q4_K_M", dev, prompt_tokens=512, output_tokens=256, threads=threads)
    step = build_step(m, "Q4_K_M", dev, "llama.cpp", threads=threads)
    assert decode_aggregate_tokens_per_s(step, 1, 512 + 128) == pytest.approx(f.decode_tokens_per_s, rel=0.02)
    two = decode_aggregate_tokens_per_s(step, 2, 512 + 128)
    assert 1.0 < two / f.decode_tokens_per_s <= 2.0  # a second sequence shares the weight read
