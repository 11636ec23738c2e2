"""Entry point: navigation over pages/, the shared scenario sidebar and the data footer."""

from __future__ import annotations

import streamlit as st

from app_pages import PAGES
from ui.report_widgets import report_download
from ui.state import catalog, init_scenario, show_notices, sync_url
from ui.widgets import scenario_sidebar

st.set_page_config(page_title="LLM capacity planner", page_icon="🧮", layout="wide")
nav = st.navigation([st.Page(f, title=t, url_path=u, icon=i, default=(u == "home")) for f, t, u, i in PAGES])
init_scenario()
scenario_sidebar()
show_notices()
# Widgets change the Scenario in their callbacks, before this run: write the link now, so that a page that stops
# early (st.stop on inputs it cannot size) still leaves the address bar in step.
sync_url()
nav.run()
# The stakeholder report (and print view) under the pages that compute something; the guide adds its own section.
REPORT_SECTIONS = {"memory": ("memory",), "speed": ("memory", "speed"), "costs": ("memory", "speed", "cost")}
if nav.url_path in REPORT_SECTIONS:
    report_download(REPORT_SECTIONS[nav.url_path], key=f"report_{nav.url_path}")
sync_url()
st.caption(
    f"Catalog data as of {catalog().data_as_of} · every figure links to its source · "
    "derived figures are marked as derived · GiB = 2³⁰ bytes, GB = 10⁹ bytes"
)
