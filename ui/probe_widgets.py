"""Probe page widgets that are too long for the page itself: endpoint, load pattern, forecast vs measured."""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from ui.probe_charts import capacity_table, compare_figure, compare_table, history_table
from ui.probe_runs import STORE_ERRORS, USE_MEASUREMENT_KEY, compare_runs, list_runs
from ui.state import bind, catalog, get_scenario, update_scenario
from ui.views import probe as vm

W = dict(key_prefix="probe")
NONE_AS_ZERO = dict(from_value=lambda v: v or 0, to_value=lambda v: v or None)


def table(df: pd.DataFrame | None) -> None:
    """A full-width table without the index; nothing for None."""
    if df is not None:
        st.dataframe(df, hide_index=True, width="stretch")


def endpoint_inputs() -> str | None:
    """URL, backend, API key, model picker; returns the API key (never in the link)."""
    c1, c2 = st.columns([3, 1])
    with c1:
        url = bind(
            "p_url", st.text_input, "Endpoint URL", help="Ollama (port 11434) or an OpenAI-compatible server.", **W
        )
    with c2:
        backend = bind("p_backend", st.selectbox, "Backend", options=["auto", "ollama", "openai"], **W)
    key = st.text_input("API key (optional)", type="password", key="probe_api_key",
                        help="Sent as a bearer token; never stored, logged or put in a link.") or None  # fmt: skip
    if not key and os.environ.get("PROBE_API_KEY"):
        key = os.environ["PROBE_API_KEY"]
        st.caption("Using the API key from the PROBE_API_KEY environment variable.")
    if st.button("Connect and list models", key="probe_connect"):
        try:
            st.session_state[vm.DISCOVERY_KEY] = vm.discover(url, backend, key)
        except (vm.ProbeInputError, vm.ProbeError) as e:
            st.session_state.pop(vm.DISCOVERY_KEY, None)
            st.error(str(e) if isinstance(e, vm.ProbeInputError) else f"{e.kind}: {e.message}")
    disc = st.session_state.get(vm.DISCOVERY_KEY)
    if disc is not None and disc.models:
        st.caption(f"{disc.base_url} speaks **{disc.backend}**; {len(disc.models)} model(s).")
        bind("p_model", st.selectbox, "Model", options=disc.models, key_prefix="probe_pick")
    else:
        bind("p_model", st.text_input, "Model", placeholder="e.g. gemma4:e4b", **W)
    return key


def forecast_vs_measured(summary: dict) -> None:
    """Speed forecast for the sidebar's hardware next to the measured single-user speed."""
    st.subheader("Forecast vs measured")
    cat, sc = catalog(), get_scenario()
    ids, quants = list(cat.models), list(cat.quants)
    spec0, q0 = vm.forecast_defaults(summary, sc, ids, quants)
    c1, c2 = st.columns(2)
    with c1:
        spec = bind("p_fc_model", st.selectbox, "Spec model", options=ids, from_value=lambda v: v or spec0, **W)
    with c2:
        quant = bind("p_fc_q", st.selectbox, "Quantization", options=quants, from_value=lambda v: v or q0, **W)
    view = vm.forecast_view(summary, sc, cat, spec or spec0, quant or q0)
    if view.facts:
        st.caption("What the server reports about the model, next to the spec database:")
        table(pd.DataFrame(view.facts))
    if view.measured is None:
        st.caption("Needs a successful concurrency-1 closed-loop level with server token counts.")
        return
    st.caption(f"Hardware from the sidebar: **{sc.hw}** × {sc.gpus}; engine {view.engine}.")
    if view.error:
        st.error(view.error)
        return
    table(pd.DataFrame(view.rows))
    use = st.toggle("Use my measurement for this hardware on the speed and cost pages",
                    key="probe_use_measurement_toggle", value=USE_MEASUREMENT_KEY in st.session_state)  # fmt: skip
    if not use:
        st.session_state.pop(USE_MEASUREMENT_KEY, None)
        return
    try:
        choice = vm.measured_efficiency(view, sc, cat, summary.get("run_id"))
    except ValueError as e:
        st.error(f"Cannot derive an efficiency from this measurement: {e}")
        st.session_state.pop(USE_MEASUREMENT_KEY, None)
        return
    st.session_state[USE_MEASUREMENT_KEY] = choice.to_session()
    st.success(f"Measured bandwidth efficiency {choice.bandwidth_efficiency:.0%} will be used for {spec} on {sc.hw}.")
    st.caption(f"The Speed page also reads stored runs directly: under 'Use my own measurement (probe)' "
               f"enter the served name `{summary.get('model')}`.")  # fmt: skip


