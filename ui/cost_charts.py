"""Figures, tables and captions of the costs page, built from calculators.cost results (no Streamlit here)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from calculators.cost import OPTIONS, Comparison, CostInputs, Quote, Sensitivity, cost_curves, curve_volumes

OPTION_NAMES = {"owned": "Owned hardware", "cloud": "Cloud GPU", "api": "Hosted API"}
OPTION_COLOURS = {"owned": "#4C78A8", "cloud": "#F58518", "api": "#54A24B"}


def _volume_text(monthly_tokens: float | None) -> str:
    """A monthly volume in M or B tokens; "never" for a break-even that does not exist."""
    if monthly_tokens is None:
        return "never"
    if monthly_tokens >= 1e9:
        return f"{monthly_tokens / 1e9:,.2f} B tokens/month"
    return f"{monthly_tokens / 1e6:,.1f} M tokens/month"


def rate_levels(runs: Iterable[dict[str, Any]], model_hint: str) -> list[dict[str, Any]]:
    """The successful (run, concurrency) levels of stored probe runs with an output rate; runs of the model first."""
    out = []
    for run in runs:
        for lv in (run.get("summary") or {}).get("runs", []):
            if lv.get("ok") and lv.get("output_tokens_per_s"):
                out.append(
                    {
                        "run_id": run["id"],
                        "model": run["model"],
                        "created_at": run["created_at"],
                        "concurrency": lv["concurrency"],
                        "tokens_per_s": lv["output_tokens_per_s"],
                        "hint": model_hint.lower() in str(run["model"]).lower(),
                    }
                )
    return sorted(out, key=lambda r: not r["hint"])


def quote_caption(quote: Quote | None) -> str:
    """A price's provenance as Markdown: label, linked source and as-of date; the reason when there is no price."""
    if quote is None:
        return ""
    if quote.value is None or quote.source == "typed in":
        return quote.source
    link = f"[source]({quote.source})" if quote.source.startswith("http") else quote.source
    return f"{quote.label} · {link} · as of {quote.as_of}" if quote.as_of else f"{quote.label} · {link}"


def cost_curve_figure(inputs: CostInputs, comparison: Comparison) -> go.Figure:
    """Monthly cost of each priced option against monthly volume (log-log), break-evens marked, the scenario dotted."""
    monthly_tokens = inputs.workload.monthly_tokens
    volumes = curve_volumes(monthly_tokens, comparison.breakevens)
    curves = cost_curves(inputs, volumes)
    fig = go.Figure()
    for name in OPTIONS:
        if all(c is None for c in curves[name]):
            continue
        fig.add_trace(
            go.Scatter(
                x=volumes,
                y=curves[name],
                name=OPTION_NAMES[name],
                line={"color": OPTION_COLOURS[name]},
                # Owned and cloud costs jump where a replica is added; the API's is linear in tokens.
                line_shape="hv" if name != "api" else "linear",
                hovertemplate="%{x:.3s} tokens/month<br>$%{y:,.2f}/month",
            )
        )
    for b in comparison.breakevens:
        if not b.monthly_tokens:
            continue
        line = inputs.line(b.a)  # a break-even exists only between two priced options
        y = line.usd_per_month(b.monthly_tokens) if line else None
        a_name, b_name = OPTION_NAMES[b.a], OPTION_NAMES[b.b]
        fig.add_trace(
            go.Scatter(
                x=[b.monthly_tokens],
                y=[y],
                mode="markers+text",
                showlegend=False,
                marker={"size": 11, "color": "black", "symbol": "x"},
                text=[f"{a_name} = {b_name}"],
                textposition="top center",
                hovertemplate=f"break-even {a_name} / {b_name}<br>%{{x:.3s}} tokens/month"
                "<br>$%{y:,.2f}/month<extra></extra>",
            )
        )
    fig.add_vline(
        x=monthly_tokens or 1e6,  # a log axis has no 0: mark an empty workload at 1 M
        line_dash="dot",
        annotation_text="this scenario",
    )
    fig.update_layout(
        xaxis={"type": "log", "title": "tokens a month (input + output, same mix)"},
        yaxis={"type": "log", "title": "USD a month"},
        height=440,
        margin={"t": 30},
        legend={"orientation": "h", "y": -0.2},
    )
    return fig


