"""Memory: where the bytes go, how the KV cache grows with context per engine, and what fits on which device."""

from __future__ import annotations

import streamlit as st

from ui import byo_model
from ui import memory_text as text
from ui.charts import fit_heatmap_figure, kv_curve_figure, memory_bar_figure
from ui.state import bind, catalog, get_scenario
from ui.views.memory import REFERENCE_KV_CURVES, build_fit_view, build_memory_view
from ui.widgets import KV_DTYPES, gib

cat = catalog()
s = get_scenario()
st.title("Memory")
st.caption(
    "Weights per component, KV cache per layer type, engine overheads, and the fit on a device. "
    "GiB = 2³⁰ bytes. Each number has an expander with its formula and sources."
)

c1, c2, c3, c4 = st.columns(4)
with c1:
    bind("kv", st.selectbox, "KV cache type", key_prefix="mem", options=KV_DTYPES)
with c2:
    bind("conc", st.number_input, "Concurrent sequences", key_prefix="mem", min_value=1, max_value=1024)
with c3:
    bind("text_only", st.toggle, "Text only (no vision/audio encoders)", key_prefix="mem")
with c4:
    help_ple = "llama.cpp and Ollama keep the PLE table in host memory by default."
    bind("ple_host", st.toggle, "Per-layer embeddings on the host", key="mem_offload_ple", help=help_ple)
    bind("moe_host", st.toggle, "MoE experts on the host", key="mem_offload_experts", help="llama.cpp --cpu-moe.")

box, upload = byo_model.inputs(s)  # a GGUF location, Hub id or upload sized instead of the sidebar's model
v = build_memory_view(s, cat, upload)
byo_model.show(box, v, cat.model(s.model).name)
if v.context_capped:
    st.info(f"{v.model.name} supports at most {v.model.context_tokens:,} tokens; showing that.")
if v.estimate is None:
    st.warning(f"{s.quant} on {s.engine}: {v.error}. Pick another quantization, engine or KV type in the sidebar.")
    st.stop()
est = v.estimate

# ------------------------------------------------------------------ headline: the total beside its parts
m0, m1, m2, m3, m4 = st.columns(5)
m0.metric("Total memory", gib(est.total_bytes), help="weights + KV cache + overhead")
if v.output_copy_bytes:
    m0.caption(f"includes {gib(v.output_copy_bytes)}: llama.cpp's second copy of the tied output matrix on the GPU")
m1.metric("Weights", gib(est.weights_bytes))
m2.metric("KV cache", gib(est.kv_cache_bytes))
m3.metric("Overhead", gib(est.overhead_bytes))
where = f"On {s.gpus} x {v.hardware.name}"
if v.shortfall_bytes is not None:  # a shortfall reads as one, in red, not as a negative "margin"
    m4.metric(
        where, "does not fit", delta=f"short by {gib(v.shortfall_bytes)}", delta_color="inverse", delta_arrow="down"
    )
elif est.margin_bytes is not None:
    m4.metric(where, "fits" if est.fits else "does not fit", delta=f"{gib(est.margin_bytes)} margin")
st.write(text.fit_sentence(v))

st.subheader("Where the memory goes")
st.plotly_chart(memory_bar_figure(est.components, est.usable_bytes), width="stretch", key="mem_chart_bar")
with st.expander("Weights: formula and sources"):
    st.markdown(text.weights_markdown(v))
    st.caption(
        "Read per decoded token (shared + active experts, one row of lookup tables): "
        f"{gib(est.weights.active_bytes_per_token)}"
    )
with st.expander("KV cache: formula and sources"):
    st.markdown(text.kv_markdown(v))
with st.expander("Overhead, placement and fit: formula and sources"):
    st.markdown(text.overhead_markdown(v))
    if sentence := text.vllm_sentence(v):
        st.write(sentence)

st.subheader("KV cache against context, per engine")
dotted = REFERENCE_KV_CURVES
st.plotly_chart(kv_curve_figure(v.kv_ladder_tokens, v.kv_curves_bytes, dotted), width="stretch", key="mem_chart_kv")
st.caption(
    "Sliding-window layers stop growing at the window (the flat dotted line); only the global layers keep growing. "
    "The naive line is what a calculator that ignores windows and KV sharing would report."
)
with st.expander("KV curves: formula"):
    st.markdown(text.curves_markdown(v))

st.subheader(f"What fits: largest context per device ({s.quant}, {s.engine}, {s.kv})")
try:
    fit = build_fit_view(s, cat)
except ValueError as e:
    st.info(f"No fit matrix for this combination: {e}")
else:
    fig = fit_heatmap_figure(fit.model_names, fit.device_names, fit.max_context_tokens)
    st.plotly_chart(fig, width="stretch", key="mem_chart_heat")
    with st.expander("Fit matrix: formula"):
        st.markdown(text.fit_matrix_markdown(fit, s.gpus))
