"""The Speed page renders for several scenarios (AppTest) and shows the forecast with its range."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def speed_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/speed.py")
    at.run()
    return at


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"model": "gemma-4-26b-a4b", "hw": "h100-80gb-sxm", "conc": "16", "engine": "vllm"},
        {"model": "gemma-4-31b", "quant": "BF16", "hw": "rtx-4090", "ctx": "4096"},
        {"model": "gemma-4-e2b", "hw": "m4-max-128gb", "ctx": "32768"},
    ],
)
def test_speed_page_renders(query):
    at = speed_page(query)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Speed"
    labels = [m.label for m in at.metric]
    assert "Decode (tokens/s per user)" in labels and "Time to first token" in labels
    decode = next(m for m in at.metric if m.label.startswith("Decode"))
    assert float(decode.value.replace(",", "")) > 0
    assert len(at.dataframe) >= 1


def test_output_tokens_widget_changes_end_to_end_time():
    at = speed_page()
    e2e_before = next(m for m in at.metric if m.label == "End to end").value
    at.number_input(key="speed_output").set_value(1024).run()
    assert not at.exception
    assert next(m for m in at.metric if m.label == "End to end").value != e2e_before


def test_probe_measurement_shows_and_can_replace_the_fit(tmp_path, monkeypatch):
    from probe.store import ProbeStore

    url = f"sqlite:///{tmp_path / 'probe.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = ProbeStore(url)
    run_id = store.start_run("http://127.0.0.1:8080", "openai", "gemma-4-e4b", {"concurrency": [1]})
    summary = {"runs": [{"concurrency": 1, "ok": True, "tpot_s": {"p50": 0.01}, "ttft_s": {"p50": 0.05}}]}
    store.finish_run(run_id, summary, "done")
    store.close()
    at = speed_page({"model": "gemma-4-e4b", "hw": "rtx-4090"})
    assert not at.exception, [e.value for e in at.exception]
    assert any("100.0 tokens/s at concurrency 1" in c.value for c in at.caption)
    at.toggle(key="speed_use_probe").set_value(True).run()
    assert not at.exception
    decode = next(m for m in at.metric if m.label.startswith("Decode"))
    assert 90 < float(decode.value.replace(",", "")) < 110  # the forecast now follows the measurement
    assert any("taken from a measurement" in i.value for i in at.info)


def test_aggregate_metric_counts_users_in_plain_english():
    assert "Aggregate tokens/s (1 user)" in [m.label for m in speed_page({"conc": "1"}).metric]
    assert "Aggregate tokens/s (16 users)" in [m.label for m in speed_page({"conc": "16"}).metric]


def test_unreadable_probe_store_is_a_warning_not_a_traceback(monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "not a database url")
    at = speed_page()
    assert not at.exception, [e.value for e in at.exception]
    assert any("Stored probe runs cannot be read" in w.value for w in at.warning)
    assert float(next(m for m in at.metric if m.label.startswith("Decode")).value.replace(",", "")) > 0


def test_context_beyond_the_models_maximum_is_shown_at_the_maximum():
    at = speed_page({"model": "gemma-3-270m", "ctx": "131072"})  # 270M supports 32K tokens
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert any("at most 32,768 tokens" in i.value for i in at.info)
    assert float(next(m for m in at.metric if m.label.startswith("Decode")).value.replace(",", "")) > 0


def test_linked_request_longer_than_the_context_is_capped_with_a_notice():
    at = speed_page({"ctx": "4096", "prompt": "9000", "out_tok": "500"})
    assert not at.exception
    assert any("showing 4,095 prompt and 1 output tokens" in i.value for i in at.info)
    assert at.number_input(key="speed_prompt").value == 4095


def test_cpu_threads_input_shows_only_for_a_catalog_cpu_and_moves_the_forecast():
    assert "speed_threads" not in [n.key for n in speed_page().number_input]  # RTX 4090: no threads
    assert "speed_threads" not in [n.key for n in speed_page({"hw": "laptop-ddr5-16gb"}).number_input]
    at = speed_page({"hw": "core-i5-13600k"})
    assert not at.exception, [e.value for e in at.exception]
    threads = at.number_input(key="speed_threads")
    assert threads.value == 6  # llama.cpp's own choice on a 6P + 8E part: the P-cores
    decode_default = float(next(m for m in at.metric if m.label.startswith("Decode")).value)
    threads.set_value(2).run()
    assert not at.exception
    assert float(next(m for m in at.metric if m.label.startswith("Decode")).value) < 0.85 * decode_default
    assert any("2 threads on 14 cores" in i.value for i in at.info)
    method = next(e for e in at.expander if "How the forecast" in e.label)
    text = " ".join(m.value for m in method.markdown)
    assert "CPU decode model" in text and "| Cores / hardware threads | 14 / 20 |" in text
    assert "[source](https://www.intel.com/content/www/us/en/products/sku/230493/" in text  # each fact's source


def test_cached_prefix_input_cuts_ttft_goes_into_the_link_and_is_capped_at_the_prompt():
    at = speed_page({"model": "gemma-4-e4b", "engine": "vllm", "quant": "BF16", "hw": "rtx-4090", "prompt": "2048"})
    assert not at.exception, [e.value for e in at.exception]
    ttft = float(next(m for m in at.metric if m.label.startswith("Time to first")).value.split()[0].replace(",", ""))
    at.number_input(key="speed_prefix").set_value(1920).run()
    assert not at.exception
    cached = float(next(m for m in at.metric if m.label.startswith("Time to first")).value.split()[0].replace(",", ""))
    assert cached < 0.6 * ttft  # 1,920 of 2,048 prompt tokens need no prefill (the API server's time remains)
    assert at.session_state["scenario"].pfx == 1920  # the link carries it (ui/state.py writes the query from it)
    capped = speed_page({"ctx": "4096", "prompt": "512", "pfx": "9000"})
    assert any("showing 512 prompt, 512 of them cached, and" in i.value for i in capped.info)
    assert capped.number_input(key="speed_prefix").value == 512
