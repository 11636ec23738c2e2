"""The header reader against llama.cpp itself: a custom-recipe GGUF loaded by the real llama.cpp (llama-cpp-python)
reports the same model size (llama_model_size: the sum of its tensors' bytes) and parameter count."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.gguf_reference import spec
from model_specs.gguf_arch import model_from_gguf
from model_specs.gguf_header import read_local
from tests.gguf_files import model_metadata, recipe, write_gguf
from tests.probe.tiny_model import BOS, EOS, UNK, vocab

llama_cpp = pytest.importorskip("llama_cpp")

TOKENS, SCORES, TYPES = vocab()
MODEL = spec("llcpp-tiny", "llama", layers=3, hidden=256, ff=512, vocab=len(TOKENS), heads=4, kv=2, ctx=2048)
MIX = {"token_embd.weight": "Q8_0", "blk.0.ffn_down.weight": "Q6_K", "blk.1.attn_q.weight": "IQ4_XS",
       "blk.2.ffn_up.weight": "Q2_K", "output.weight": "Q5_K"}  # fmt: skip


def _write(path: Path) -> Path:
    md = model_metadata(MODEL, "llama") | {
        "llama.attention.layer_norm_rms_epsilon": 1e-5,
        "llama.rope.dimension_count": 64,
        "tokenizer.ggml.model": "llama",
        "tokenizer.ggml.tokens": TOKENS,
        "tokenizer.ggml.scores": SCORES,
        "tokenizer.ggml.token_type": TYPES,
        "tokenizer.ggml.unknown_token_id": UNK,
        "tokenizer.ggml.bos_token_id": BOS,
        "tokenizer.ggml.eos_token_id": EOS,
    }
    write_gguf(path, "llama", md, recipe(MODEL, "Q4_K_M", MIX), ftype="Q4_K_M")
    return path


def test_llama_cpp_agrees_on_size_and_parameters(tmp_path):
    path = _write(tmp_path / "llcpp-tiny-Q4_K_M.gguf")
    f = read_local(path)
    assert {t.ggml_type for t in f.tensors} >= {"Q8_0", "Q6_K", "IQ4_XS", "Q2_K", "Q5_K", "Q4_K", "F32"}
    llm = llama_cpp.Llama(model_path=str(path), n_ctx=256, n_gpu_layers=0, verbose=False)
    try:
        size = llama_cpp.llama_model_size(llm.model)
        n_params = llama_cpp.llama_model_n_params(llm.model)
    finally:
        llm.close()
    assert size == f.tensor_bytes
    assert n_params == sum(t.n_params for t in f.tensors)
    m = model_from_gguf(f)
    assert m.text == MODEL.text