def load_inputs() -> None:
    """Closed loop (users) or open loop (rate, arrival pattern), requests or duration, workers, request shape."""
    sc = get_scenario()
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        loop = bind("p_loop", st.radio, "Load", options=["closed", "open"], horizontal=True, **W,
                    format_func=lambda v: "users (closed loop)" if v == "closed" else "rate (open loop)")  # fmt: skip
    with c2:
        if loop == "closed":
            bind("p_conc", st.text_input, "Users per level", help="Comma-separated, e.g. 1,4,16.", **W)
        else:
            bind("p_rate", st.text_input, "Requests/s per level", help="Comma-separated, e.g. 0.5,1,2.", **W)
    with c3:
        bind("p_req", st.number_input, "Requests per level", min_value=1, max_value=1024, **W)
    with c4:
        bind("p_dur", st.number_input, "Or seconds per level (0 = use requests)", min_value=0.0, max_value=3600.0,
             **NONE_AS_ZERO, **W)  # fmt: skip
    if loop == "open":
        a1, a2, a3, a4 = st.columns(4)
        with a1:
            bind("p_arrival", st.selectbox, "Arrival pattern", options=["poisson", "constant", "gamma"], **W)
        with a2:
            bind("p_burst", st.number_input, "Burstiness (gamma shape)", min_value=0.01, max_value=100.0,
                 disabled=sc.p_arrival != "gamma", help="1 = Poisson; below 1 burstier.", **W)  # fmt: skip
        with a3:
            bind(
                "p_maxc", st.number_input, "Max in flight (0 = no cap)", min_value=0, max_value=256, **NONE_AS_ZERO, **W
            )
        with a4:
            bind("p_seed", st.number_input, "Schedule seed", min_value=0, max_value=2**31 - 1, **W)
    s1, s2, s3, s4 = st.columns(4)
    with s1:
        bind("p_ptok", st.number_input, "Prompt tokens (approx.)", min_value=1, max_value=131_072, **W)
    with s2:
        bind("p_otok", st.number_input, "Max output tokens", min_value=1, max_value=32_768, **W)
    with s3:
        bind("p_workers", st.number_input, "Worker processes", min_value=1, max_value=64, **W)
    with s4:
        bind("p_warm", st.number_input, "Warm-up requests", min_value=0, max_value=8, **W)
    t1, t2, t3 = st.columns(3)
    with t1:
        bind("p_rto", st.number_input, "Read timeout (s)", min_value=1.0, max_value=3600.0, **W)
    with t2:
        bind("p_dl", st.number_input, "Deadline (s)", min_value=5.0, max_value=7200.0, **W)
    with t3:
        bind("p_save", st.toggle, "Save run", **W)


def capacity_inputs() -> None:
    """The SLO (targets in ms, attainment) and capacity mode: search users or requests/s up to a maximum."""
    c1, c2, c3, c4 = st.columns(4)
    with c1:
        bind("p_ttft", st.number_input, "SLO: TTFT (ms, 0 = none)", min_value=0.0, max_value=3_600_000.0,
             **NONE_AS_ZERO, **W)  # fmt: skip
    with c2:
        bind("p_tpot", st.number_input, "SLO: TPOT (ms, 0 = none)", min_value=0.0, max_value=3_600_000.0,
             **NONE_AS_ZERO, **W)  # fmt: skip
    with c3:
        bind("p_e2e", st.number_input, "SLO: end-to-end (ms, 0 = none)", min_value=0.0, max_value=3_600_000.0,
             **NONE_AS_ZERO, **W)  # fmt: skip
    with c4:
        bind("p_att", st.number_input, "SLO attainment (share)", min_value=0.01, max_value=1.0, step=0.01, **W)
    d1, d2 = st.columns(2)
    with d1:
        search = bind("p_search", st.radio, "Capacity mode", options=["off", "concurrency", "rate"], horizontal=True,
                      help="Search the largest load whose attainment meets the SLO: users (closed loop) or "
                           "requests/s (open loop, the arrival pattern above).", **W)  # fmt: skip
    with d2:
        bind("p_smax", st.number_input, "Search maximum (users or requests/s)", min_value=1.0, max_value=1024.0,
             disabled=search == "off", **W)  # fmt: skip


def capacity_section(view: vm.ResultView) -> None:
    """A capacity search's answer at its SLO, latency against load with the SLO lines, attainment per level."""
    if not view.capacity:
        return
    st.subheader("Capacity under the SLO")
    st.success(view.capacity_text())
    for col, fig in zip(st.columns(2), view.capacity_figures(), strict=True):
        col.plotly_chart(fig, width="stretch")
    table(capacity_table(view.capacity or {}))


def history_section() -> None:
    """Stored runs, with compare."""
    st.subheader("History")
    try:
        runs = list_runs(limit=100)
    except STORE_ERRORS as e:
        st.error(f"Could not read the result store: {type(e).__name__}: {e}")
        return
    if not runs:
        st.caption("No stored runs yet.")
        return
    link = {"run": st.column_config.LinkColumn("open", display_text="open")}
    st.dataframe(history_table(runs), hide_index=True, width="stretch", column_config=link)
    ids = [r["id"] for r in runs]
    st.session_state["probe_compare"] = [i for i in get_scenario().p_cmp.split(",") if i in ids]
    label = {r["id"]: f"{r['id']} · {r['model']} · {r['created_at']:%m-%d %H:%M}" for r in runs}
    chosen = st.multiselect("Compare runs", ids, key="probe_compare", format_func=label.get,
                            on_change=lambda: update_scenario(p_cmp=",".join(st.session_state["probe_compare"])))  # fmt: skip
    if chosen:
        try:
            rows = compare_runs(chosen)
        except STORE_ERRORS as e:
            st.error(f"Could not read the result store: {type(e).__name__}: {e}")
            return
        if rows:
            st.plotly_chart(compare_figure(rows), width="stretch")
            table(compare_table(rows))
