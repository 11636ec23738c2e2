"""Plotly figures of the Speed page, drawn from its view (no Streamlit here)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.views.speed import ConcurrencyPoint

LEGEND_TOP = dict(orientation="h", yanchor="bottom", y=1.02, x=0)
MARGIN = dict(l=10, r=10, t=50, b=10)


def variants_figure(table: pd.DataFrame, quants: list[str]) -> go.Figure:
    """Decode tokens/s of every variant, grouped by format, with the fit's low-high range as error bars."""
    fig = go.Figure()
    for q in quants:
        t = table[table["Quant"].str.upper() == q.upper()]
        if t.empty:
            continue
        err = dict(
            type="data", symmetric=False, array=t["High"] - t["Decode tok/s"], arrayminus=t["Decode tok/s"] - t["Low"]
        )
        fig.add_bar(x=t["Model"], y=t["Decode tok/s"], name=q, error_y=err)
    # Only the models present are categories: no empty slots.
    fig.update_layout(
        barmode="group",
        height=380,
        yaxis_title="decode tokens/s (one user)",
        xaxis=dict(type="category", categoryorder="array", categoryarray=list(dict.fromkeys(table["Model"]))),
        margin=MARGIN,
        legend=LEGEND_TOP,
    )
    return fig


def concurrency_figure(curve: list[ConcurrencyPoint]) -> go.Figure:
    """Aggregate and per-user tokens/s against concurrent users."""
    fig = go.Figure()
    xs = [p.concurrency for p in curve]
    fig.add_scatter(x=xs, y=[p.aggregate_tokens_per_s for p in curve], name="aggregate tok/s", mode="lines+markers")
    fig.add_scatter(
        x=xs, y=[p.per_user_tokens_per_s for p in curve], name="per-user tok/s", mode="lines+markers", yaxis="y2"
    )
    fig.update_layout(
        height=360,
        xaxis=dict(title="concurrent users", type="log"),
        yaxis=dict(title="aggregate tokens/s"),
        yaxis2=dict(title="per-user tokens/s", overlaying="y", side="right"),
        margin=MARGIN,
        legend=LEGEND_TOP,
    )
    return fig


def depth_figure(points: list[tuple[int, float, float, float]], measured: tuple[int, float] | None) -> go.Figure:
    """Decode tokens/s as the context fills, with its range band and an optional measured point."""
    fig = go.Figure()
    xs = [d[0] for d in points]
    fig.add_scatter(
        x=xs + xs[::-1],
        y=[d[3] for d in points] + [d[2] for d in points][::-1],
        fill="toself",
        line=dict(width=0),
        fillcolor="rgba(76,120,168,0.2)",
        name="range",
        hoverinfo="skip",
    )
    fig.add_scatter(x=xs, y=[d[1] for d in points], name="forecast", mode="lines+markers", line_color="#4C78A8")
    if measured is not None:
        fig.add_scatter(
            x=[measured[0]],
            y=[measured[1]],
            mode="markers",
            name="your probe run",
            marker=dict(size=13, symbol="star", color="#E45756"),
        )
    fig.update_layout(
        height=360,
        xaxis_title="tokens already in the context",
        yaxis_title="decode tokens/s",
        margin=MARGIN,
        legend=LEGEND_TOP,
    )
    return fig


def roofline_figure(rf: dict) -> go.Figure:
    """Peak and fitted roofs with decode at each batch size (calculators.speed.roofline's dict)."""
    pts = rf["points"]
    xs = [p["intensity_flop_per_byte"] for p in pts]
    lo_x, hi_x = min(xs + [rf["ridge_flop_per_byte"]]) / 2, max(xs + [rf["ridge_flop_per_byte"]]) * 2
    grid = [lo_x * (hi_x / lo_x) ** (i / 60) for i in range(61)]
    fig = go.Figure()
    for label, bw, fl, dash in (
        ("peak", rf["peak_bandwidth_bytes_per_s"], rf["peak_flops_per_s"], "dot"),
        ("fitted", rf["effective_bandwidth_bytes_per_s"], rf["effective_flops_per_s"], "solid"),
    ):
        ys = [min(bw * x, fl) / 1e12 for x in grid]
        fig.add_scatter(x=grid, y=ys, mode="lines", name=f"{label} roof", line=dict(dash=dash))
    fig.add_scatter(
        x=xs,
        y=[p["achieved_flops_per_s"] / 1e12 for p in pts],
        mode="markers+text",
        text=[f"B={p['batch']}" for p in pts],
        textposition="top center",
        name="decode at batch B",
    )
    fig.update_layout(
        height=380,
        xaxis=dict(title="arithmetic intensity (FLOP per byte read)", type="log"),
        yaxis=dict(title="TFLOP/s", type="log"),
        margin=MARGIN,
        legend=LEGEND_TOP,
    )
    return fig
