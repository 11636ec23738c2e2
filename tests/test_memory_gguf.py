"""GGUF sizing (calculators/gguf.py) against sizes llama.cpp reports for real files, and the per-tensor rules."""

from __future__ import annotations

import statistics

import pytest

from bench.gguf_reference import GPT_OSS_20B, LLAMA2_7B, LLAMA3_70B, MIXTRAL_8X7B, QWEN25_7B, size_rows
from calculators import gguf
from calculators.tensors import text_tensors

GiB = 1 << 30


def _gib(model, ftype, **kw) -> float:
    return gguf.gguf_size(model, ftype, **kw).total_bytes / GiB


@pytest.mark.parametrize(
    ("model", "ftype", "published_gib"),
    [
        # shared/reference/measurements.md s1 (llama.cpp discussion #4167 / PR #4766): Llama-2-7B
        (LLAMA2_7B, "F16", 12.55),
        (LLAMA2_7B, "Q8_0", 6.67),
        (LLAMA2_7B, "Q4_0", 3.56),
        # measurements.md s1 (llama.cpp benches/dgx-spark.md): Qwen2.5-Coder-7B Q8_0, gpt-oss 20B MXFP4
        (QWEN25_7B, "Q8_0", 7.54),
        (GPT_OSS_20B, "MXFP4_MOE", 11.27),
    ],
)
def test_measurements_section1(model, ftype, published_gib):
    # llama-bench prints two decimals: the estimate must round to the printed value (+-0.005 GiB, 0.2 %).
    assert _gib(model, ftype) == pytest.approx(published_gib, abs=0.005)


def test_gpt_oss_120b_and_gemma3_qat():
    from bench.gguf_reference import GPT_OSS_120B

    # measurements.md s1 (benches/dgx-spark.md): gpt-oss 120B MXFP4 59.02 GiB.
    assert _gib(GPT_OSS_120B, "MXFP4_MOE") == pytest.approx(59.02, abs=0.005)
    # measurements.md s1: ggml-org/gemma-3-4b-it-qat-GGUF Q4_0 2.35 GiB. That file keeps the tied embedding in
    # Q8_0; llama-quantize's own rule would give Q6_K (2.19 GiB).
    gemma = next(r.model for r in size_rows() if r.model.id == "gemma-3-4b")
    assert _gib(gemma, "Q4_0", token_embedding_type="Q8_0") == pytest.approx(2.35, abs=0.005)
    assert _gib(gemma, "Q4_0") == pytest.approx(2.195, abs=0.006)


def test_published_sizes_accuracy():
    # Issue #3 goal: within 1 % median and 3 % worst of llama.cpp-reported sizes, over files made with the default
    # llama-quantize rules (rows with other recipes are listed in bench/bench_gguf_sizes.py but not scored).
    errs = [abs(_gib(r.model, r.ftype, **dict(r.options)) / r.size_gib - 1) for r in size_rows() if r.scored]
    assert len(errs) >= 25
    assert statistics.median(errs) < 0.01
    assert max(errs) < 0.03


def test_q4_k_m_rules_llama2():
    # Llama-2-7B Q4_K_M: output Q6_K, attn_v and ffn_down Q6_K on the use_more_bits layers (16 of 32 each),
    # everything else Q4_K (llama.cpp src/llama-quant.cpp llama_tensor_get_type_impl).
    size = gguf.gguf_size(LLAMA2_7B, "Q4_K_M")
    types = {name: t for name, t, _ in size.tensor_types}
    assert types["output.weight"] == "Q6_K"
    assert types["token_embd.weight"] == "Q4_K"
    v6 = [i for i in range(32) if types[f"blk.{i}.attn_v.weight"] == "Q6_K"]
    assert v6 == [i for i in range(32) if gguf.use_more_bits(i, 32)] and len(v6) == 16
    assert types["blk.0.attn_norm.weight"] == "F32"


def test_fallback_for_rows_not_divisible_by_256():
    # Gemma 4 26B: ffn_down rows of 2112 (dense) and 704 (experts) are not multiples of 256, so Q4_K falls back to
    # Q5_0 and Q6_K to Q8_0 (tensor_type_fallback); Gemma 3 270M (hidden 640) falls back almost everywhere.
    g26 = next(r.model for r in size_rows() if r.model.id == "gemma-4-26b-a4b")
    types = {n: t for n, t, _ in gguf.gguf_size(g26, "Q4_K_M").tensor_types}
    assert types["blk.0.ffn_down_exps.weight"] == "Q8_0"  # layer 0 is a use_more_bits layer: Q6_K -> Q8_0
    assert not gguf.use_more_bits(4, 30)
    assert types["blk.4.ffn_down_exps.weight"] == "Q5_0"  # Q4_K -> Q5_0
    assert types["blk.5.ffn_gate_exps.weight"] == "Q4_K"  # rows of 2816 = 11 x 256 quantise normally


