"""The memory page renders for every catalog variant and handles a bad uploaded config (AppTest)."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from model_specs import load_catalog

ROOT = Path(__file__).resolve().parents[1]


def _run(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/memory.py")
    at.run()
    return at


@pytest.mark.parametrize("model_id", sorted(load_catalog().models))
def test_memory_page_renders_for_every_variant(model_id):
    at = _run({"model": model_id, "ctx": "8192"})
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Memory"
    labels = [m.label for m in at.metric]
    assert "Weights" in labels and "KV cache" in labels


def test_unsupported_quant_engine_shows_a_message():
    at = _run({"model": "gemma-4-e4b", "quant": "AWQ", "engine": "llama.cpp"})
    assert not at.exception
    assert any("not supported by llama.cpp" in w.value for w in at.warning)


def test_vllm_engine_shows_blocks():
    at = _run({"model": "gemma-4-26b-a4b", "quant": "BF16", "engine": "vllm", "hw": "h100-80gb-sxm", "kv": "bf16"})
    assert not at.exception, [e.value for e in at.exception]
    assert any("blocks per request" in m.value for m in at.markdown)
