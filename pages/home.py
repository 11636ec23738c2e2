"""Home: what the dashboard answers, the current scenario in one glance, and where to go next."""

from __future__ import annotations

import streamlit as st

from app_pages import PAGES
from ui.measurements import session_facts
from ui.report import build_report
from ui.scenario import Scenario
from ui.state import catalog, get_scenario
from ui.views.facts import SessionFacts

cat = catalog()
s = get_scenario()
model, hw = cat.model(s.model), cat.device(s.hw)

st.title("LLM capacity planner")
st.markdown(
    "Which open-weight model variant, on which hardware, at what quantization and context — how fast, and at what "
    "cost against a rented GPU or a hosted API. Set the scenario in the sidebar; every page reads it, and the "
    "address bar always holds a link that reopens exactly what you see."
)
st.info(
    f"Current scenario: **{model.name}** at **{s.quant}**, {s.ctx:,} tokens of context, "
    f"**{s.engine}** on **{s.gpus} x {hw.name}** ({hw.memory_label}).",
    icon=":material/tune:",
)


@st.cache_data(show_spinner=False, max_entries=32)
def _glance(scenario_json: str, facts_key: str, _facts: SessionFacts) -> list[tuple[str, list[str]]]:
    """The report's memory, speed and cost sentences (renderings of the pages' views), cached per scenario."""
    rep = build_report(Scenario.model_validate_json(scenario_json), cat, ("memory", "speed", "cost"), facts=_facts)
    return [(sec.title, sec.lines) for sec in rep.sections if sec.key != "inputs"]


facts = session_facts(s, with_levels=True)
for title, lines in _glance(s.model_dump_json(), repr(facts), facts):
    st.markdown(f"**{title}.** " + " ".join(lines[:2]))
cols = st.columns(3)
for i, p in enumerate(x for x in PAGES if x.url_path != "home"):
    with cols[i % 3]:
        st.page_link(p.file, label=p.title, icon=p.icon)
