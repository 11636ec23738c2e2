"""Derived parameter counts (calculators/tensors.py) against published totals, and inventory edge cases."""

from __future__ import annotations

import pytest

from calculators.tensors import param_counts, text_tensors
from model_specs.loader import DATA_DIR, load_file
from model_specs.schema import ModelFamily, ModelSpec


def _models() -> dict[str, ModelSpec]:
    out = {}
    for name in ("gemma4.yaml", "gemma3.yaml", "gemma3n.yaml"):
        for m in load_file(DATA_DIR / name, ModelFamily).models:
            out[m.id] = m
    return out


M = _models()


def _b(x: int) -> float:
    return x / 1e9


def test_gemma3_270m_exact():
    # Google Developers Blog "Introducing Gemma 3 270M" / HF safetensors metadata: 268,098,176 parameters
    # (shared/reference/gemma-family.md s2.1). Exact: embeddings + attention + MLP + every norm.
    assert param_counts(M["gemma-3-270m"]).total_params == 268_098_176


@pytest.mark.parametrize(
    ("mid", "text_b", "tol_b"),
    [
        # Gemma 3 tech-report table (gemma-family.md s2.1, S23): 1B = 302M emb + 698M non-emb; text parts of
        # 4B = 675M + 3.2B, 12B = 1.0B + 10.8B, 27B = 1.4B + 25.6B (figures rounded to 0.1B).
        ("gemma-3-1b", 1.0, 0.01),
        ("gemma-3-4b", 0.675 + 3.2, 0.06),
        ("gemma-3-12b", 1.0 + 10.8, 0.06),
        ("gemma-3-27b", 1.4 + 25.6, 0.06),
    ],
)
def test_gemma3_text_params(mid, text_b, tol_b):
    assert _b(param_counts(M[mid]).text_params) == pytest.approx(text_b, abs=tol_b)


def test_gemma3_totals_with_vision():
    # Tech report totals incl. the 417M SigLIP encoder: 4.3B / 12.2B / 27.4B (gemma-family.md s2.1).
    for mid, total in (("gemma-3-4b", 4.3), ("gemma-3-12b", 12.2), ("gemma-3-27b", 27.4)):
        assert _b(param_counts(M[mid]).total_params) == pytest.approx(total, abs=0.05)


def test_gemma3_embedding_split():
    # Tech report: 1B has 302M embedding parameters (262144 x 1152), 4B 675M (262208 x 2560).
    assert param_counts(M["gemma-3-1b"]).embedding_params == pytest.approx(302e6, rel=0.001)
    assert param_counts(M["gemma-3-4b"]).embedding_params == pytest.approx(675e6, rel=0.008)


def test_gemma4_31b_and_26b():
    # Model card (gemma-family.md s1.1): 31B = "30.7B"; 26B A4B = "25.2B" total, "3.8B" active.
    # llama-bench prints 30.70 B and 25.23 B for these text GGUFs (public benchmark logs).
    p31 = param_counts(M["gemma-4-31b"])
    assert _b(p31.text_params) == pytest.approx(30.70, abs=0.01)
    assert p31.active_params_per_token == p31.text_params  # dense
    p26 = param_counts(M["gemma-4-26b-a4b"])
    assert _b(p26.text_params) == pytest.approx(25.23, abs=0.01)
    assert _b(p26.active_params_per_token) == pytest.approx(3.8, abs=0.05)
    # Routed experts 128 x 3 x 2816 x 704 x 30 layers (gemma-family.md s1.4 prints 22.849B; the product is 22.838B).
    assert p26.routed_expert_params == 128 * 3 * 2816 * 704 * 30


def test_gemma4_edge_models():
    # Card: E2B "2.3B effective (5.1B with embeddings)", E4B "8B with embeddings" (encoders included);
    # text GGUF parameter counts reported by llama.cpp: 4.65B (E2B) and 7.52B (E4B) (gemma-family.md s1.4).
    e2, e4 = param_counts(M["gemma-4-e2b"]), param_counts(M["gemma-4-e4b"])
    assert _b(e2.effective_params) == pytest.approx(2.3, abs=0.02)
    assert _b(e2.total_params) == pytest.approx(5.1, abs=0.05)
    assert _b(e2.text_params) == pytest.approx(4.65, abs=0.005)
    assert _b(e4.text_params) == pytest.approx(7.52, abs=0.005)
    assert _b(e4.total_params) == pytest.approx(8.0, abs=0.1)
    # PLE table = vocab 262144 x layers x 256.
    assert e2.ple_params == 262144 * 35 * 256
    # E4B "4.5B effective" does not reconcile with the config (4.70B); documented in gemma4.yaml notes.
    assert _b(e4.effective_params) == pytest.approx(4.70, abs=0.01)


