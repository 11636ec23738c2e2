"""Probe: measure TTFT, ITL, TPOT and throughput of a live Ollama / OpenAI-compatible endpoint, store and compare runs."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import streamlit as st

from calculators import throughput
from probe.clients import ProbeError, StopSignal
from probe.guard import (
    ENV_ALLOWED_HOSTS,
    MAX_OUTPUT_TOKENS,
    MAX_PROMPT_TOKENS,
    MAX_REQUESTS_PER_LEVEL,
    MAX_WARMUP_REQUESTS,
    ProbeInputError,
    scrub,
)
from probe.report import (
    USE_MEASUREMENT_KEY,
    breakdown_rows,
    error_rows,
    forecast_rows,
    guess_spec_model,
    level_rows,
    measured_single_user,
    percentile_rows,
    spec_vs_server_rows,
)
from probe.runner import ProbeSettings, Progress, discover, run_probe
from ui.probe_charts import (
    breakdown_figure,
    compare_figure,
    compare_table,
    history_table,
    latency_figure,
    samples_table,
    server_facts_table,
    throughput_figure,
    timeline_figure,
    timeline_point,
)
from ui.probe_runs import (
    STORE_ERRORS,
    MeasuredEfficiency,
    compare_runs,
    get_run,
    list_runs,
    run_and_save,
    typed_summary,
    with_store,
)
from ui.state import catalog, get_scenario

LIVE_KEY = "probe_live"
DISCOVERY_KEY = "probe_discovery"
LEVEL_CHOICES = [1, 2, 4, 8, 16, 32, 64, 128]


@dataclass
class LiveRun:
    """A run in a background thread; the page polls it (no streamlit calls from the thread)."""

    total: int
    stop: StopSignal = field(default_factory=StopSignal)
    lock: threading.Lock = field(default_factory=threading.Lock)
    points: list[dict[str, Any]] = field(default_factory=list)
    done_count: int = 0
    finished: bool = False
    summary: dict[str, Any] | None = None
    samples: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    started: float = field(default_factory=time.monotonic)

    def on_progress(self, p: Progress) -> None:
        """Called from worker threads after each request."""
        r = p.result
        with self.lock:
            self.done_count = p.done
            self.points.append(timeline_point(p.elapsed_s, str(r.concurrency), r.ttft_s))


def _work(
    live: LiveRun, url: str, model: str, backend: str, settings: ProbeSettings, api_key: str | None, save: bool
) -> None:
    """Run the probe in a background thread, leaving the outcome on `live` (no streamlit calls here)."""
    try:
        kwargs: dict[str, Any] = dict(settings=settings, api_key=api_key, on_progress=live.on_progress, stop=live.stop)
        if save:
            report = with_store(lambda store: run_and_save(store, url, model, backend, **kwargs))
        else:
            report = run_probe(url, model, backend, **kwargs)
        live.summary = report.to_json()
        live.samples = [r.to_dict() for r in report.results]
    except ProbeInputError as e:
        live.error = str(e)
    except Exception as e:  # noqa: BLE001 - a thread's exception could never reach st.error; the page shows this
        live.error = scrub(f"{type(e).__name__}: {e}", api_key)
    finally:
        live.finished = True


def _store_error(e: Exception) -> None:
    """A store that cannot be opened or read is a message; the rest of the page still works."""
    st.error(f"Could not read the result store: {type(e).__name__}: {e}")


# ------------------------------------------------------------------------------------------ result view


def show_result(summary: dict[str, Any], samples: list[dict[str, Any]]) -> None:
    """Tables and charts of one run (live or stored)."""
    levels, knee = typed_summary(summary)
    status = summary.get("status")
    head = (
        f"**{summary.get('model')}** on **{summary.get('backend') or '?'}** at `{summary.get('endpoint')}` — {status}"
    )
    if summary.get("run_id"):
        head += f" — run `{summary['run_id']}` ([permalink](?run={summary['run_id']}))"
    st.markdown(head)
    if status == "running":
        st.warning(
            "This run never finished (still running, or its process stopped); figures are rebuilt from the "
            "requests it stored."
        )
    errs = error_rows(summary.get("errors") or [], levels)
    if errs:
        st.error(f"{sum(e['count'] for e in errs)} request(s) or steps failed; see the error table below.")
    if not levels:
        if errs:
            st.dataframe(pd.DataFrame(errs), hide_index=True, width="stretch")
        return
    if knee:
        st.info(f"Knee at concurrency {knee.concurrency}: {knee.explanation}")
    cold = summary.get("cold_start") or {}
    if cold.get("detected"):
        st.info(
            f"Cold start: the first request took {cold['first_ttft_s']:.2f} s to its first token "
            f"({cold.get('evidence')}); it was a warm-up or is flagged, and warm-up requests are not in the statistics."
        )
    st.dataframe(pd.DataFrame(level_rows(levels)), hide_index=True, width="stretch")
    if any(lv.usage_missing for lv in levels):
        st.warning("The server reported no token counts, so tokens/s and TPOT are unknown (chunks are not tokens).")
    c1, c2 = st.columns(2)
    c1.plotly_chart(latency_figure(levels), width="stretch")
    c2.plotly_chart(throughput_figure(levels), width="stretch")
    bd = breakdown_rows(levels)
    if bd:
        st.plotly_chart(breakdown_figure(bd), width="stretch")
    with st.expander("Percentiles (p50 / p90 / p99 / mean)", expanded=False):
        st.dataframe(pd.DataFrame(percentile_rows(levels)), hide_index=True, width="stretch")
    if errs:
        st.subheader("Errors")
        st.dataframe(pd.DataFrame(errs), hide_index=True, width="stretch")
    server = summary.get("server") or {}
    if server:
        with st.expander("What the server says about the model"):
            st.dataframe(server_facts_table(server), hide_index=True, width="stretch")
    if samples:
        with st.expander(f"All {len(samples)} requests"):
            st.dataframe(samples_table(samples), hide_index=True, width="stretch")
    forecast_vs_measured(summary)


def forecast_vs_measured(summary: dict[str, Any]) -> None:
    """Speed forecast for the sidebar's hardware next to the measured single-user speed."""
    measured = measured_single_user(typed_summary(summary)[0])
    st.subheader("Forecast vs measured")
    if measured is None:
        st.caption("Needs a successful concurrency-1 level with server token counts.")
        return
    cat = catalog()
    scenario = get_scenario()
    ids = list(cat.models)
    guess = guess_spec_model(str(summary.get("model") or ""), ids) or scenario.model
    c1, c2 = st.columns(2)
    spec_id = c1.selectbox("Spec model", ids, index=ids.index(guess) if guess in ids else 0, key="probe_fc_model")
    quants = list(cat.quants)
    server_q = str((summary.get("server") or {}).get("quantization") or "")
    q_default = server_q if server_q in quants else (scenario.quant if scenario.quant in quants else quants[0])
    quant = c2.selectbox("Quantization", quants, index=quants.index(q_default), key="probe_fc_quant")
    engine = "ollama" if summary.get("backend") == "ollama" else scenario.engine
    settings = summary.get("settings") or {}
    facts = spec_vs_server_rows(cat.model(spec_id), summary.get("server") or {})
    if facts:
        st.caption("What the server reports about the model, next to the spec database:")
        st.dataframe(pd.DataFrame(facts), hide_index=True, width="stretch")
    st.caption(f"Hardware from the sidebar: **{scenario.hw}** × {scenario.gpus}; engine {engine}.")
    try:
        fc = throughput.forecast(
            spec_id,
            quant,
            scenario.hw,
            engine=engine,
            context_tokens=scenario.ctx,
            prompt_tokens=int(settings.get("prompt_tokens") or ProbeSettings.prompt_tokens),
            output_tokens=int(settings.get("max_tokens") or ProbeSettings.max_tokens),
            concurrency=1,
            gpus=scenario.gpus,
            kv_dtype=scenario.kv,
        )
    except ValueError as e:  # e.g. the context does not fit this model or hardware
        st.error(f"No forecast for {spec_id} {quant} on {scenario.hw}: {e}")
        return
    rows = forecast_rows(fc.decode_tokens_per_s, fc.ttft_s, measured)
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    use = st.toggle(
        "Use my measurement for this hardware on the speed and cost pages",
        key="probe_use_measurement_toggle",
        value=USE_MEASUREMENT_KEY in st.session_state,
    )
    if use:
        try:
            eff = throughput.implied_efficiency(
                spec_id,
                quant,
                scenario.hw,
                measured["decode_tokens_per_s"],
                engine=engine,
                kv_dtype=scenario.kv,
                gpus=scenario.gpus,
            )
        except ValueError as e:
            st.error(f"Cannot derive an efficiency from this measurement: {e}")
            st.session_state.pop(USE_MEASUREMENT_KEY, None)
            return
        choice = MeasuredEfficiency(
            spec_id, quant, scenario.hw, engine, summary.get("run_id"), measured["decode_tokens_per_s"], eff
        )
        st.session_state[USE_MEASUREMENT_KEY] = choice.to_session()
        st.success(f"Measured bandwidth efficiency {eff:.0%} will be used for {spec_id} on {scenario.hw}.")
        st.caption(
            f"The Speed page also reads stored runs directly: under 'Use my own measurement (probe)' "
            f"enter the served name `{summary.get('model')}`."
        )
    else:
        st.session_state.pop(USE_MEASUREMENT_KEY, None)


