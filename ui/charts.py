"""Plotly figure builders shared by pages (no Streamlit calls here)."""

from __future__ import annotations

import plotly.graph_objects as go

from model_specs.schema import ModelSpec

LAYER_COLOURS = {
    "sliding": "#4C78A8",
    "global": "#F58518",
    "sliding, KV shared": "#9ECAE9",
    "global, KV shared": "#FFBF79",
}


def layer_kinds(model: ModelSpec) -> list[str]:
    """Kind of each decoder layer: sliding/global, and whether it reuses another layer's KV."""
    att = model.text.attention
    first_shared = model.text.num_layers - att.kv_shared_layers
    return [
        ("sliding" if t == "S" else "global") + (", KV shared" if i >= first_shared else "")
        for i, t in enumerate(att.layer_types)
    ]


def layer_pattern_figure(model: ModelSpec) -> go.Figure:
    """One coloured cell per decoder layer, with its KV geometry and MLP width on hover."""
    att, kinds = model.text.attention, layer_kinds(model)
    widths = model.text.intermediate_sizes()
    fig = go.Figure()
    for kind, colour in LAYER_COLOURS.items():
        idx = [i for i, k in enumerate(kinds) if k == kind]
        if not idx:
            continue
        geo = att.sliding if kind.startswith("sliding") else att.full
        hover = [
            f"layer {i}<br>{kind}<br>KV heads {geo.kv_heads} x head dim {geo.head_dim}"
            + (" (K=V)" if geo.k_eq_v else "")
            + (f"<br>window {att.sliding_window_tokens} tokens" if kind.startswith("sliding") else "<br>full context")
            + (f"<br>dense MLP {widths[i]}" if widths[i] else "")
            + (
                f"<br>MoE {model.text.moe.num_experts} experts, top-{model.text.moe.experts_per_token}"
                if model.text.moe
                else ""
            )
            for i in idx
        ]
        fig.add_bar(
            x=idx, y=[1] * len(idx), marker_color=colour, name=kind, hovertext=hover, hoverinfo="text", width=0.9
        )
    fig.update_layout(
        barmode="overlay",
        height=170,
        margin=dict(l=10, r=10, t=30, b=30),
        yaxis_visible=False,
        xaxis_title="decoder layer",
        legend_orientation="h",
        legend_y=1.35,
    )
    return fig


def quality_size_figure(rows: list[dict], score_name: str) -> go.Figure:
    """Benchmark score against total and active parameters (billions), one point per variant."""
    fig = go.Figure()
    for label, key, symbol in (("total parameters", "total_b", "circle"), ("active per token", "active_b", "diamond")):
        fig.add_scatter(
            x=[r[key] for r in rows],
            y=[r["score"] for r in rows],
            text=[r["name"] for r in rows],
            mode="markers+text",
            textposition="top center",
            name=label,
            marker_symbol=symbol,
            marker_size=11,
        )
    fig.update_layout(
        xaxis_type="log",
        xaxis_title="parameters (billions, derived from the config)",
        yaxis_title=score_name,
        height=420,
        margin=dict(l=10, r=10, t=30, b=10),
        legend_orientation="h",
    )
    return fig


GiB = 2**30
MEMORY_LABELS = {
    "text": "Text decoder layers",
    "embedding": "Token embedding",
    "output": "Output matrix",
    "output_copy": "Tied output copy (GPU)",
    "ple": "Per-layer embeddings",
    "vision": "Vision encoder",
    "audio": "Audio encoder",
    "kv_cache": "KV cache",
    "overhead": "Compute buffer / runtime",
}


def memory_bar_figure(components: dict[str, int], usable_bytes: int | None) -> go.Figure:
    """One stacked bar of the memory by component, with the usable memory marked."""
    fig = go.Figure()
    for k, label in MEMORY_LABELS.items():
        if v := components.get(k, 0):
            fig.add_bar(
                name=label,
                y=["memory"],
                x=[v / GiB],
                orientation="h",
                hovertemplate=f"{label}: %{{x:.2f}} GiB<extra></extra>",
            )
    if usable_bytes:
        fig.add_vline(x=usable_bytes / GiB, line_dash="dash", annotation_text="usable")
    fig.update_layout(
        barmode="stack",
        height=220,
        xaxis_title="GiB",
        margin=dict(l=10, r=10, t=30, b=10),
        legend=dict(orientation="h"),
    )
    return fig


def kv_curve_figure(ladder_tokens: list[int], curves_bytes: dict[str, list[int]], dotted: set[str]) -> go.Figure:
    """KV bytes against context, one line per engine; reference lines dotted."""
    fig = go.Figure()
    for name, kv_bytes in curves_bytes.items():
        fig.add_scatter(
            x=ladder_tokens,
            y=[b / GiB for b in kv_bytes],
            mode="lines" if name in dotted else "lines+markers",
            name=name,
            line=dict(dash="dot") if name in dotted else None,
        )
    fig.update_layout(
        xaxis_type="log",
        xaxis_title="context (tokens)",
        yaxis_title="GiB",
        height=360,
        margin=dict(l=10, r=10, t=10, b=10),
    )
    return fig


def fit_heatmap_figure(model_names: list[str], device_names: list[str], z: list[list[int]]) -> go.Figure:
    """Largest fitting context per model (rows) and device (columns); every category labelled."""
    fig = go.Figure(
        go.Heatmap(
            z=z,
            x=device_names,
            y=model_names,
            colorscale="Viridis",
            hovertemplate="%{y} on %{x}: %{z:,} tokens<extra></extra>",
            colorbar=dict(title="tokens"),
        )
    )
    # Every model and device labelled (plotly would otherwise skip every other category name).
    fig.update_layout(
        height=260 + 26 * len(model_names),
        margin=dict(l=10, r=10, t=10, b=10),
        yaxis=dict(type="category", dtick=1),
        xaxis=dict(type="category", dtick=1, tickangle=-60, tickfont=dict(size=9)),
    )
    return fig