def test_gemma3n_effective():
    # google/gemma3n-slicing-configs (gemma-family.md s3): effective 1.91B (E2B) and 3.98B (E4B). For 3n the
    # published "effective" excludes the token embedding as well as the PLE table; AltUp/LAuReL (~40M, not in
    # the spec) are missing, hence a 3 % tolerance.
    for mid, eff in (("gemma-3n-e2b", 1.91), ("gemma-3n-e4b", 3.98)):
        p = param_counts(M[mid])
        assert _b(p.effective_params - p.embedding_params) == pytest.approx(eff, rel=0.03)


def _tiny(**text_over) -> ModelSpec:
    text = {
        "num_layers": 4,
        "hidden_size": 64,
        "intermediate_size": 128,
        "vocab_size": 1000,
        "tie_word_embeddings": True,
        "attention": {
            "num_heads": 4,
            "layer_types": "SFSF",
            "sliding": {"kv_heads": 2, "head_dim": 16},
            "full": {"kv_heads": 1, "head_dim": 32},
            "sliding_window_tokens": 8,
        },
    }
    text.update(text_over)
    return ModelSpec.model_validate(
        {
            "id": "tiny",
            "name": "tiny",
            "family": "test",
            "modalities": ["text"],
            "context_tokens": 1024,
            "text": text,
            "source": "test",
        }
    )


def test_tiny_dense_counts_by_hand():
    m = _tiny()
    p = param_counts(m)
    emb = 1000 * 64
    att_s = 64 * 64 + 2 * 64 * 32 + 64 * 64  # q (4x16), k, v (2x16), o
    att_f = 64 * 128 + 2 * 64 * 32 + 128 * 64  # q (4x32), k, v (1x32), o
    mlp = 3 * 64 * 128
    norms = 4 * 2 * 64 + 64  # attn_norm + ffn_norm per layer, output_norm
    assert p.text_params == emb + 2 * att_s + 2 * att_f + 4 * mlp + norms
    assert p.output_params == 0 and p.ple_params == 0


def test_untied_output_and_k_eq_v():
    m = _tiny(
        tie_word_embeddings=False,
        attention={"num_heads": 4, "layer_types": "FFFF", "full": {"kv_heads": 1, "head_dim": 16, "k_eq_v": True}},
    )
    names = {t.name for t in text_tensors(m)}
    assert "output.weight" in names
    assert not any(n.endswith("attn_v.weight") for n in names)  # K=V layers have no V projection
    assert param_counts(m).output_params == 1000 * 64


def test_moe_active_and_per_layer_widths():
    m = _tiny(
        intermediate_size=[128, 128, 256, 0],
        moe={
            "num_experts": 8,
            "experts_per_token": 2,
            "expert_intermediate_size": 32,
            "shared_experts": 1,
            "shared_expert_intermediate_size": 48,
        },
    )
    p = param_counts(m)
    routed = 4 * 8 * 3 * 64 * 32
    assert p.routed_expert_params == routed
    assert p.text_params - p.active_params_per_token == routed - routed * 2 // 8
    downs = {t.layer: t.shape for t in text_tensors(m) if t.kind == "ffn_down"}
    assert downs == {0: (128, 64), 1: (128, 64), 2: (256, 64)}  # layer 3 has no dense MLP


def test_ple_tensors_and_kv_shared_layers_keep_projections():
    m = _tiny(
        per_layer_embedding={"dim": 8, "vocab_size": 500},
        attention={
            "num_heads": 4,
            "layer_types": "SFSF",
            "sliding": {"kv_heads": 2, "head_dim": 16},
            "full": {"kv_heads": 1, "head_dim": 32},
            "sliding_window_tokens": 8,
            "kv_shared_layers": 2,
        },
    )
    ts = {t.name: t for t in text_tensors(m)}
    assert ts["per_layer_token_embd.weight"].shape == (4 * 8, 500)
    assert ts["per_layer_model_proj.weight"].shape == (64, 32)
    assert ts["blk.3.attn_k.weight"].shape == (64, 32)  # a KV-shared layer still has its k projection
    p = param_counts(m)
    assert p.ple_params == 4 * 8 * 500
    assert p.effective_params == p.text_params - p.ple_params


def test_per_model_memo_keys_on_identity_and_arguments():
    from calculators.tensors import cached_per_model

    calls = []

    @cached_per_model(maxsize=2)
    def size(model: ModelSpec, scale: int = 1) -> int:
        calls.append((model.id, scale))
        return model.text.hidden_size * scale

    a, b = _tiny(), _tiny()  # equal content, different objects: separate entries
    assert size(a) == size(a) == 64 and size(b, 2) == 128
    assert calls == [("tiny", 1), ("tiny", 2)]
    size(a, 3)  # a third entry evicts the least recently used one, (a, 1)
    size(b, 2)
    assert len(calls) == 3
    size(a)
    assert len(calls) == 4
    size.cache_clear()
    size(b, 2)
    assert len(calls) == 5
    assert text_tensors(a) is text_tensors(a)