# ------------------------------------------------------------------------------------------ page sections


def stored_run_view(run_id: str) -> None:
    """?run=<id>: a stored run, read-only."""
    try:
        run = get_run(run_id)
    except STORE_ERRORS as e:
        _store_error(e)
        return
    if run is None:
        st.error(f"No stored run with id {run_id!r}.")
        return
    st.caption(f"Stored run, read-only. Started {run.created_at:%Y-%m-%d %H:%M:%S} UTC.")
    show_result(run.summary, run.samples)


@st.fragment(run_every=0.5)
def live_panel() -> None:
    """Progress, cancel and a live chart while a run is going; a full rerun when it ends."""
    live: LiveRun | None = st.session_state.get(LIVE_KEY)
    if live is None:
        return
    if live.finished:
        st.rerun()
    with live.lock:
        done, points = live.done_count, list(live.points)
    st.progress(
        min(1.0, done / max(1, live.total)),
        text=f"{done} of {live.total} requests · {time.monotonic() - live.started:.0f} s",
    )
    if st.button("Cancel run", key="probe_cancel"):
        live.stop.stop()
    st.plotly_chart(timeline_figure(points), width="stretch")


def new_run_form() -> None:
    """Endpoint, model picker, settings and the run button."""
    with st.container(border=True):
        c1, c2 = st.columns([3, 1])
        url = c1.text_input(
            "Endpoint URL",
            value="http://127.0.0.1:11434",
            key="probe_url",
            help="Ollama (default port 11434) or any OpenAI-compatible server (vLLM, llama.cpp, SGLang).",
        )
        backend = c2.selectbox("Backend", ["auto", "ollama", "openai"], key="probe_backend")
        api_key = (
            st.text_input(
                "API key (optional)",
                type="password",
                key="probe_api_key",
                help="Sent as a bearer token; never stored, logged or put in a link.",
            )
            or None
        )
        if not api_key and os.environ.get("PROBE_API_KEY"):
            api_key = os.environ["PROBE_API_KEY"]
            st.caption("Using the API key from the PROBE_API_KEY environment variable.")
        if st.button("Connect and list models", key="probe_connect"):
            try:
                st.session_state[DISCOVERY_KEY] = discover(url, backend, api_key)
            except ProbeInputError as e:
                st.session_state.pop(DISCOVERY_KEY, None)
                st.error(str(e))
            except ProbeError as e:
                st.session_state.pop(DISCOVERY_KEY, None)
                st.error(f"{e.kind}: {e.message}")
        disc = st.session_state.get(DISCOVERY_KEY)
        if disc is not None and disc.models:
            st.caption(f"{disc.base_url} speaks **{disc.backend}**; {len(disc.models)} model(s).")
            model = st.selectbox("Model", disc.models, key="probe_model_pick")
        else:
            model = st.text_input("Model", key="probe_model_name", placeholder="e.g. gemma4:e4b")
        s1, s2, s3, s4 = st.columns(4)
        levels = s1.multiselect("Concurrency levels", LEVEL_CHOICES, default=[1, 2, 4], key="probe_levels")
        defaults = ProbeSettings  # its field defaults are the form's defaults
        n_req = s2.number_input(
            "Requests per level", 1, MAX_REQUESTS_PER_LEVEL, defaults.requests_per_level, key="probe_requests"
        )
        p_tok = s3.number_input(
            "Prompt tokens (approx.)", 1, MAX_PROMPT_TOKENS, defaults.prompt_tokens, key="probe_prompt_tokens"
        )
        o_tok = s4.number_input("Max output tokens", 1, MAX_OUTPUT_TOKENS, defaults.max_tokens, key="probe_max_tokens")
        t1, t2, t3, t4 = st.columns(4)
        warm = t1.number_input("Warm-up requests", 0, MAX_WARMUP_REQUESTS, defaults.warmup_requests, key="probe_warmup")
        read_to = t2.number_input("Read timeout (s)", 1.0, 3600.0, defaults.read_timeout_s, key="probe_read_timeout")
        deadline = t3.number_input("Deadline (s)", 5.0, 7200.0, defaults.deadline_s, key="probe_deadline")
        save = t4.toggle("Save run", value=True, key="probe_save")
        if not os.environ.get(ENV_ALLOWED_HOSTS):
            st.caption(
                f"Only loopback hosts can be probed; set {ENV_ALLOWED_HOSTS} (comma-separated names, IPs or "
                "CIDRs) on the dashboard's server to allow others."
            )
        if st.button("Run probe", type="primary", key="probe_run"):
            settings = ProbeSettings(
                concurrency=sorted(levels),
                requests_per_level=int(n_req),
                prompt_tokens=int(p_tok),
                max_tokens=int(o_tok),
                warmup_requests=int(warm),
                read_timeout_s=float(read_to),
                deadline_s=float(deadline),
            )
            try:
                settings.validate()
                if not (model or "").strip():
                    raise ProbeInputError("choose or type a model name")
            except ProbeInputError as e:
                st.error(str(e))
                return
            live = LiveRun(total=settings.total_requests())
            st.session_state[LIVE_KEY] = live
            threading.Thread(
                target=_work,
                args=(live, url, model, backend, settings, api_key, save),
                daemon=True,
                name="probe-page-run",
            ).start()
            st.rerun()


