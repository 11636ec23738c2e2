"""Speed: decode / prefill tokens per second, latency and throughput of the scenario, with their ranges."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui import speed_text as text
from ui.measurements import session_facts
from ui.speed_charts import (
    concurrency_figure,
    depth_figure,
    latency_load_figure,
    roofline_figure,
    variants_figure,
)
from ui.speed_widgets import request_inputs
from ui.state import bind, catalog, get_scenario
from ui.views.speed import build_speed_view, variant_rows

cat = catalog()
sc = get_scenario()
v = build_speed_view(sc, cat, session_facts(sc))  # every number below comes from this view

st.title("Speed")
st.caption(text.intro())
if v.context_capped:  # as on the Memory page: a context beyond the model's maximum is shown at that maximum
    st.info(f"{v.model.name} supports at most {v.model.context_tokens:,} tokens; showing that.")
if v.own_model_caption:  # the Memory page's own model (GGUF / Hub id) is what is forecast, or why it is not
    (st.warning if v.byo.error else st.caption)(v.own_model_caption)

request_inputs(v)

m = v.facts
with st.expander("Use my own measurement (probe)", icon=":material/network_check:"):
    bind(
        "served",
        st.text_input,
        "Model name as served (Ollama tag or vLLM model)",
        key="speed_probe",
        from_value=lambda n: n or v.model.id,
        to_value=lambda n: None if n in ("", v.model.id) else n,
    )
    (st.warning if m.store_error else st.caption)(text.probe_note(m))
    bind(
        "use_meas",
        st.toggle,
        "Use my measurement instead of the fitted efficiency",
        key="speed_use_probe",
        disabled=m.stored_speed is None,
    )

if v.override_from_probe_page:
    st.info(
        f"Forecast uses your measured bandwidth efficiency ({v.efficiency_override:.0%}, probe run "
        f"{m.probe_choice['run_id']}); switch it off on the Probe page.",
        icon=":material/network_check:",
    )
f = v.forecast
if f is None:
    st.error(f"No forecast for this scenario: {v.error}")
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
m3.metric("Time to first token", f"{f.ttft_s * 1000:,.0f} ms", help=text.MEDIAN_HELP)
m3.caption(f"{f.ttft_s_low * 1000:,.0f} – {f.ttft_s_high * 1000:,.0f} ms")
m4.metric("End to end", f"{f.e2e_s:,.2f} s", help=text.MEDIAN_HELP)
m4.caption(f"{f.e2e_s_low:,.2f} – {f.e2e_s_high:,.2f} s")
m5.metric(f"Aggregate tokens/s ({text.users(sc.conc)})", f"{f.aggregate_tokens_per_s:,.0f}")
fit_note = f" · at most {text.users(f.max_concurrency)} fit in memory" if f.max_concurrency is not None else ""
m5.caption(text.BOUND_LABELS[f.bound] + fit_note)
for n in f.notes:
    st.info(n, icon=":material/info:")

st.subheader("Serving under load (simulated)")
sv = v.serving
if sv.error:
    st.warning(f"No serving simulation for this scenario: {sv.error}")
else:
    for col, (label, value) in zip(st.columns(4), text.serving_metrics(sv), strict=True):
        col.metric(label, value)
    st.caption(text.serving_caption(sv, sc.engine, v.prompt_tokens, v.output_tokens))
    st.plotly_chart(latency_load_figure(sv), width="stretch", key="speed_load_chart")
    for n in sv.notes:
        st.info(n, icon=":material/info:")

st.subheader(f"Every variant on {v.hardware.name}")
table = pd.DataFrame(variant_rows(v, cat))
if not table.empty:
    st.plotly_chart(variants_figure(table, v.variant_quants), width="stretch", key="speed_variants_chart")
    st.dataframe(table, hide_index=True, width="stretch")

left, right = st.columns(2)
with left:
    st.subheader("Concurrency")
    if v.concurrency:
        st.plotly_chart(concurrency_figure(v.concurrency), width="stretch", key="speed_concurrency_chart")
        st.caption(text.concurrency_caption(v))
    else:
        st.warning("Not even one sequence of this context fits in memory.")
with right:
    st.subheader("Decode speed as the context fills")
    point = (v.mean_depth_tokens, m.stored_speed.decode_tokens_per_s) if m.stored_speed is not None else None
    st.plotly_chart(depth_figure(v.depth, point), width="stretch", key="speed_depth_chart")

st.subheader("Roofline")
st.plotly_chart(roofline_figure(v.roofline), width="stretch", key="speed_roofline_chart")
st.caption(
    "Decode at batch 1 sits far left of the ridge: it is limited by memory bandwidth. Batching raises the "
    "FLOPs done per byte read until the compute roof is reached."
)
with st.expander("How the forecast is made and how good it is"):
    st.markdown(text.method_markdown(v))
