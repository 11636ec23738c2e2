"""Speed: decode / prefill tokens per second, latency and throughput of the scenario, with their ranges."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from calculators.guide import ENGINE_QUANTS
from calculators.speed import (
    calibration,
    concurrency_curve,
    decode_vs_depth,
    forecast,
    implied_efficiency,
    roofline,
)
from probe.report import USE_MEASUREMENT_KEY
from probe.store import STORE_ERRORS, MeasuredSpeed, database_url, measured_decode_tokens_per_s
from ui.state import catalog, get_scenario

cat = catalog()
sc = get_scenario()
model = cat.model(sc.model)
hw = cat.device(sc.hw)

st.title("Speed")
st.caption(
    "A small physical model: decode time = bytes read per token (active weights + KV cache) / (bandwidth x "
    "efficiency) + a fixed cost per layer + arithmetic; prefill = FLOPs / (FP16 peak x efficiency). Efficiencies are "
    f"fitted per device class to {sum(c.n_decode_points for c in calibration.CLASSES.values())} published "
    f"measurements (fit of {calibration.FITTED_ON}); ranges are the spread of the fit's residuals."
)

# As on the Memory page: a context beyond the model's maximum is shown at that maximum.
ctx = min(sc.ctx, model.context_tokens)
if ctx < sc.ctx:
    st.info(f"{model.name} supports at most {model.context_tokens:,} tokens; showing that.")

BOUND_LABELS = {"memory": "memory-bandwidth bound", "compute": "compute bound", "kv": "KV-cache bound"}


def _users(n: int) -> str:
    """'1 user', '4 users'."""
    return f"{n:,} user" if n == 1 else f"{n:,} users"


c1, c2, c3 = st.columns(3)
prompt = c1.number_input(
    "Prompt tokens",
    min_value=0,
    max_value=max(0, ctx - 1),
    value=min(512, ctx // 2),
    step=128,
    key="speed_prompt",
)
output = c2.number_input(
    "Output tokens",
    min_value=1,
    max_value=max(1, ctx - int(prompt)),
    value=min(256, max(1, ctx - int(prompt))),
    step=64,
    key="speed_output",
)
cold = c3.toggle("Cold start (load weights from disk)", value=False, key="speed_cold")


@st.cache_data(show_spinner=False, max_entries=64, ttl=30)
def _probe_point(probe_model: str, concurrency: int, database: str) -> tuple[MeasuredSpeed | None, str | None]:
    """(the probe's newest measured decode speed for this served model name or None, why the store is unreadable)."""
    try:
        return measured_decode_tokens_per_s(probe_model, concurrency=concurrency, url=database), None
    except STORE_ERRORS as e:  # an unreachable or broken store must not break the forecast
        return None, f"{type(e).__name__}: {e}".splitlines()[0][:200]


with st.expander("Use my own measurement (probe)", icon=":material/network_check:"):
    probe_name = st.text_input("Model name as served (Ollama tag or vLLM model)", value=model.id, key="speed_probe")
    measured, store_error = _probe_point(probe_name, 1, database_url()) if probe_name else (None, None)
    if store_error:
        st.warning(f"Stored probe runs cannot be read ({store_error}); the forecast uses the fitted efficiency.")
    elif measured is None:
        st.caption(
            "No stored probe run at concurrency 1 for this name. Run one on the Probe page to calibrate the "
            "forecast to your own machine."
        )
    else:
        st.caption(
            f"Probe run {measured.run_id} ({measured.created_at:%Y-%m-%d %H:%M}): "
            f"{measured.decode_tokens_per_s:.1f} tokens/s at concurrency 1."
        )
    use_measured = st.toggle(
        "Use my measurement instead of the fitted efficiency",
        value=False,
        disabled=measured is None,
        key="speed_use_probe",
    )

# "Use my measurement" switched on on the probe page, for this model, quantization, hardware and engine.
probe_choice = st.session_state.get(USE_MEASUREMENT_KEY) or {}
override = None
if (probe_choice.get("model"), probe_choice.get("quant"), probe_choice.get("hw"), probe_choice.get("engine")) == (
    model.id,
    sc.quant,
    hw.id,
    sc.engine,
) and not use_measured:
    override = probe_choice["efficiency_override"]
    st.info(
        f"Forecast uses your measured bandwidth efficiency ({override:.0%}, probe run {probe_choice['run_id']}); "
        "switch it off on the Probe page.",
        icon=":material/network_check:",
    )
try:
    if use_measured and measured is not None:
        override = implied_efficiency(
            model,
            sc.quant,
            hw,
            measured.decode_tokens_per_s,
            engine=sc.engine,
            depth_tokens=int(prompt),
            kv_dtype=sc.kv,
            gpus=sc.gpus,
        )
    # The arguments every chart of this page shares with the headline forecast.
    common = dict(
        engine=sc.engine,
        context_tokens=ctx,
        prompt_tokens=int(prompt),
        output_tokens=int(output),
        gpus=sc.gpus,
        kv_dtype=sc.kv,
        efficiency_override=override,
    )
    f = forecast(model, sc.quant, hw, concurrency=sc.conc, cold_start=cold, **common)
except ValueError as e:
    st.error(f"No forecast for this scenario: {e}")
    st.stop()

m1, m2, m3, m4, m5 = st.columns(5)
m1.metric(
    "Decode (tokens/s per user)",
    f"{f.decode_tokens_per_s:,.1f}",
    help=f"range {f.decode_tokens_per_s_low:,.1f} – {f.decode_tokens_per_s_high:,.1f}",
)
m1.caption(f"{f.decode_tokens_per_s_low:,.1f} – {f.decode_tokens_per_s_high:,.1f}")
m2.metric("Prefill (tokens/s)", f"{f.prefill_tokens_per_s:,.0f}")
m2.caption(f"{f.prefill_tokens_per_s_low:,.0f} – {f.prefill_tokens_per_s_high:,.0f}")
m3.metric("Time to first token", f"{f.ttft_s * 1000:,.0f} ms")
m3.caption(f"{f.ttft_s_low * 1000:,.0f} – {f.ttft_s_high * 1000:,.0f} ms")
m4.metric("End to end", f"{f.e2e_s:,.2f} s")
m4.caption(f"{f.e2e_s_low:,.2f} – {f.e2e_s_high:,.2f} s")
m5.metric(f"Aggregate tokens/s ({_users(sc.conc)})", f"{f.aggregate_tokens_per_s:,.0f}")
m5.caption(
    BOUND_LABELS[f.bound]
    + (f" · at most {_users(f.max_concurrency)} fit in memory" if f.max_concurrency is not None else "")
)
for n in f.notes:
    st.info(n, icon=":material/info:")

# ------------------------------------------------------------------ every variant on this hardware
st.subheader(f"Every variant on {hw.name}")
quants = list(dict.fromkeys([sc.quant, *ENGINE_QUANTS[sc.engine]]))  # the guide's 4-bit, 8-bit, published formats


@st.cache_data(show_spinner=False, max_entries=32)
def _variant_rows(
    hw_id: str, engine: str, ctx: int, kv: str, quants: tuple[str, ...], prompt: int, output: int
) -> list[dict]:
    rows = []
    for m in cat.models.values():
        c = min(ctx, m.context_tokens)
        for q in quants:
            try:
                v = forecast(
                    m,
                    q,
                    cat.device(hw_id),
                    engine=engine,
                    context_tokens=c,
                    prompt_tokens=min(prompt, c // 2),
                    output_tokens=min(output, c // 4),
                    kv_dtype=kv,
                )
            except ValueError:
                continue
            rows.append(
                {
                    "Model": m.name,
                    "Quant": v.quant,
                    "Decode tok/s": round(v.decode_tokens_per_s, 1),
                    "Low": round(v.decode_tokens_per_s_low, 1),
                    "High": round(v.decode_tokens_per_s_high, 1),
                    "Prefill tok/s": round(v.prefill_tokens_per_s),
                    "TTFT ms": round(v.ttft_s * 1000),
                    "Fits": not any("does not fit" in n for n in v.notes),
                    "Weights read / token (GB)": round(v.weight_bytes_per_token / 1e9, 2),
                }
            )
    return rows


rows = _variant_rows(hw.id, sc.engine, sc.ctx, sc.kv, tuple(quants), int(prompt), int(output))
table = pd.DataFrame(rows)
if not table.empty:
    fig = go.Figure()
    for q in quants:
        t = table[table["Quant"].str.upper() == q.upper()]
        if t.empty:
            continue
        fig.add_bar(
            x=t["Model"],
            y=t["Decode tok/s"],
            name=q,
            error_y=dict(
                type="data",
                symmetric=False,
                array=t["High"] - t["Decode tok/s"],
                arrayminus=t["Decode tok/s"] - t["Low"],
            ),
        )
    fig.update_layout(
        barmode="group",
        height=380,
        yaxis_title="decode tokens/s (one user)",
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    st.plotly_chart(fig, width="stretch", key="speed_variants_chart")
    st.dataframe(table, hide_index=True, width="stretch")

left, right = st.columns(2)

# ------------------------------------------------------------------ concurrency
with left:
    st.subheader("Concurrency")
    curve = concurrency_curve(model, sc.quant, hw, **common)
    if curve:
        cf = go.Figure()
        xs = [p.concurrency for p in curve]
        cf.add_scatter(x=xs, y=[p.aggregate_tokens_per_s for p in curve], name="aggregate tok/s", mode="lines+markers")
        cf.add_scatter(
            x=xs, y=[p.per_user_tokens_per_s for p in curve], name="per-user tok/s", mode="lines+markers", yaxis="y2"
        )
        cf.update_layout(
            height=360,
            xaxis=dict(title="concurrent users", type="log"),
            yaxis=dict(title="aggregate tokens/s"),
            yaxis2=dict(title="per-user tokens/s", overlaying="y", side="right"),
            margin=dict(l=10, r=10, t=50, b=10),
            legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
        )
        st.plotly_chart(cf, width="stretch", key="speed_concurrency_chart")
        last = curve[-1]
        at_limit = f.max_concurrency is not None and last.concurrency >= f.max_concurrency
        st.caption(
            ("At most " if at_limit else "At ")
            + f"{_users(last.concurrency)}"
            + (f" fit in memory at {ctx:,} tokens each" if at_limit else f" with {ctx:,} tokens each")
            + f": {last.aggregate_tokens_per_s:,.0f} tokens/s in total, {last.per_user_tokens_per_s:,.1f} per user, "
            f"time to first token {last.ttft_s:,.2f} s when all arrive together ({BOUND_LABELS[last.bound]})."
        )
    else:
        st.warning("Not even one sequence of this context fits in memory.")

# ------------------------------------------------------------------ decode vs depth
with right:
    st.subheader("Decode speed as the context fills")
    dv = decode_vs_depth(
        model, sc.quant, hw, engine=sc.engine, kv_dtype=sc.kv, gpus=sc.gpus, efficiency_override=override
    )
    df = go.Figure()
    xs = [d[0] for d in dv]
    df.add_scatter(
        x=xs + xs[::-1],
        y=[d[3] for d in dv] + [d[2] for d in dv][::-1],
        fill="toself",
        line=dict(width=0),
        fillcolor="rgba(76,120,168,0.2)",
        name="range",
        hoverinfo="skip",
    )
    df.add_scatter(x=xs, y=[d[1] for d in dv], name="forecast", mode="lines+markers", line_color="#4C78A8")
    if measured is not None:
        df.add_scatter(
            x=[int(prompt)],
            y=[measured.decode_tokens_per_s],
            mode="markers",
            name="your probe run",
            marker=dict(size=13, symbol="star", color="#E45756"),
        )
    df.update_layout(
        height=360,
        xaxis_title="tokens already in the context",
        yaxis_title="decode tokens/s",
        margin=dict(l=10, r=10, t=50, b=10),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
    )
    st.plotly_chart(df, width="stretch", key="speed_depth_chart")

# ------------------------------------------------------------------ roofline
st.subheader("Roofline")
rf = roofline(
    model,
    sc.quant,
    hw,
    engine=sc.engine,
    depth_tokens=int(prompt) + int(output) // 2,
    kv_dtype=sc.kv,
    efficiency_override=override,
)
pts = rf["points"]
xs = [p["intensity_flop_per_byte"] for p in pts]
lo_x, hi_x = min(xs + [rf["ridge_flop_per_byte"]]) / 2, max(xs + [rf["ridge_flop_per_byte"]]) * 2
grid = [lo_x * (hi_x / lo_x) ** (i / 60) for i in range(61)]
rfig = go.Figure()
for label, bw, fl, dash in (
    ("peak", rf["peak_bandwidth_bytes_per_s"], rf["peak_flops_per_s"], "dot"),
    ("fitted", rf["effective_bandwidth_bytes_per_s"], rf["effective_flops_per_s"], "solid"),
):
    rfig.add_scatter(
        x=grid, y=[min(bw * x, fl) / 1e12 for x in grid], mode="lines", name=f"{label} roof", line=dict(dash=dash)
    )
rfig.add_scatter(
    x=xs,
    y=[p["achieved_flops_per_s"] / 1e12 for p in pts],
    mode="markers+text",
    text=[f"B={p['batch']}" for p in pts],
    textposition="top center",
    name="decode at batch B",
)
rfig.update_layout(
    height=380,
    xaxis=dict(title="arithmetic intensity (FLOP per byte read)", type="log"),
    yaxis=dict(title="TFLOP/s", type="log"),
    margin=dict(l=10, r=10, t=50, b=10),
    legend=dict(orientation="h", yanchor="bottom", y=1.02, x=0),
)
st.plotly_chart(rfig, width="stretch", key="speed_roofline_chart")
st.caption(
    "Decode at batch 1 sits far left of the ridge: it is limited by memory bandwidth. Batching raises the "
    "FLOPs done per byte read until the compute roof is reached."
)

with st.expander("How the forecast is made and how good it is"):
    r = calibration.RESIDUALS
    if f.device_class in calibration.CLASSES:
        cp = calibration.CLASSES[f.device_class]
        cls_line = (
            f"- Device class **{f.device_class}**: bandwidth efficiency {cp.bandwidth_efficiency:.2f}, "
            f"{cp.layer_overhead_s * 1e6:.0f} µs per layer per token, prefill efficiency "
            f"{cp.prefill_efficiency:.2f} ({cp.n_decode_points} decode / {cp.n_prefill_points} prefill points)."
        )
    else:
        sp = calibration.SERVER
        cls_line = (
            f"- Serving engine (**{sc.engine}**): bandwidth efficiency {sp.bandwidth_efficiency:.2f}, arithmetic "
            f"efficiency {sp.compute_efficiency:.2f}, fitted to {sp.n_points} TensorRT-LLM throughput points "
            f"(held-out median error {r['serving_holdout'][1]:.0%})."
        )
    st.markdown(
        f"{cls_line}\n"
        f"- {f.hardware_name}: {f.peak_bandwidth_bytes_per_s / 1e9:,.0f} GB/s, "
        f"{f.fp16_flops_per_s / 1e12:,.1f} TFLOPS arithmetic peak used.\n"
        f"- Single-stream decode error on GPUs: median {r['decode_gpu_fit'][1]:.0%} / worst "
        f"{r['decode_gpu_fit'][2]:.0%} on the calibration points, median {r['decode_gpu_holdout'][1]:.0%} / worst "
        f"{r['decode_gpu_holdout'][2]:.0%} on held-out published points (hardware the fit never saw). CPUs are "
        f"weaker (held-out median {r['decode_cpu_holdout'][1]:.0%}).\n"
        "- Measurements and their sources: `calculators/measurements.yaml`; refit with "
        "`python bench/fit_throughput.py --write`."
    )