def test_eight_expert_rules_and_70b_bump():
    mix = {n: t for n, t, _ in gguf.gguf_size(MIXTRAL_8X7B, "Q4_K_M").tensor_types}
    assert mix["blk.3.attn_v.weight"] == "Q8_0" and mix["blk.3.attn_k.weight"] == "Q8_0"
    assert mix["blk.3.attn_output.weight"] == "Q5_K"
    l70 = {n: t for n, t, _ in gguf.gguf_size(LLAMA3_70B, "Q4_K_M").tensor_types}
    # LLM_TYPE_70B: attn_v that would be Q4_K becomes Q5_K.
    assert {l70[f"blk.{i}.attn_v.weight"] for i in range(80)} == {"Q5_K", "Q6_K"}


def test_ple_table_rules_by_packager():
    e2b = next(r.model for r in size_rows() if r.model.id == "gemma-4-e2b")
    cur = {n: t for n, t, _ in gguf.gguf_size(e2b, "Q4_K_M").tensor_types}
    old = {n: t for n, t, _ in gguf.gguf_size(e2b, "Q4_K_M", rules="legacy").tensor_types}
    oll = {n: t for n, t, _ in gguf.gguf_size(e2b, "Q4_K_M", packager="ollama").tensor_types}
    assert cur["per_layer_token_embd.weight"] == "Q6_K"  # tied model: PLE table takes the output rule
    assert old["per_layer_token_embd.weight"] == "Q4_K"
    assert oll["per_layer_token_embd.weight"] == "BF16"  # Ollama never quantises it
    assert cur["per_layer_model_proj.weight"] == "BF16"  # excluded from quantisation by name


def test_every_tensor_gets_a_known_type_and_counts_match():
    for ftype in gguf.FTYPES:
        size = gguf.gguf_size(LLAMA2_7B, ftype)
        assert len(size.tensor_types) == len(text_tensors(LLAMA2_7B))
        assert all(t in gguf.GGML_TYPES for _, t, _ in size.tensor_types)
        assert size.total_bytes == sum(b for _, _, b in size.tensor_types)


def test_block_table_matches_bits_per_weight():
    # ggml-common.h: Q4_0 18 bytes / 32, Q8_0 34 / 32, Q4_K 144 / 256, Q5_K 176 / 256, Q6_K 210 / 256.
    bpw = {t: s * 8 / b for t, (b, s) in gguf.GGML_TYPES.items()}
    assert bpw["Q4_0"] == 4.5 and bpw["Q8_0"] == 8.5 and bpw["Q4_K"] == 4.5 and bpw["Q6_K"] == 6.5625


def test_unknown_ftype():
    with pytest.raises(ValueError, match="unknown GGUF type"):
        gguf.normalize_ftype("Q7_X")
    assert gguf.normalize_ftype("q4_k_m") == "Q4_K_M"


@pytest.mark.parametrize("ftype", ["Q4_K_M", "Q3_K_M", "Q4_K_S", "Q5_K_M", "Q2_K", "IQ2_XS", "IQ3_M", "IQ4_XS"])
def test_grouped_types_equal_per_tensor_walk(ftype):
    # gguf_size evaluates one representative per (role, shape, layer-selector) group; the plain per-tensor walk
    # (assign_types, which follows llama-quantize's order) must give the same type for every tensor.
    for r in size_rows()[:12] + size_rows()[-6:]:
        m = r.model
        walk = gguf.assign_types(text_tensors(m), ftype, gguf.model_quant_info(m))
        grouped = dict((n, ty) for n, ty, _ in gguf.gguf_size(m, ftype).tensor_types)
        assert [grouped[ts.name] for ts in text_tensors(m)] == walk, m.id


def test_ollama_library_sizes():
    from model_specs import load_catalog

    cat = load_catalog()
    # ollama.com/library/gemma4:26b-a4b-it-q8_0 lists "28GB" (25.8B params, vision included, GB = 1e9 rounded).
    from calculators.memory import weights

    w = weights(cat.model("gemma-4-26b-a4b"), "Q8_0", "ollama")
    assert round(w.total_bytes / 1e9) == 28
    # `ollama list` in a public README shows gemma3n:e4b (Q4_K_M, text only at release) as 7.5GB: Ollama keeps the
    # 2.35B-parameter PLE table in BF16 (a plain llama.cpp Q4_K_M of the same model is 4.8 GB).
    e4b = weights(cat.model("gemma-3n-e4b"), "Q4_K_M", "ollama", text_only=True)
    assert round(e4b.total_bytes / 1e9, 1) == 7.5
    assert round(weights(cat.model("gemma-3n-e4b"), "Q4_K_M", "llama.cpp", text_only=True).total_bytes / 1e9, 1) == 4.8
