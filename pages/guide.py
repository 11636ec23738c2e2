"""Guide: which variant to run where, ranked from the calculators, and a check of what published guides claim."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.report_widgets import report_download
from ui.state import bind, catalog, get_scenario
from ui.views.guide import (
    DEFAULT_MIN_TOKENS_PER_S,
    ENGINE_QUANTS,
    TARGET_BY_ID,
    TARGETS,
    WORKLOAD_BENCHMARKS,
    WORKLOAD_LABELS,
    build_guide_view,
    claims,
    sidebar_hardware,
)

cat = catalog()
sc = get_scenario()
VERDICT_ICONS = {
    "holds": ":material/check_circle:",
    "holds only with": ":material/warning:",
    "does not hold": ":material/cancel:",
}
SIDEBAR = "sidebar"  # stands for None: a selectbox reads a None value as "nothing selected"

st.title("Decision guide")
st.caption(
    "Say where the model must run and what it must do; every variant (model x a 4-bit, an 8-bit and the published "
    "format) is sized by the memory calculator, timed by the speed forecast and priced by the cost model, then "
    "ranked: all requirements met first, then the workload's published scores, then precision, then speed. "
    "Vision and audio encoders are counted only when image or audio input is asked for."
)


def _target_label(t: str) -> str:
    """The target's label in the selectbox."""
    return f"Sidebar hardware ({sidebar_hardware(sc, cat)}, {sc.engine})" if t == SIDEBAR else TARGET_BY_ID[t].label


def _number(field: str, label: str, **kw) -> None:
    """A number input bound to Scenario.<field>."""
    bind(field, st.number_input, label, key_prefix="guide", **kw)


c1, c2, c3 = st.columns(3)
with c1:
    targets = [SIDEBAR, *(t.id for t in TARGETS)]
    bind("tgt", st.selectbox, "Where must it run?", key_prefix="guide", options=targets, format_func=_target_label,
         from_value=lambda t: t or SIDEBAR, to_value=lambda t: None if t == SIDEBAR else t)  # fmt: skip
    _number("ctx", "Context it needs (tokens)", min_value=256, max_value=1_048_576, step=1024)
    bind("mods", st.multiselect, "Inputs beyond text", key="guide_mods", options=["image", "audio"],
         from_value=lambda m: [x for x in m.split(",") if x], to_value=lambda m: ",".join(sorted(m)))  # fmt: skip
with c2:
    labels = WORKLOAD_LABELS
    bind("work", st.selectbox, "Workload", key_prefix="guide", options=list(labels), format_func=labels.get)
    bind("private", st.toggle, "Private: no external API", key_prefix="guide")
    _number("user_tps", "Slowest acceptable decode (tokens/s per user)", key="guide_tps", min_value=0.1,
            max_value=10_000.0, step=1.0, from_value=lambda t: float(t or DEFAULT_MIN_TOKENS_PER_S))  # fmt: skip
with c3:
    _number("in_mtok", "Input tokens a month (millions)", min_value=0.0, max_value=1e7, step=10.0)
    _number("out_mtok", "Output tokens a month (millions)", min_value=0.0, max_value=1e7, step=10.0)
    _number("conc", "Concurrent users", min_value=1, max_value=1024)
    _number("budget", "Budget (USD a month, 0 = none)", key="guide_budget", min_value=0.0, max_value=1e7,
            step=50.0, from_value=lambda b: float(b or 0.0), to_value=lambda b: b or None)  # fmt: skip

sc = get_scenario()
v = build_guide_view(sc, cat)  # every number below comes from this view
with st.expander("How each target maps to catalog devices, engines and formats"):
    devices = {t.id: ", ".join(f"{cat.device(h).name} ({cat.device(h).memory_label})" for h in t.hardware_ids)
               for t in TARGETS}  # fmt: skip
    rows = [{"target": t.label, "devices": devices[t.id], "GPUs": t.gpus, "engine": t.engine,
             "formats ranked": ", ".join(ENGINE_QUANTS[t.engine]), "why": t.why} for t in TARGETS]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.caption(
        "Scores per workload: "
        + "; ".join(f"{WORKLOAD_LABELS[w]}: {', '.join(b)}" for w, b in WORKLOAD_BENCHMARKS.items())
        + ". The catalog has no tool-use benchmark (Tau2, BFCL), so agentic work leans on coding and hard-question "
        "scores. A score is the mean of the model's scores as % of the best published one; scores are for the "
        "published weights, quantization losses are not in the catalog."
    )

if v.error:
    st.error(f"The guide cannot rank these inputs: {v.error}")
    st.stop()
st.subheader(f"Best fits: {v.where}")
if not v.fitting:
    st.error(
        "Nothing fits. The closest misses are listed below: try a shorter context, a bigger target, or no "
        "image/audio input."
    )
for c in v.fitting[:3]:
    with st.container(border=True):
        badge = "" if c.status == "recommended" else " · with caveats"
        where = c.hardware_name if c.gpus == 1 else f"{c.gpus} x {c.hardware_name}"
        st.markdown(f"**#{c.rank} {c.model_name} · {c.quant}** on {where} ({c.engine}){badge}")
        st.write(c.sentence)

bind("show_out", st.toggle, "Show ruled-out variants", key="guide_show_out")
money = st.column_config.NumberColumn
st.dataframe(
    pd.DataFrame(v.rows()),
    hide_index=True,
    width="stretch",
    column_config={
        "why": st.column_config.TextColumn("why", width="large"),
        "margin_gib": money("margin (GiB)", format="%.2f"),
        "usd_per_month": money("USD/month", format="$%.2f"),
        "api_usd_per_month": money("API USD/month", format="$%.2f"),
    },
)
csv = pd.DataFrame(v.rows(show_ruled_out=True)).to_csv(index=False)
st.download_button(
    "Download the ranking (CSV)", csv, "guide-ranking.csv", "text/csv", key="guide_csv", on_click="ignore"
)

st.subheader("Claims check")
st.caption(
    "Statements from published guides, each recomputed with the calculators. 'Holds only with X' means the "
    "literal reading fails but a reading that keeps the claim's point passes."
)
for chk in claims(cat):
    with st.container(border=True):
        st.markdown(f"{VERDICT_ICONS[chk.verdict.status]} **“{chk.claim.text}”** — {chk.verdict.text}")
        st.markdown(f"Computed: {chk.figure}")
        st.caption(chk.detail)
        src = chk.claim.source
        st.caption(f"Source: [{src}]({src})" if src.startswith("http") else f"Source: {src}")
        if chk.claim.note:
            st.caption(chk.claim.note)

report_download(["guide", "memory", "speed", "cost"], key="guide_report")
