"""The probe page's figures and tables, built from real level summaries (probe.stats) without Streamlit."""

from __future__ import annotations

import ast
from datetime import datetime
from pathlib import Path

import pytest

from probe.report import breakdown_rows
from probe.results import RequestResult
from probe.stats import summarize_level
from ui import probe_charts as pc


def ok(ttft_s: float, e2e_s: float, tokens: int | None, **kw: object) -> RequestResult:
    return RequestResult(ok=True, ttft_s=ttft_s, e2e_s=e2e_s, output_tokens=tokens, itl_s=[0.01, 0.02], **kw)  # type: ignore[arg-type]


def trace(fig, name: str):  # type: ignore[no-untyped-def]
    return next(t for t in fig.data if t.name == name)


def test_ttft_breakdown_bars_stack_up_to_the_mean_ttft() -> None:
    # Two Ollama requests: 1.0 s load + 0.3 s prefill + 0.2 s other; 0.2 s prefill + 0.3 s other.
    rs = [ok(1.5, 2.5, 11, load_s=1.0, prompt_eval_s=0.3), ok(0.5, 1.5, 11, prompt_eval_s=0.2)]
    levels = [summarize_level(2, rs, wall_s=2.5)]
    fig = pc.breakdown_figure(breakdown_rows(levels))
    assert fig.layout.barmode == "stack"
    assert [t.name for t in fig.data] == ["model load", "prefill", "queue + other"]
    assert all(list(t.x) == ["2"] for t in fig.data)
    parts_ms = [t.y[0] for t in fig.data]
    assert parts_ms == pytest.approx([500.0, 250.0, 250.0])
    assert sum(parts_ms) == pytest.approx(levels[0].ttft_breakdown_s.ttft_mean * 1e3)  # 1000 ms


def test_concurrency_curves_follow_the_level_summaries() -> None:
    levels = [
        summarize_level(1, [ok(0.1, 1.1, 11)], wall_s=1.1),
        summarize_level(2, [ok(0.2, 1.2, 11), ok(0.4, 1.4, 11)], wall_s=1.4),
        summarize_level(4, [ok(0.8, 2.8, None)], wall_s=2.8),  # no server token counts: no tokens/s
    ]
    lat = pc.latency_figure(levels)
    assert [t.name for t in lat.data] == ["TTFT p50", "TTFT p99", "TPOT p50", "ITL p99"]
    assert list(trace(lat, "TTFT p50").x) == [1, 2, 4]
    assert list(trace(lat, "TTFT p50").y) == pytest.approx([100.0, 300.0, 800.0])  # seconds -> ms
    assert list(lat.layout.xaxis.tickvals) == [1, 2, 4] and lat.layout.xaxis.type == "log"
    tput = pc.throughput_figure(levels)
    agg = trace(tput, "aggregate")
    assert list(agg.x) == [1, 2, 4]
    assert list(agg.y[:2]) == pytest.approx([11 / 1.1, 22 / 1.4]) and agg.y[2] is None  # a gap, not a zero
    assert trace(tput, "per user").y[1] == pytest.approx((11 / 1.2 + 11 / 1.4) / 2)


def test_timeline_one_trace_per_level_in_arrival_order() -> None:
    points = [pc.timeline_point(0.5, 2, 0.1), pc.timeline_point(0.7, 1, None), pc.timeline_point(0.9, 2, 0.3)]
    fig = pc.timeline_figure(points)
    assert [t.name for t in fig.data] == ["c=2", "c=1"]
    assert list(fig.data[0].x) == [0.5, 0.9] and list(fig.data[0].y) == pytest.approx([100.0, 300.0])
    assert not pc.timeline_figure([]).data  # before the first request finishes


def test_compare_one_line_per_run_and_table_without_start_time() -> None:
    t = datetime(2026, 1, 1)
    rows = [
        {"run_id": rid, "model": m, "created_at": t, "concurrency": c, "output_tokens_per_s": tps}
        for rid, m, c, tps in [("a", "tiny", 1, 10.0), ("a", "tiny", 4, 30.0), ("b", "big", 1, 5.0)]
    ]
    fig = pc.compare_figure(rows)
    assert [t.name for t in fig.data] == ["a (tiny)", "b (big)"]
    assert list(fig.data[0].x) == [1, 4] and list(fig.data[0].y) == [10.0, 30.0]
    assert "created_at" not in pc.compare_table(rows).columns and len(pc.compare_table(rows)) == 3


def test_history_and_samples_tables() -> None:
    run = {"id": "r1", "created_at": datetime(2026, 1, 1), "model": "tiny", "backend": "ollama", "endpoint": "u"}
    hist = pc.history_table(
        [{**run, "status": "running", "n_samples": 3}, {**run, "status": "complete", "n_samples": 5}]
    )
    assert list(hist["run"]) == ["?run=r1", "?run=r1"] and list(hist["status"]) == ["incomplete", "complete"]
    samples = pc.samples_table([{"text": "x", "ok": True, "ttft_s": 0.1, "concurrency": 1, "idx": 0}])
    assert list(samples.columns) == ["concurrency", "ok", "ttft_s"]  # fixed order; internal columns hidden


def test_probe_charts_never_imports_streamlit() -> None:
    tree = ast.parse(Path(pc.__file__).read_text())
    imported = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    imported += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not any(m.split(".")[0] == "streamlit" for m in imported)
