"""Probe: measure TTFT, ITL, TPOT and throughput of a live Ollama / OpenAI-compatible endpoint, store and compare runs."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from ui.probe_charts import samples_table
from ui.probe_runs import STORE_ERRORS, get_run
from ui.probe_widgets import (
    capacity_inputs,
    capacity_section,
    endpoint_inputs,
    forecast_vs_measured,
    history_section,  # fmt: skip
    load_inputs,
    table,
)
from ui.state import get_scenario
from ui.views import probe as vm


def show_result(summary: dict, samples: list[dict]) -> None:
    """Tables and charts of one run (live or stored)."""
    view = vm.result_view(summary, samples)
    st.markdown(view.head)
    if view.status == "running":
        st.warning("This run never finished (still running, or its process stopped); figures are rebuilt from the "
                   "requests it stored.")  # fmt: skip
    if view.errors:
        st.error(f"{sum(e['count'] for e in view.errors)} request(s) or steps failed; see the error table below.")
    if not view.levels:
        table(pd.DataFrame(view.errors) if view.errors else None)
        return
    if view.knee:
        st.info(f"Knee at concurrency {view.knee.concurrency}: {view.knee.explanation}")
    if view.cold_text:
        st.info(view.cold_text)
    capacity_section(view)
    table(view.level_table())
    if any(lv.usage_missing for lv in view.levels):
        st.warning("The server reported no token counts, so tokens/s and TPOT are unknown (chunks are not tokens).")
    figs = view.figures()
    for col, fig in zip(st.columns(2), figs[:2], strict=True):
        col.plotly_chart(fig, width="stretch")
    for fig in figs[2:]:
        st.plotly_chart(fig, width="stretch")
    with st.expander("Percentiles (p50 / p90 / p99 / mean)", expanded=False):
        table(view.percentiles())
    if view.errors:
        st.subheader("Errors")
        table(pd.DataFrame(view.errors))
    if (facts := view.server_facts()) is not None:
        with st.expander("What the server says about the model"):
            table(facts)
    if (workers := view.workers_table()) is not None:
        with st.expander("Workers"):
            table(workers)
    if samples:
        with st.expander(f"All {len(samples)} requests"):
            table(samples_table(samples))
    forecast_vs_measured(summary)


def stored_run_view(run_id: str) -> None:
    """?run=<id>: a stored run, read-only."""
    try:
        run = get_run(run_id)
    except STORE_ERRORS as e:
        st.error(f"Could not read the result store: {type(e).__name__}: {e}")
        return
    if run is None:
        st.error(f"No stored run with id {run_id!r}.")
        return
    st.caption(f"Stored run, read-only. Started {run.created_at:%Y-%m-%d %H:%M:%S} UTC.")
    show_result(run.summary, run.samples)


@st.fragment(run_every=0.5)
def live_panel() -> None:
    """Progress bar, cancel and the live chart while a run is going; a full rerun when it ends."""
    live: vm.LiveRun | None = st.session_state.get(vm.LIVE_KEY)
    if live is None:
        return
    if live.finished:
        st.rerun()
    share, text, fig = live.progress()
    st.progress(share, text=text)
    if search := live.search_text():
        st.markdown(search)
    if st.button("Cancel run", key="probe_cancel"):
        live.stop.stop()
    st.plotly_chart(fig, width="stretch")


def new_run_form() -> None:
    """Endpoint, model, load pattern and the run button."""
    with st.container(border=True):
        api_key = endpoint_inputs()
        load_inputs()
        capacity_inputs()
        if not os.environ.get(vm.ENV_ALLOWED_HOSTS):
            st.caption(f"Only loopback hosts can be probed; set {vm.ENV_ALLOWED_HOSTS} (comma-separated names, IPs or "
                       "CIDRs) on the dashboard's server to allow others.")  # fmt: skip
        if st.button("Run probe", type="primary", key="probe_run"):
            sc = get_scenario()
            try:
                settings, opts = vm.settings_from(sc), vm.capacity_from(sc)
            except vm.ProbeInputError as e:
                st.error(str(e))
                return
            st.session_state[vm.LIVE_KEY] = vm.start_run(sc, settings, api_key, opts)
            st.rerun()


def main() -> None:
    """The page."""
    st.title("Live latency probe")
    st.caption("Streams requests to your own Ollama or OpenAI-compatible server and measures time to first token, "
               "inter-token latency, time per output token and throughput (vLLM bench serve definitions), with token "
               "counts from the server, under a number of users (closed loop) or a request rate (open loop).")  # fmt: skip
    if run_param := st.query_params.get("run"):
        if st.button("New probe", key="probe_new"):
            del st.query_params["run"]
            st.rerun()
        stored_run_view(run_param)
        return
    live: vm.LiveRun | None = st.session_state.get(vm.LIVE_KEY)
    if live is not None and not live.finished:
        live_panel()
        return
    if live is not None:
        if live.error:
            st.error(live.error)
        elif live.summary is not None:
            show_result(live.summary, live.samples)
        if st.button("Start another run", key="probe_again"):
            del st.session_state[vm.LIVE_KEY]
            st.rerun()
    else:
        new_run_form()
    history_section()


try:
    main()
except Exception as e:  # noqa: BLE001 - the last guard: a message, never a traceback
    st.error(f"The probe page hit an unexpected problem: {type(e).__name__}: {e}")
