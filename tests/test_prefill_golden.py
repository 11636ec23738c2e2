"""Prompt processing (llama-bench ppN) of the batched step model against published runs, and the physics behind it:
kernel family per build, routed experts with the ubatch, the fixed times per ubatch on CUDA.

Devices are the figures of calculators/measurements.yaml `hardware` (each sourced there), as bench_serving uses them.
The rows marked held out are on hardware the prefill fit never saw (measurements.yaml holdout_hardware)."""

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from calculators.serving import adapter
from calculators.serving.batched import build_step, prefill_s
from model_specs import load_catalog

CAT = load_catalog()
DEV = CAT.device  # the serving package takes catalog objects, not ids

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "tests" / "fixtures" / "hf_configs"
BENCH_CONFIGS = ROOT / "bench" / "serving_configs"
HARDWARE = yaml.safe_load((ROOT / "calculators" / "measurements.yaml").read_text(encoding="utf-8"))["hardware"]


def _model(name: str):
    from model_specs.hf_import import model_from_hf_json

    path = CONFIGS / f"{name}.json"
    path = path if path.exists() else BENCH_CONFIGS / f"{name}.json"
    return model_from_hf_json(path.read_bytes(), model_id=name)


def _device(hw: str):
    h = HARDWARE[hw]
    return adapter.Device(
        id=hw, name=hw, kind=h["kind"], bandwidth_bytes_per_s=h["bandwidth_gbs"] * 1e9,
        fp16_flops_per_s=h["fp16_tflops"] * 1e12, memory_bytes=None, unified_memory=h["kind"] == "apple",
        hbm=bool(h.get("hbm")),
    )  # fmt: skip


def _pp_tokens_per_s(model: str, quant: str, hw: str, tokens: int, ubatch: int = 0, kernel: str | None = None):
    step = build_step(_model(model), quant, _device(hw), "llama.cpp", prefill_kernel=kernel)
    if ubatch:
        step = replace(step, ubatch=ubatch)
    return tokens / prefill_s(step, tokens)


@pytest.mark.parametrize(
    "model, quant, hw, tokens, ubatch, kernel, measured",
    [
        # held out. RTX PRO 6000 Blackwell WS (600 W), llama-bench fa 1, pp512: Llama 2 7B Q4_0 16634 and
        # qwen3moe 30B.A3B Q4_K_M 7640.08 (llama.cpp discussion #15013; shared/reference/measurements.md section 5).
        # The MoE row was +86 % before the routed-expert and per-ubatch terms were fitted.
        ("llama-2-7b", "Q4_0", "rtx-pro-6000", 512, 0, None, 16634.0),
        ("qwen3-30b-a3b", "Q4_K_M", "rtx-pro-6000", 512, 0, None, 7640.08),
        # held out. RTX 5090 / RTX 5060 Ti, Llama 2 7B Q4_0 pp512 (llama.cpp discussion #15013, CUDA scoreboard).
        ("llama-2-7b", "Q4_0", "rtx-5090", 512, 0, None, 14073.41),
        ("llama-2-7b", "Q4_0", "rtx-5060-ti", 512, 0, None, 3737.25),
        # held out. Apple M3 Max 40-core GPU, Llama 2 7B Q4_0 / F16 pp512 (llama.cpp discussion #4167).
        ("llama-2-7b", "Q4_0", "apple-m3-max-40c", 512, 0, None, 759.7),
        ("llama-2-7b", "F16", "apple-m3-max-40c", 512, 0, None, 779.17),
        # held out. RTX 3080 Ti, Llama 3 8B Q4_K_M pp512, May 2024 build: before llama.cpp PR #8075 quantised weights
        # were dequantised to FP16 for cuBLAS (XiongjieDai/GPU-Benchmarks-on-LLM-Inference README, commit 00dd2bd).
        ("llama-3-8b", "Q4_K_M", "rtx-3080-ti", 512, 0, "dequant-f16", 3690.30),
        # fitted. DGX Spark gpt-oss-20b MXFP4 pp2048 at n_ubatch 2048 (llama.cpp benches/dgx-spark.md, 2f68ce7cf).
        ("gpt-oss-20b", "MXFP4", "dgx-spark", 2048, 2048, None, 3782.76),
        # fitted. RTX 4090, LLaMA 3 8B Q4_0 pp512 at n_ubatch 16 / 64 / 512: the small-ubatch cost is the weights
        # streamed per ubatch plus a fixed time, not a GEMM saturation (llama.cpp PR #7676, MMQ column, June 2024).
        ("llama-3-8b", "Q4_0", "rtx-4090", 512, 16, None, 1937.21),
        ("llama-3-8b", "Q4_0", "rtx-4090", 512, 64, None, 5420.06),
        ("llama-3-8b", "Q4_0", "rtx-4090", 512, 512, None, 10358.75),
    ],
)
def test_prefill_matches_published_llama_bench(model, quant, hw, tokens, ubatch, kernel, measured):
    got = _pp_tokens_per_s(model, quant, hw, tokens, ubatch, kernel)
    assert got == pytest.approx(measured, rel=0.15)


