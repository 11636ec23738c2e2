"""The memory page renders for every catalog variant and handles a bad uploaded config (AppTest): the upload is
the "Bring your own model" section's (ui/byo_model.py)."""

from __future__ import annotations

import json
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


def test_an_ecc_card_shows_the_memory_its_driver_reports_with_its_source():
    at = _run({"model": "gemma-4-e4b", "hw": "a10g"})
    assert not at.exception, [e.value for e in at.exception]
    usable = [m.value for m in at.markdown if "Usable memory on" in m.value]
    assert usable and "22.49 GiB" in usable[0] and "the 23,028 MiB the driver reports" in usable[0], usable
    assert "NVIDIA/DCGM/issues/232" in usable[0] and "not the 24 GB GDDR6 on the label" in usable[0]


def _upload(content: bytes, name: str = "config.json") -> AppTest:
    at = _run({"model": "gemma-4-e4b"})
    at.file_uploader(key="byo_upload").upload(name, content, "application/json")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


TINY = {"model_type": "llama", "num_hidden_layers": 4, "hidden_size": 64, "num_attention_heads": 4, "vocab_size": 1000}


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"hello, not json", "not a JSON file"),
        (b"[1, 2, 3]", "must be a JSON object"),
        (
            json.dumps({"added_tokens": [], "model": {}}).encode(),
            "missing or non-positive-integer fields num_hidden_layers",
        ),
        (json.dumps({"model_type": "mamba", "hidden_size": 768}).encode(), "cannot size model_type 'mamba'"),
        # Malformed values hf_import does not turn into a ValueError itself.
        (json.dumps({**TINY, "num_attention_heads": 0}).encode(), "cannot be sized"),
        (json.dumps({**TINY, "sliding_window": 8, "sliding_window_pattern": [1]}).encode(), "cannot be sized"),
    ],
)
def test_upload_that_cannot_be_sized_shows_the_reason(content, reason):
    at = _upload(content, "bad.json")
    notices = [w.value for w in at.warning if "cannot be sized" in w.value]
    assert len(notices) == 1 and notices[0].startswith("bad.json cannot be sized") and reason in notices[0], notices
    assert "\n" not in notices[0] and "Showing Gemma 4 E4B from the sidebar instead" in notices[0]
    assert not at.error and not at.success
    assert "Weights" in [m.label for m in at.metric]  # the sidebar's model is still sized


def test_upload_of_unknown_architecture_warns_it_is_approximate():
    at = _upload(json.dumps({**TINY, "model_type": "mamba"}).encode())
    assert not at.error
    assert any("Sizing the uploaded model: 4 layers" in s.value for s in at.success)
    assert any("model_type 'mamba' is not one the importer knows" in w.value for w in at.warning)


def test_upload_with_a_context_below_the_chart_ladder():
    # max_position_embeddings 512 is below the first point (1024) of the KV-against-context chart.
    at = _upload(json.dumps({**TINY, "max_position_embeddings": 512}).encode())
    assert not at.error
    assert any("supports at most 512 tokens" in i.value for i in at.info)