def history_section() -> None:
    """Stored runs, with compare."""
    st.subheader("History")
    try:
        runs = list_runs(limit=100)
    except STORE_ERRORS as e:
        _store_error(e)
        return
    if not runs:
        st.caption("No stored runs yet.")
        return
    st.dataframe(
        history_table(runs),
        hide_index=True,
        width="stretch",
        column_config={"run": st.column_config.LinkColumn("open", display_text="open")},
    )
    chosen = st.multiselect(
        "Compare runs",
        [r["id"] for r in runs],
        key="probe_compare",
        format_func=lambda i: next(f"{i} · {r['model']} · {r['created_at']:%m-%d %H:%M}" for r in runs if r["id"] == i),
    )
    if chosen:
        try:
            rows = compare_runs(chosen)
        except STORE_ERRORS as e:
            _store_error(e)
            return
        if rows:
            st.plotly_chart(compare_figure(rows), width="stretch")
            st.dataframe(compare_table(rows), hide_index=True, width="stretch")


def main() -> None:
    """The page."""
    st.title("Live latency probe")
    st.caption(
        "Streams requests to your own Ollama or OpenAI-compatible server and measures time to first token, "
        "inter-token latency, time per output token and throughput (vLLM bench serve definitions), with token "
        "counts from the server, at rising concurrency."
    )
    run_param = st.query_params.get("run")
    if run_param:
        if st.button("New probe", key="probe_new"):
            del st.query_params["run"]
            st.rerun()
        stored_run_view(run_param)
        return
    live: LiveRun | None = st.session_state.get(LIVE_KEY)
    if live is not None and not live.finished:
        live_panel()
        return
    if live is not None:
        if live.error:
            st.error(live.error)
        elif live.summary is not None:
            show_result(live.summary, live.samples)
        if st.button("Start another run", key="probe_again"):
            del st.session_state[LIVE_KEY]
            st.rerun()
        history_section()
        return
    new_run_form()
    history_section()


try:
    main()
except Exception as e:  # noqa: BLE001 - the last guard: a message, never a traceback
    st.error(f"The probe page hit an unexpected problem: {type(e).__name__}: {e}")
