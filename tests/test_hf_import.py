"""The HF config.json importer on real config files (tests/fixtures/hf_configs, sources in its README.txt)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model_specs.hf_import import model_from_hf_config, model_from_hf_json

CONFIGS = Path(__file__).parent / "fixtures" / "hf_configs"


def load(name: str):
    return model_from_hf_config(json.loads((CONFIGS / f"{name}.json").read_text()), model_id=name)


def test_llama_3_8b_dense_gqa():
    m = load("llama-3-8b")
    att = m.text.attention
    assert (m.text.num_layers, m.text.hidden_size, att.num_heads, att.full.kv_heads, att.full.head_dim) == (
        32,
        4096,
        32,
        8,
        128,
    )
    assert att.layer_types == "F" * 32 and att.sliding is None
    assert not m.text.tie_word_embeddings and m.text.moe is None and m.modalities == ["text"]


def test_mistral_window_sized_as_llama_cpp_allocates_it():
    # llama.cpp ignores Mistral's 4096 window: 8192 ctx logs 1024 MiB of f16 KV (shared/reference/measurements.md s.2)
    m = load("mistral-7b-v0.1")
    assert m.text.attention.layer_types == "F" * 32
    assert "sliding_window=4096" in (m.notes or "")


def test_qwen2_without_sliding_window_is_all_global():
    m = load("qwen2.5-7b")
    assert m.text.attention.layer_types == "F" * 28 and m.text.attention.full.kv_heads == 4
    assert m.context_tokens == 131072


def test_qwen3_moe_experts():
    m = load("qwen3-30b-a3b")
    moe = m.text.moe
    assert (moe.num_experts, moe.experts_per_token, moe.expert_intermediate_size, moe.shared_experts) == (
        128,
        8,
        768,
        0,
    )
    assert m.text.intermediate_sizes() == [0] * 48  # every layer sparse: no dense MLP
    assert m.text.attention.full.head_dim == 128  # explicit head_dim, not hidden/heads = 64


def test_phi3_mha():
    m = load("phi-3-mini-4k")
    assert m.text.attention.full.kv_heads == 32 and m.text.attention.full.head_dim == 96


def test_gemma2_alternates_sliding_and_global():
    m = load("gemma-2-9b")
    assert m.text.attention.layer_types == "SF" * 21
    assert m.text.attention.sliding_window_tokens == 4096 and m.text.tie_word_embeddings


def test_gemma3_nested_config_uses_class_defaults():
    m = load("gemma-3-4b-it")
    att = m.text.attention
    assert m.text.vocab_size == 262208 and att.num_heads == 8 and att.full.kv_heads == 4
    assert att.layer_types.count("F") == 5 and att.layer_types[5] == "F" and att.sliding_window_tokens == 1024
    assert "image" in m.modalities
    # SigLIP 27 x (4h^2 + 2 h ffn) = 411M, vs ~417M published (S23): within 2 %
    assert m.vision.params == pytest.approx(417e6, rel=0.02)


def test_gemma4_moe_global_heads_k_eq_v():
    m = load("gemma-4-26b-a4b-it")
    att, moe = m.text.attention, m.text.moe
    assert (att.sliding.kv_heads, att.full.kv_heads, att.full.head_dim, att.full.k_eq_v) == (8, 2, 512, True)
    assert (moe.num_experts, moe.experts_per_token, moe.expert_intermediate_size) == (128, 8, 704)
    assert moe.shared_expert_intermediate_size == 2112 and m.text.intermediate_sizes() == [0] * 30


def test_gemma4_e2b_ple_kv_sharing_double_wide_mlp():
    m = load("gemma-4-e2b-it")
    assert m.text.attention.kv_shared_layers == 20
    assert m.text.per_layer_embedding.dim == 256
    sizes = m.text.intermediate_sizes()
    assert sizes[:15] == [6144] * 15 and sizes[15:] == [12288] * 20
    assert set(m.modalities) == {"text", "image", "audio"}


def test_gpt_oss_experts_and_alternating_window():
    m = load("gpt-oss-20b")
    assert m.text.attention.layer_types == "SF" * 12 and m.text.attention.sliding_window_tokens == 128
    assert (m.text.moe.num_experts, m.text.moe.experts_per_token) == (32, 4)


def test_unknown_architecture_names_missing_fields():
    with pytest.raises(ValueError, match=r"model_type 'mamba'.*num_attention_heads"):
        model_from_hf_config({"model_type": "mamba", "hidden_size": 768, "num_hidden_layers": 24, "vocab_size": 50280})


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_not_a_config_is_a_clear_error(raw):
    with pytest.raises(ValueError, match="JSON"):
        model_from_hf_json(raw)


def test_layer_types_length_mismatch():
    cfg = json.loads((CONFIGS / "gpt-oss-20b.json").read_text())
    cfg["num_hidden_layers"] = 23
    with pytest.raises(ValueError, match="layer_types has 24 entries"):
        model_from_hf_config(cfg)


@pytest.mark.parametrize(
    ("name", "params_b"),
    [
        # llama-bench "params" column, shared/reference/measurements.md s.1 and s.4 (llama.cpp benches/dgx-spark.md)
        ("qwen2.5-7b", 7.62),
        ("qwen3-30b-a3b", 30.53),
        ("gpt-oss-20b", 20.91),
    ],
)
def test_imported_configs_reproduce_llama_bench_param_counts(name, params_b):
    from calculators.tensors import param_counts

    assert param_counts(load(name)).text_params / 1e9 == pytest.approx(params_b, rel=0.005)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"num_attention_heads": 0}, "num_attention_heads"),
        ({"num_key_value_heads": "eight"}, "num_key_value_heads must be positive integers"),
        ({"sliding_window": [4096]}, "sliding_window must be positive integers"),
        ({"hidden_size": True}, "hidden_size"),
    ],
)
def test_malformed_values_are_named(change, message):
    cfg = {**json.loads((CONFIGS / "mistral-7b-v0.1.json").read_text()), **change}
    with pytest.raises(ValueError, match=message):
        model_from_hf_config(cfg)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 300_000) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(p.stem for p in CONFIGS.glob("*.json"))),
    changes=st.dictionaries(
        st.sampled_from(
            [
                "num_hidden_layers",
                "hidden_size",
                "num_attention_heads",
                "num_key_value_heads",
                "head_dim",
                "intermediate_size",
                "vocab_size",
                "sliding_window",
                "layer_types",
                "num_experts",
                "num_local_experts",
                "num_experts_per_tok",
                "moe_intermediate_size",
                "tie_word_embeddings",
                "num_kv_shared_layers",
                "text_config",
                "vision_config",
                "max_position_embeddings",
            ]
        ),
        JSON_VALUES,
        max_size=3,
    ),
)
def test_any_malformed_config_gives_a_value_error_or_a_model(name, changes):
    """Whatever a config.json holds, the importer returns a model or says why not: never another exception."""
    cfg = json.loads((CONFIGS / f"{name}.json").read_text())
    target = cfg["text_config"] if isinstance(cfg.get("text_config"), dict) else cfg
    target.update(changes)
    try:
        m = model_from_hf_config(cfg)
    except ValueError as e:
        assert str(e) and "\n" not in str(e)  # one readable line for the page and the CLI
    else:
        assert len(m.text.attention.layer_types) == m.text.num_layers
