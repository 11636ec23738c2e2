"""Guide: which variant to run where, ranked from the calculators, and a check of what published guides claim."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from calculators.guide import (
    ENGINE_QUANTS,
    TARGET_BY_ID,
    TARGETS,
    WORKLOAD_BENCHMARKS,
    WORKLOAD_LABELS,
    Candidate,
    ClaimCheck,
    check_claims,
    rank,
)
from ui.report import guide_request
from ui.report_widgets import report_download
from ui.state import bind, catalog, get_scenario, update_scenario

cat = catalog()
sc = get_scenario()
VERDICT_ICONS = {
    "holds": ":material/check_circle:",
    "holds only with": ":material/warning:",
    "does not hold": ":material/cancel:",
}
SIDEBAR = "sidebar"

st.title("Decision guide")
st.caption(
    "Say where the model must run and what it must do; every variant (model x a 4-bit, an 8-bit and the published "
    "format) is sized by the memory calculator, timed by the speed forecast and priced by the cost model, then "
    "ranked: all requirements met first, then the workload's published scores, then precision, then speed. "
    "Vision and audio encoders are counted only when image or audio input is asked for."
)
if msg := st.session_state.pop("guide_notice", None):
    st.warning(msg)


def _set(field: str, key: str, convert=lambda v: v) -> None:
    """on_change: copy a page widget into the Scenario so the link carries it."""
    try:
        update_scenario(**{field: convert(st.session_state[key])})
    except ValueError:
        st.session_state["guide_notice"] = f"{field}: value not accepted"


def _sidebar_hardware() -> str:
    """The sidebar's devices, e.g. '2 x NVIDIA GeForce RTX 4090'."""
    name = cat.device(sc.hw).name
    return name if sc.gpus == 1 else f"{sc.gpus} x {name}"


def _target_label(t: str | None) -> str:
    """The target's label in the selectbox."""
    if t in (None, SIDEBAR):
        return f"Sidebar hardware ({_sidebar_hardware()}, {sc.engine})"
    return TARGET_BY_ID[t].label


c1, c2, c3 = st.columns(3)
with c1:
    # "sidebar" stands for None: a selectbox reads a None value as "nothing selected".
    bind(
        "tgt",
        st.selectbox,
        "Where must it run?",
        key_prefix="guide",
        options=[SIDEBAR, *(t.id for t in TARGETS)],
        format_func=_target_label,
        from_value=lambda v: v or SIDEBAR,
        to_value=lambda v: None if v == SIDEBAR else v,
    )
    bind(
        "ctx",
        st.number_input,
        "Context it needs (tokens)",
        key_prefix="guide",
        min_value=256,
        max_value=1_048_576,
        step=1024,
    )
    st.session_state["guide_mods"] = [m for m in sc.mods.split(",") if m]
    st.multiselect(
        "Inputs beyond text",
        ["image", "audio"],
        key="guide_mods",
        on_change=_set,
        args=("mods", "guide_mods", lambda v: ",".join(sorted(v))),
    )
with c2:
    bind(
        "work",
        st.selectbox,
        "Workload",
        key_prefix="guide",
        options=list(WORKLOAD_LABELS),
        format_func=WORKLOAD_LABELS.get,
    )
    bind("private", st.toggle, "Private: no external API", key_prefix="guide")
    st.session_state["guide_tps"] = float(sc.user_tps or 10.0)
    st.number_input(
        "Slowest acceptable decode (tokens/s per user)",
        min_value=0.1,
        max_value=10_000.0,
        step=1.0,
        key="guide_tps",
        on_change=_set,
        args=("user_tps", "guide_tps"),
    )
with c3:
    bind(
        "in_mtok",
        st.number_input,
        "Input tokens a month (millions)",
        key_prefix="guide",
        min_value=0.0,
        max_value=1e7,
        step=10.0,
    )
    bind(
        "out_mtok",
        st.number_input,
        "Output tokens a month (millions)",
        key_prefix="guide",
        min_value=0.0,
        max_value=1e7,
        step=10.0,
    )
    bind("conc", st.number_input, "Concurrent users", key_prefix="guide", min_value=1, max_value=1024)
    st.session_state["guide_budget"] = float(sc.budget or 0.0)
    st.number_input(
        "Budget (USD a month, 0 = none)",
        min_value=0.0,
        max_value=1e7,
        step=50.0,
        key="guide_budget",
        on_change=_set,
        args=("budget", "guide_budget", lambda v: v or None),
    )