def test_moe_prefill_gains_more_from_a_larger_ubatch_than_dense():
    # Tokens routed to one expert per ubatch = ubatch x k / E: Qwen3-30B-A3B (128 experts, top 8) gets 32 at 512 and
    # 128 at 2048, so its grouped expert GEMMs saturate far better; a dense 7B's matrices are nearly saturated at 512
    # and gain only the fixed time and weight reads of the ubatches saved.
    moe = [_pp_tokens_per_s("qwen3-30b-a3b", "Q8_0", "dgx-spark", 2048, ub) for ub in (512, 2048)]
    dense = [_pp_tokens_per_s("llama-2-7b", "Q4_0", "dgx-spark", 2048, ub) for ub in (512, 2048)]
    assert moe[1] / moe[0] > 1.5
    assert 1.0 < dense[1] / dense[0] < 1.3
    assert moe[1] / moe[0] > dense[1] / dense[0] + 0.3


def test_old_builds_dequantise_to_fp16_and_run_slower_than_mmq():
    # Same GPU and file: the pre-PR #8075 path (dequantise + FP16 cuBLAS) is slower than today's int8 MMQ, as the
    # RTX 4090 rows show (Q8_0 pp512 7664 in PR #4766, Jan 2024; Q4_0 11993 in discussion #15013, 2025).
    old = _pp_tokens_per_s("llama-2-7b", "Q4_0", "rtx-4090", 512, kernel="dequant-f16")
    new = _pp_tokens_per_s("llama-2-7b", "Q4_0", "rtx-4090", 512)
    assert 1.2 < new / old < 1.8


def test_cuda_fixed_time_per_ubatch_is_llama_cpp_on_nvidia_only():
    m = _model("llama-2-7b")
    cuda = build_step(m, "Q4_0", _device("rtx-4090"), "llama.cpp")
    assert cuda.prefill_overhead_s > 0
    assert build_step(m, "Q4_0", _device("apple-m2-ultra-76c"), "llama.cpp").prefill_overhead_s == 0
    assert build_step(m, "BF16", DEV("h100-80gb-sxm"), "vllm").prefill_overhead_s == 0
    # it weighs most on the fastest GPUs: a larger share of a 4090's pp512 than of a 3070's
    share = []
    for hw in ("rtx-4090", "rtx-3070"):
        step = build_step(m, "Q4_0", _device(hw), "llama.cpp")
        share.append(step.prefill_overhead_s / prefill_s(step, 512))
    assert share[0] > 1.5 * share[1]


def test_metal_k_quants_are_slower_than_q4_0_but_not_by_the_decode_factor():
    # XiongjieDai README (May 2024), M2 Ultra 76-core, Llama 3 8B pp512: Q4_K_M 994.04 vs F16 1175.40, i.e. 0.85.
    m = _model("llama-3-8b")
    dev = _device("apple-m2-ultra-76c")
    kq, f16 = (512 / prefill_s(build_step(m, q, dev, "llama.cpp"), 512) for q in ("Q4_K_M", "F16"))
    assert 0.65 < kq / f16 < 0.95


def test_an_unknown_prefill_kernel_is_refused():
    with pytest.raises(ValueError, match="prefill kernel must be one of"):
        build_step(_model("llama-2-7b"), "Q4_0", _device("rtx-4090"), "llama.cpp", prefill_kernel="cublas")
