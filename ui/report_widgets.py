"""The "Report" section every page shows: downloads of the scenario report and a print-friendly view."""

from __future__ import annotations

import json
from collections.abc import Sequence

import streamlit as st

from ui.measurements import session_facts
from ui.report import SECTIONS, build_report
from ui.scenario import Scenario
from ui.state import catalog, get_scenario, share_url
from ui.views.facts import SessionFacts

PRINT_KEY = "report_print_view"
# Hide the app chrome (sidebar, header, toolbar) and the widgets that make no sense on paper.
PRINT_CSS = """<style>
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stDecoration"], [data-testid="stStatusWidget"] {display: none !important;}
[data-testid="stMainBlockContainer"] {max-width: 100% !important; padding-top: 1rem !important;}
@media print {
  [data-testid="stDownloadButton"], [data-testid="stButton"], [data-testid="stPopover"],
  [data-testid="stExpanderToggleIcon"] {display: none !important;}
  [data-testid="stAppViewContainer"] {overflow: visible !important;}
}
</style>"""


@st.cache_data(show_spinner=False, max_entries=16)
def _report_files(
    scenario_json: str, sections: tuple[str, ...], link: str | None, facts_key: str, _facts: SessionFacts
) -> dict[str, bytes | str]:
    """Markdown, JSON and the CSV zip of one scenario (cached per scenario and session facts: the guide and cost
    sections take a few 100 ms)."""
    sc = Scenario.model_validate(json.loads(scenario_json))
    rep = build_report(sc, catalog(), sections, link, facts=_facts)
    return {
        "md": rep.to_markdown(png_note="PNG charts come with the bundle below."),
        "json": rep.to_json(),
        "csv": rep.csv_zip(),
    }


def print_view_on() -> bool:
    """Whether the print-friendly view is on (toggle, or `print=1` in the link that opened the session)."""
    if st.query_params.get("print") == "1":
        st.session_state[PRINT_KEY] = True
    return bool(st.session_state.get(PRINT_KEY))


def report_download(sections: Sequence[str] | None = None, key: str = "report") -> None:
    """A collapsed "Report" section: Markdown / JSON / CSV downloads, a zip with PNG charts, and a print view.

    `sections`: any of "memory", "speed", "cost", "guide" (default: all); inputs and sources are always in."""
    chosen = tuple(s for s in (sections or SECTIONS) if s in SECTIONS)
    sc = get_scenario()
    if print_view_on():
        st.html(PRINT_CSS)
    with st.expander("Report", icon=":material/description:"):
        st.caption(
            "The scenario's inputs, results and the source of every catalog number, for people who do not "
            "open the dashboard. The link in the report reopens this exact scenario."
        )
        # Without a browser (AppTest, bare mode) there is no page URL: the report then gives the link's query.
        link = share_url() if st.context.url else None
        try:
            facts = session_facts(sc, with_levels="cost" in chosen)
            files = _report_files(sc.model_dump_json(), chosen, link, repr(facts), facts)
        except (ValueError, KeyError) as e:
            st.warning(f"No report for this scenario: {e}")
            return
        c1, c2, c3 = st.columns(3)
        c1.download_button(
            "Markdown report",
            files["md"],
            "capacity-report.md",
            "text/markdown",
            key=f"{key}_md",
            width="stretch",
            on_click="ignore",
        )
        c2.download_button(
            "JSON (inputs, tables, figures)",
            files["json"],
            "capacity-report.json",
            "application/json",
            key=f"{key}_json",
            width="stretch",
            on_click="ignore",
        )
        c3.download_button(
            "Tables (CSV, zip)",
            files["csv"],
            "capacity-tables.zip",
            "application/zip",
            key=f"{key}_csv",
            width="stretch",
            on_click="ignore",
        )
        bundle_key = f"{key}_bundle"
        if st.button(
            "Prepare a zip with PNG charts",
            key=f"{key}_prepare",
            help="Plotly's static export starts a headless Chromium; it takes a few seconds.",
        ):
            rep = build_report(sc, catalog(), chosen, link, facts=facts)
            with st.spinner("Rendering charts"):
                st.session_state[bundle_key] = (sc.model_dump_json(), *rep.bundle_zip(with_png=True))
        bundle = st.session_state.get(bundle_key)
        if bundle and bundle[0] == sc.model_dump_json():
            st.caption(bundle[2])
            st.download_button(
                "Download the zip (report.md, report.json, tables, charts)",
                bundle[1],
                "capacity-report.zip",
                "application/zip",
                key=f"{key}_zip",
                on_click="ignore",
            )
        st.toggle("Print-friendly view (hides the sidebar and controls; then use the browser's Print)", key=PRINT_KEY)
