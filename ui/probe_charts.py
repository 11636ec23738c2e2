"""Figures and tables of the probe page, built from a run's JSON summary and samples (no Streamlit calls here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from probe.summary import LevelSummary

MARGIN = dict(l=10, r=10, t=40, b=10)
# (level key, percentile or None for a plain number, legend label)
Series = tuple[str, str | None, str]
LATENCY_SERIES: tuple[Series, ...] = (
    ("ttft_s", "p50", "TTFT p50"),
    ("ttft_s", "p99", "TTFT p99"),
    ("tpot_s", "p50", "TPOT p50"),
    ("itl_s", "p99", "ITL p99"),
)
THROUGHPUT_SERIES: tuple[Series, ...] = (
    ("output_tokens_per_s", None, "aggregate"),
    ("per_user_output_tokens_per_s", None, "per user"),
)
# Stacked bottom to top; the parts of probe.report.breakdown_rows that add up to the mean TTFT.
BREAKDOWN_PARTS = ("model load (ms)", "prefill (ms)", "queue + other (ms)")
SAMPLE_COLUMNS = (
    "concurrency",
    "warmup",
    "ok",
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "output_tokens",
    "prompt_tokens",
    "load_s",
    "prompt_eval_s",
    "cold_start",
    "error_kind",
    "error_message",
)


def _load_axis(levels: Sequence[LevelSummary]) -> tuple[list[float], str, str]:
    """x values, axis title and title word: request rate for an open loop, concurrency for a closed one."""
    if levels and all(lv.rate is not None for lv in levels):
        return [float(lv.rate or 0.0) for lv in levels], "requests / s (open loop)", "request rate"
    return [float(lv.concurrency) for lv in levels], "concurrent requests", "concurrency"


def vs_concurrency_figure(
    levels: Sequence[LevelSummary], series: Iterable[Series], y_title: str, scale: float, title: str
) -> go.Figure:
    """One line per series against the load (log axis), each value times `scale`; gaps where a level has none."""
    fig = go.Figure()
    xs, x_title, word = _load_axis(levels)
    for key, q, label in series:
        ys = [getattr(getattr(lv, key), q) if q else getattr(lv, key) for lv in levels]
        fig.add_scatter(x=xs, y=[None if y is None else y * scale for y in ys], mode="lines+markers", name=label)
    fig.update_layout(title=f"{title} vs {word}", xaxis_title=x_title, yaxis_title=y_title, height=340, margin=MARGIN)
    fig.update_xaxes(type="log", tickvals=xs)
    return fig


def latency_figure(levels: Sequence[LevelSummary]) -> go.Figure:
    """TTFT, TPOT and ITL percentiles in milliseconds against the load."""
    return vs_concurrency_figure(levels, LATENCY_SERIES, "ms", 1e3, "Latency")


def throughput_figure(levels: Sequence[LevelSummary]) -> go.Figure:
    """Aggregate and per-user output tokens/s against the load."""
    return vs_concurrency_figure(levels, THROUGHPUT_SERIES, "output tokens / s", 1.0, "Throughput")


def breakdown_figure(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Stacked bars of the mean TTFT split per level (rows from probe.report.breakdown_rows)."""
    fig = go.Figure()
    xs = [str(r["concurrency"]) for r in rows]
    for col in BREAKDOWN_PARTS:
        fig.add_bar(x=xs, y=[r[col] for r in rows], name=col.replace(" (ms)", ""))
    fig.update_layout(
        barmode="stack",
        title="Mean TTFT split (Ollama's own durations)",
        height=320,
        xaxis_title="concurrent requests",
        yaxis_title="ms",
        margin=MARGIN,
    )
    return fig


def timeline_point(elapsed_s: float, level: str, ttft_s: float | None) -> dict[str, Any]:
    """One finished request as a point of the live timeline; `level` names its level ('4' users or '2 req/s')."""
    # The level as text so each gets its own legend entry rather than a colour scale.
    return {"t (s)": elapsed_s, "concurrency": str(level), "TTFT (ms)": None if ttft_s is None else ttft_s * 1e3}


def timeline_figure(points: Sequence[dict[str, Any]]) -> go.Figure:
    """TTFT of each request (points from timeline_point) against when it finished, one colour per level."""
    df = pd.DataFrame(points)
    fig = go.Figure()
    if not df.empty:
        for c, part in df.groupby("concurrency", sort=False):
            name = c if str(c).endswith("req/s") else f"c={c}"
            fig.add_scatter(x=part["t (s)"], y=part["TTFT (ms)"], mode="markers", name=name)
    fig.update_layout(
        title="TTFT of each request as it finished",
        xaxis_title="seconds since start",
        yaxis_title="TTFT (ms)",
        height=300,
        margin=MARGIN,
    )
    return fig