sc = get_scenario()
req = guide_request(sc)
with st.expander("How each target maps to catalog devices, engines and formats"):
    st.dataframe(
        pd.DataFrame(
            [
                {
                    "target": t.label,
                    "devices": ", ".join(
                        f"{cat.device(h).name} ({cat.device(h).memory_label})" for h in t.hardware_ids
                    ),
                    "GPUs": t.gpus,
                    "engine": t.engine,
                    "formats ranked": ", ".join(ENGINE_QUANTS[t.engine]),
                    "why": t.why,
                }
                for t in TARGETS
            ]
        ),
        hide_index=True,
        width="stretch",
    )
    st.caption(
        "Scores per workload: "
        + "; ".join(f"{WORKLOAD_LABELS[w]}: {', '.join(b)}" for w, b in WORKLOAD_BENCHMARKS.items())
        + ". The catalog has no tool-use benchmark (Tau2, BFCL), so agentic work leans on coding and hard-question "
        "scores. A score is the mean of the model's scores as % of the best published one; scores are for the "
        "published weights, quantization losses are not in the catalog."
    )


@st.cache_data(show_spinner="Sizing, timing and pricing every variant", max_entries=32)
def _ranked(request) -> list[Candidate]:
    return rank(cat, request)


@st.cache_data(show_spinner=False)
def _claims() -> list[ClaimCheck]:
    return check_claims(cat)


try:
    ranked = _ranked(req)
except ValueError as e:
    st.error(f"The guide cannot rank these inputs: {e}")
    st.stop()

ok = [c for c in ranked if c.status != "ruled out"]
st.subheader(f"Best fits: {TARGET_BY_ID[sc.tgt].label if sc.tgt else _sidebar_hardware()}")
if not ok:
    st.error(
        "Nothing fits. The closest misses are listed below: try a shorter context, a bigger target, or no "
        "image/audio input."
    )
for c in ok[:3]:
    with st.container(border=True):
        badge = "" if c.status == "recommended" else " · with caveats"
        where = c.hardware_name if c.gpus == 1 else f"{c.gpus} x {c.hardware_name}"
        st.markdown(f"**#{c.rank} {c.model_name} · {c.quant}** on {where} ({c.engine}){badge}")
        st.write(c.sentence)

show_out = st.toggle("Show ruled-out variants", value=False, key="guide_show_out")
rows = [c.as_row() for c in ranked if show_out or c.status != "ruled out"]
table = pd.DataFrame(rows)
st.dataframe(
    table,
    hide_index=True,
    width="stretch",
    column_config={
        "why": st.column_config.TextColumn("why", width="large"),
        "margin_gib": st.column_config.NumberColumn("margin (GiB)", format="%.2f"),
        "usd_per_month": st.column_config.NumberColumn("USD/month", format="$%.2f"),
        "api_usd_per_month": st.column_config.NumberColumn("API USD/month", format="$%.2f"),
    },
)
st.download_button(
    "Download the ranking (CSV)",
    pd.DataFrame([c.as_row() for c in ranked]).to_csv(index=False),
    "guide-ranking.csv",
    "text/csv",
    key="guide_csv",
    on_click="ignore",
)

st.subheader("Claims check")
st.caption(
    "Statements from published guides, each recomputed with the calculators. 'Holds only with X' means the "
    "literal reading fails but a reading that keeps the claim's point passes."
)
for chk in _claims():
    with st.container(border=True):
        st.markdown(f"{VERDICT_ICONS[chk.verdict.status]} **“{chk.claim.text}”** — {chk.verdict.text}")
        st.markdown(f"Computed: {chk.figure}")
        st.caption(chk.detail)
        src = chk.claim.source
        st.caption(f"Source: [{src}]({src})" if src.startswith("http") else f"Source: {src}")
        if chk.claim.note:
            st.caption(chk.claim.note)

report_download(["guide", "memory", "speed", "cost"], key="guide_report")
