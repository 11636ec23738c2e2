"""Plotly figures of the Speed page, drawn from its view (no Streamlit here)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from ui.views.speed import ConcurrencyPoint, ServingView

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


def latency_load_figure(sv: ServingView) -> go.Figure:
    """Simulated p95 TTFT and median ITL against concurrent users, with the SLO lines, the capacity at the SLO and
    the scenario's users (and the probe's measured capacity when the view carries one). Lines and points are traces,
    not shapes, so they sit right on the log axes and show in the legend; two stacked panels share the x axis."""
    rows = {r["concurrency"]: r for r in sv.curve}
    xs = sorted(rows)
    panels = (("y", "x", "ttft_s_p95", "p95 TTFT"), ("y2", "x2", "itl_s", "ITL (median)"))
    traces: list[dict] = []
    for y, x, k, name in panels:
        traces.append(dict(x=xs, y=[rows[c][k] * 1e3 for c in xs], name=name, mode="lines+markers", xaxis=x, yaxis=y))
    slo, span = sv.slo, [xs[0], xs[-1]] if xs else []
    for (y, x, _, _), target_s, name in zip(
        panels, (slo and slo.ttft_s, slo and slo.tpot_s), ("TTFT target", "per-token target"), strict=True
    ):
        if target_s and span:
            line = dict(dash="dash", color="#E45756")
            traces.append(dict(x=span, y=[target_s * 1e3] * 2, name=name, mode="lines", line=line, xaxis=x, yaxis=y))
    cap = sv.capacity_users
    marks = [(sv.concurrency, "your users", dict(size=12, symbol="circle-open", color="#444"))]
    if cap and cap["value"] in rows:
        label = f"capacity at the SLO: {cap['value']:,}{'+' if cap['at_least'] else ''} users"
        marks.append((cap["value"], label, dict(size=13, symbol="diamond", color="#54A24B")))
    for c, name, marker in marks:
        for y, x, k, _ in panels:
            v = rows[c][k] * 1e3 if c in rows else None
            traces.append(
                dict(
                    x=[c],
                    y=[v],
                    name=name,
                    mode="markers",
                    marker=marker,
                    xaxis=x,
                    yaxis=y,
                    showlegend=y == "y",
                    legendgroup=name,
                )
            )
    measured = sv.measured_capacity  # the probe's capacity object of a stored run (a concurrency search)
    # Drawn at the run's own TTFT (else per-token) target, else the scenario's: where its SLO line is.
    m_slo = (measured or {}).get("slo") or {}
    ttft_s = m_slo.get("ttft_s") or (slo and slo.ttft_s)
    tpot_s = m_slo.get("tpot_s") or (slo and slo.tpot_s)
    if measured and measured.get("search") == "concurrency" and measured.get("value") and (ttft_s or tpot_s):
        star = dict(size=14, symbol="star", color="#F58518")
        name = f"measured capacity: {measured['value']:,} users (probe)"
        y, axis = (ttft_s, "y") if ttft_s else (tpot_s, "y2")
        at = dict(xaxis="x" if axis == "y" else "x2", yaxis=axis)
        traces.append(dict(x=[measured["value"]], y=[y * 1e3], name=name, mode="markers", marker=star, **at))
    layout = dict(
        height=480,
        margin=MARGIN,
        legend=LEGEND_TOP,
        xaxis=dict(type="log", anchor="y", matches="x2", showticklabels=False),
        xaxis2=dict(type="log", anchor="y2", title="concurrent users (closed loop)"),
        yaxis=dict(domain=[0.54, 1.0], type="log", title="p95 TTFT (ms)"),
        yaxis2=dict(domain=[0.0, 0.46], title="ITL (ms)"),
    )
    return go.Figure(data=[go.Scatter(t) for t in traces], layout=layout)