def samples_table(samples: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """Every stored request, with the columns worth reading, in a fixed order."""
    df = pd.DataFrame(samples)
    return df[[c for c in SAMPLE_COLUMNS if c in df.columns]]


def server_facts_table(server: dict[str, Any]) -> pd.DataFrame:
    """What the server reports about the model, one fact a row, values as text."""
    return pd.DataFrame([{"fact": k, "value": str(v)} for k, v in server.items()])


def history_table(runs: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """Stored runs (from ProbeStore.list_runs), newest first, with a ?run= link for each."""
    return pd.DataFrame(
        [
            {
                "run": f"?run={r['id']}",
                "id": r["id"],
                "started (UTC)": r["created_at"],
                "model": r["model"],
                "backend": r["backend"],
                "endpoint": r["endpoint"],
                "status": "incomplete" if r["status"] == "running" else r["status"],
                "requests stored": r["n_samples"],
            }
            for r in runs
        ]
    )


def compare_figure(rows: Sequence[dict[str, Any]]) -> go.Figure:
    """Aggregate output tokens/s against concurrency, one line per run (rows from ProbeStore.compare)."""
    fig = go.Figure()
    for rid, part in pd.DataFrame(rows).groupby("run_id", sort=False):
        fig.add_scatter(
            x=part["concurrency"],
            y=part["output_tokens_per_s"],
            mode="lines+markers",
            name=f"{rid} ({part['model'].iloc[0]})",
        )
    fig.update_layout(title="Aggregate output tokens/s", xaxis_title="concurrent requests", height=320, margin=MARGIN)
    fig.update_xaxes(type="log")
    return fig


def compare_table(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    """The compare rows as a table, without the start time (the history table shows it)."""
    return pd.DataFrame(rows).drop(columns=["created_at"])


# The SLO's targets: (SLO key, level key, the percentile drawn against it, label)
SLO_SERIES = (
    ("ttft_s", "ttft_s", "p90", "TTFT"),
    ("tpot_s", "tpot_s", "p90", "TPOT"),
    ("e2e_s", "e2e_s", "p90", "E2E"),
)


def capacity_figure(levels: Sequence[LevelSummary], capacity: dict[str, Any]) -> go.Figure:
    """Latency (p90, ms) of each SLO target against the searched load, the SLO lines and the capacity point."""
    slo = capacity.get("slo") or {}
    pts = sorted(levels, key=lambda lv: lv.rate if capacity.get("search") == "rate" else lv.concurrency)
    xs = [float(lv.rate or 0.0) if capacity.get("search") == "rate" else float(lv.concurrency) for lv in pts]
    fig = go.Figure()
    for slo_key, key, q, label in SLO_SERIES:
        if slo.get(slo_key) is None:
            continue
        ys = [getattr(getattr(lv, key), q) for lv in pts]
        fig.add_scatter(x=xs, y=[None if y is None else y * 1e3 for y in ys], mode="lines+markers", name=f"{label} p90")
        fig.add_hline(y=slo[slo_key] * 1e3, line_dash="dash", annotation_text=f"SLO {label} {slo[slo_key] * 1e3:g} ms")
    if capacity.get("value") is not None:
        fig.add_vline(x=capacity["value"], line_color="green", annotation_text=f"capacity {capacity['value']:g}")
    unit = "requests / s" if capacity.get("search") == "rate" else "concurrent users"
    fig.update_layout(title="Latency against load, with the SLO", xaxis_title=unit, yaxis_title="ms", height=360,
                      margin=MARGIN)  # fmt: skip
    return fig


def attainment_figure(capacity: dict[str, Any]) -> go.Figure:
    """Share of requests meeting the SLO at each searched level (in search order), with the target."""
    steps = capacity.get("levels") or []
    fig = go.Figure()
    fig.add_bar(
        x=[f"{s['value']:g}" for s in steps],
        y=[s["attainment"] for s in steps],
        marker_color=["seagreen" if s["passed"] else "indianred" for s in steps],
        text=[f"step {s['step']}" + (" (cut)" if s.get("cut_short") else "") for s in steps],
        name="attainment",
    )
    fig.add_hline(y=capacity.get("target_attainment") or 0, line_dash="dash", annotation_text="target")
    fig.update_layout(title="SLO attainment per level", xaxis_title=capacity.get("search"), yaxis_title="share",
                      yaxis_range=[0, 1.05], height=320, margin=MARGIN)  # fmt: skip
    return fig


def capacity_table(capacity: dict[str, Any]) -> pd.DataFrame:
    """The search path: one row per level, in search order."""
    return pd.DataFrame([{"step": s["step"], capacity.get("search") or "load": s["value"],
                          "attainment": s["attainment"], "goodput req/s": s.get("goodput_requests_per_s"),
                          "goodput tok/s": s.get("goodput_output_tokens_per_s"), "passed": s["passed"],
                          "cut short": s.get("cut_short"), "reused": s.get("reused")}
                         for s in capacity.get("levels") or []])  # fmt: skip
