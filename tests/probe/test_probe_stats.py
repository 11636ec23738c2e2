"""Statistics: vLLM bench serve definitions, percentiles, cold starts, the knee."""

from __future__ import annotations

import pytest

from probe.prompt import build_prompt
from probe.results import RequestResult
from probe.stats import detect_cold_start, find_knee, percentiles, summarize_level
from probe.summary import LevelSummary, levels_from_json


def ok(ttft: float, e2e: float, tokens: int, itl: list[float] | None = None, **kw: object) -> RequestResult:
    return RequestResult(ok=True, ttft_s=ttft, e2e_s=e2e, output_tokens=tokens, itl_s=itl or [], **kw)  # type: ignore[arg-type]


def test_percentiles_linear_interpolation() -> None:
    # numpy's default (linear) method on 1..10: p50 = 5.5, p90 = 9.1, p99 = 9.91.
    assert percentiles([float(v) for v in range(1, 11)]).model_dump() == pytest.approx(
        {"p50": 5.5, "p90": 9.1, "p99": 9.91, "mean": 5.5}
    )
    assert percentiles([]).model_dump() == {"p50": None, "p90": None, "p99": None, "mean": None}


def test_tpot_follows_vllm_definition() -> None:
    # vLLM bench serve: TPOT = (e2e - ttft) / (output_tokens - 1).
    assert ok(0.2, 1.2, 11).tpot_s == pytest.approx(0.1)
    assert ok(0.2, 1.2, 1).tpot_s is None


def test_level_summary_aggregate_and_per_user() -> None:
    rs = [ok(0.1, 1.1, 11, [0.1] * 10), ok(0.3, 2.3, 21, [0.1] * 20)]
    bad = RequestResult(ttft_s=0.5, itl_s=[9.0])
    bad.fail("incomplete_stream", "cut")
    s = summarize_level(2, [*rs, bad], wall_s=2.5).to_json()  # the CLI JSON shape
    assert s["requests"] == 3 and s["ok"] == 2
    assert s["output_tokens_total"] == 32 and s["output_tokens_per_s"] == pytest.approx(32 / 2.5)
    assert s["per_user_output_tokens_per_s"] == pytest.approx((11 / 1.1 + 21 / 2.3) / 2)
    assert s["itl_s"]["p99"] == pytest.approx(0.1)  # failed requests do not pollute the statistics
    assert s["errors"] == [{"kind": "incomplete_stream", "message": "cut", "count": 1}]


def test_summary_without_usage_says_so() -> None:
    s = summarize_level(1, [ok(0.1, 1.0, None)], wall_s=1.0).to_json()  # type: ignore[arg-type]
    assert s["usage_missing"] and s["output_tokens_per_s"] is None


def test_ttft_breakdown_from_ollama_durations() -> None:
    r = ok(1.5, 2.5, 11, load_s=1.0, prompt_eval_s=0.3, eval_s=1.0)
    s = summarize_level(1, [r], wall_s=2.5).to_json()
    bd = s["ttft_breakdown_s"]
    assert bd["load_mean"] == 1.0 and bd["prefill_mean"] == 0.3
    assert bd["queue_and_other_mean"] == pytest.approx(0.2)
    assert bd["server_decode_tokens_per_s_mean"] == pytest.approx(11.0)


def test_cold_start_from_load_duration_and_from_ttft_outlier() -> None:
    warm = [ok(3.0, 4.0, 5, load_s=2.9, warmup=True)]
    measured = [ok(0.1, 1.0, 5) for _ in range(4)]
    cs = detect_cold_start(warm, measured)
    assert cs["detected"] and cs["evidence"] == "server load_duration" and warm[0].cold_start
    first = ok(2.0, 3.0, 5)
    cs = detect_cold_start([], [first, *[ok(0.1, 1.0, 5) for _ in range(3)]])
    assert cs["detected"] and cs["evidence"].startswith("first TTFT")
    cs = detect_cold_start([], [ok(0.12, 1.0, 5), *[ok(0.1, 1.0, 5) for _ in range(3)]])
    assert not cs["detected"]