def breakeven_table(comparison: Comparison) -> pd.DataFrame:
    """One row per pair of options: the break-even volume and which option is cheaper below it."""
    return pd.DataFrame(
        [
            {
                "Pair": f"{OPTION_NAMES[b.a]} vs {OPTION_NAMES[b.b]}",
                "Break-even": _volume_text(b.monthly_tokens),
                "Cheaper below it": OPTION_NAMES.get(b.cheaper_below or "", "—"),
                "Note": b.note + (" (at a capacity step)" if b.at_capacity_step else ""),
            }
            for b in comparison.breakevens
        ]
    )


def payback_sentences(comparison: Comparison) -> list[str]:
    """Markdown sentences: how long the hardware takes to pay back against the cloud GPU and the hosted API."""
    out = []
    for key, alt in (("vs_cloud", "cloud"), ("vs_api", "api")):
        months = comparison.payback[key]
        note = comparison.payback_notes[key]
        if months == 0:
            out.append(f"Against the {OPTION_NAMES[alt]}: nothing to pay back (purchase price 0) — {note}.")
            continue
        text = "never" if months is None else f"{months:,.1f} months"
        out.append(f"The hardware pays back against the {OPTION_NAMES[alt]} in **{text}** — {note}.")
    return out


def tornado_figure(sensitivities: Sequence[Sensitivity], option: str, pct: int) -> go.Figure:
    """Tornado of one priced option: its monthly cost with each input at -pct % and +pct %, biggest swing on top."""
    # calculators.cost.sensitivities lists the biggest swing first; plotly draws the first category at the bottom.
    sens = [s for s in sensitivities if s.option == option][::-1]
    base_usd = sens[0].base_usd_per_month
    fig = go.Figure()
    for sign, colour, costs in (
        ("-", "#9ECAE9", [s.low_input_usd_per_month for s in sens]),
        ("+", "#F58518", [s.high_input_usd_per_month for s in sens]),
    ):
        fig.add_trace(
            go.Bar(
                y=[s.factor for s in sens],
                x=[c - base_usd for c in costs],
                base=base_usd,
                orientation="h",
                name=f"input {sign}{pct} %",
                marker_color=colour,
                hovertemplate=f"%{{y}}: $%{{x:,.2f}} change<extra>{sign}{pct} %</extra>",
            )
        )
    fig.add_vline(x=base_usd, line_color="black")
    fig.update_layout(
        barmode="overlay",
        height=320,
        margin={"t": 20},
        xaxis_title="USD a month",
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


def prices_table(quotes: dict[str, Quote]) -> pd.DataFrame:
    """Every price the comparison used, with its value, origin, source link (URLs only) and as-of date."""
    rows = []
    for key, q in quotes.items():
        is_url = q.source.startswith("http")
        rows.append(
            {
                "Price": key.replace("_", " "),
                "Value": q.value,
                "Where from": q.label if is_url else " ".join(filter(None, (q.label, f"({q.source})"))),
                "Source": q.source if is_url else None,
                "As of": q.as_of,
            }
        )
    return pd.DataFrame(rows)


def capacity_bars_figure(bars: Sequence[tuple[str, float]], unit: str) -> go.Figure:
    """Capacity per replica: the forecasts beside the measured one (a stored probe capacity run)."""
    colours = ["#4C78A8" if not name.startswith("measured") else "#F58518" for name, _ in bars]
    fig = go.Figure(
        go.Bar(
            x=[v for _, v in bars],
            y=[n for n, _ in bars],
            orientation="h",
            marker_color=colours,
            text=[f"{v:,.4g}" for _, v in bars],
            textposition="auto",
            hovertemplate=f"%{{y}}: %{{x:,.4g}} {unit}<extra></extra>",
        )
    )
    fig.update_layout(height=80 + 50 * len(bars), margin={"t": 10, "b": 40}, xaxis={"title": f"{unit} per replica"})
    return fig