def level(c: int, tps: float, ttft: float) -> LevelSummary:
    return LevelSummary.from_json(
        {"concurrency": c, "requests": c, "ok": c, "output_tokens_per_s": tps, "ttft_s": {"p50": ttft}}
    )


def test_knee_where_throughput_flattens_and_ttft_grows() -> None:
    levels = [level(1, 30, 0.1), level(2, 58, 0.11), level(4, 60, 0.25), level(8, 61, 0.6)]
    knee = find_knee(levels, "ollama")
    assert knee is not None and knee.concurrency == 2 and knee.next_concurrency == 4
    assert "OLLAMA_NUM_PARALLEL" in knee.explanation
    # Still scaling: no knee.
    assert find_knee([level(1, 30, 0.1), level(2, 58, 0.11), level(4, 110, 0.13)], "openai") is None


def test_prompt_length_and_distinct_prefixes() -> None:
    a, b = build_prompt(200, seed=1), build_prompt(200, seed=2)
    assert 180 <= len(a.split()) <= 200  # ~1 word per token (probe/prompt.py)
    assert a.split()[:3] != b.split()[:3]
    assert build_prompt(200, seed=1) == a


def test_spec_vs_server_facts() -> None:
    from model_specs import load_catalog
    from probe.report import guess_spec_model, spec_vs_server_rows

    cat = load_catalog()
    assert guess_spec_model("gemma4:e4b-it-q4_K_M", cat.models) == "gemma-4-e4b"
    assert guess_spec_model("gemma3:27b", cat.models) == "gemma-3-27b"
    assert guess_spec_model("llama3.1:8b", cat.models) is None
    spec = cat.model("gemma-4-e4b")
    rows = spec_vs_server_rows(spec, {"layers": spec.text.num_layers, "heads": 999, "size_vram_bytes": 5})
    by = {r["fact"]: r for r in rows}
    assert by["layers"]["match"] is True and by["attention heads"]["match"] is False
    assert by["bytes in GPU memory"]["match"] is None and "hidden size" not in by  # unreported: not shown


def test_llamacpp_props_and_knee_note() -> None:
    from probe.clients import parse_llamacpp_props

    # Shape of llama.cpp server's GET /props (ggml-org/llama.cpp tools/server/README.md).
    props = {"total_slots": 4, "default_generation_settings": {"n_ctx": 8192}, "model_path": "x.gguf"}
    facts = parse_llamacpp_props(props)
    assert facts == {"engine": "llama.cpp", "parallel_slots": 4, "slot_context_length": 8192}
    assert parse_llamacpp_props({"detail": "Not Found"}) == {}
    levels = [level(2, 58, 0.11), level(4, 110, 0.12), level(8, 112, 0.3)]
    knee = find_knee(levels, "openai", facts)
    assert knee is not None and knee.concurrency == 4 and "4 parallel slot(s)" in knee.explanation


def test_forecast_rows_ratio_and_units() -> None:
    from probe.report import forecast_rows, measured_single_user

    levels = levels_from_json(
        [{"concurrency": 1, "requests": 3, "ok": 3, "tpot_s": {"p50": 0.02}, "ttft_s": {"p50": 0.15}}]
    )
    measured = measured_single_user(levels)
    assert measured == pytest.approx({"decode_tokens_per_s": 50.0, "ttft_s": 0.15})
    dec, ttft = forecast_rows(40.0, 0.1, measured)
    assert dec == {
        "figure": "decode tokens/s (1 user)",
        "forecast": 40.0,
        "measured": 50.0,
        "measured / forecast": 1.25,
    }
    assert ttft == {"figure": "TTFT (ms)", "forecast": 100.0, "measured": 150.0, "measured / forecast": 1.5}
    assert forecast_rows(40.0, 0.0, measured)[1]["measured / forecast"] is None  # no division by a zero forecast
