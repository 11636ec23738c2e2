"""The probe page's view-model: Scenario -> run settings, a live run in a thread, and everything a result shows."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from calculators.serving.forecast import implied_efficiency, served_forecast
from calculators.speed import mean_depth_tokens
from probe.capacity_cli import CapacityOptions
from probe.clients import ProbeError, StopSignal
from probe.goodput import parse_goodput
from probe.guard import ENV_ALLOWED_HOSTS, ProbeInputError, scrub
from probe.report import (
    breakdown_rows,
    error_rows,
    forecast_rows,
    guess_spec_model,
    level_rows,
    measured_single_user,
    percentile_rows,
    spec_vs_server_rows,
)
from probe.runner import Discovery, ProbeSettings, Progress, discover, run_probe
from probe.search import DEFAULT_MAX_LEVELS, validate_search
from probe.summary import Knee, LevelSummary
from ui import probe_charts as pc
from ui.probe_runs import MeasuredEfficiency, run_and_save, typed_summary, with_store
from ui.scenario import Scenario

__all__ = ["ENV_ALLOWED_HOSTS", "Discovery", "ProbeError", "ProbeInputError", "discover"]
LIVE_KEY = "probe_live"
DISCOVERY_KEY = "probe_discovery"
LEVEL_CHOICES = [1, 2, 4, 8, 16, 32, 64, 128, 256]


def settings_from(sc: Scenario) -> ProbeSettings:
    """The run the form asks for; ProbeInputError (one line) when it is not a valid run."""
    try:
        conc = [int(x) for x in sc.p_conc.split(",") if x]
        rate = [float(x) for x in sc.p_rate.split(",") if x] if sc.p_loop == "open" else None
    except ValueError:
        raise ProbeInputError("levels must be numbers separated by commas") from None
    settings = ProbeSettings(
        concurrency=sorted(set(conc)), requests_per_level=sc.p_req, prompt_tokens=sc.p_ptok, max_tokens=sc.p_otok,
        warmup_requests=sc.p_warm, read_timeout_s=sc.p_rto, deadline_s=sc.p_dl, rate=rate, arrival=sc.p_arrival,
        burstiness=sc.p_burst, duration_s=sc.p_dur, max_concurrency=sc.p_maxc, seed=sc.p_seed, workers=sc.p_workers,
    )  # fmt: skip
    settings.validate()
    if not sc.p_model.strip():
        raise ProbeInputError("choose or type a model name")
    return settings


def capacity_from(sc: Scenario) -> CapacityOptions:
    """The SLO (any target set) and the search (capacity mode); ProbeInputError (one line) when they do not fit."""
    targets = [f"{k}:{v:g}" for k, v in (("ttft", sc.p_ttft), ("tpot", sc.p_tpot), ("e2e", sc.p_e2e)) if v]
    slo = parse_goodput(targets, sc.p_att) if targets else None
    if sc.p_search == "off":
        return CapacityOptions(slo=slo)
    if slo is None:
        raise ProbeInputError("a capacity search needs at least one SLO target (TTFT, TPOT or end-to-end ms)")
    validate_search(sc.p_search, sc.p_smax)
    return CapacityOptions(slo=slo, search=sc.p_search, search_max=sc.p_smax)


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
    steps: list[dict[str, Any]] = field(default_factory=list)  # a capacity search's levels, as they finish
    search: str | None = None

    def on_level(self, step: dict[str, Any]) -> None:
        """Called from the runner after each level of a search."""
        with self.lock:
            self.steps.append(step)

    def search_text(self) -> str | None:
        """The search so far, one line per level (None outside capacity mode)."""
        with self.lock:
            steps = list(self.steps)
        if self.search is None:
            return None
        if not steps:
            return f"Searching {self.search}: measuring the first level…"
        return "  \n".join(f"level {s['step']}: {self.search} {s['value']:g} — attainment {_pct(s['attainment'])} — "
                            f"{'passed' if s['passed'] else 'missed'}{' (cut short)' if s['cut_short'] else ''}"
                            for s in steps)  # fmt: skip

    def on_progress(self, p: Progress) -> None:
        """Called from the runner after each request."""
        r = p.result
        level = str(r.concurrency) if r.rate is None else f"{r.rate:g} req/s"
        with self.lock:
            self.done_count = p.done
            self.points.append(pc.timeline_point(p.elapsed_s, level, r.ttft_s))

    def progress(self) -> tuple[float, str, go.Figure]:
        """Share done, the progress text and the live TTFT chart."""
        with self.lock:
            done, points = self.done_count, list(self.points)
        text = f"{done} of {self.total} requests · {time.monotonic() - self.started:.0f} s"
        return min(1.0, done / max(1, self.total)), text, pc.timeline_figure(points)


def start_run(
    sc: Scenario, settings: ProbeSettings, api_key: str | None, opts: CapacityOptions | None = None
) -> LiveRun:
    """Start the run in a daemon thread; the LiveRun reports its progress and outcome."""
    opts = opts or CapacityOptions()
    total = settings.total_requests()
    if opts.search:  # at most DEFAULT_MAX_LEVELS levels of the search's size
        v = opts.search_max or 1
        total = settings.warmup_requests + DEFAULT_MAX_LEVELS * (
            settings.requests_at(int(v)) if opts.search == "concurrency" else settings.requests_per_level
        )
    live = LiveRun(total=total, search=opts.search)
    args = (live, sc.p_url, sc.p_model.strip(), sc.p_backend, settings, api_key, sc.p_save, opts)
    threading.Thread(target=_work, args=args, daemon=True, name="probe-page-run").start()
    return live


def _work(
    live: LiveRun, url: str, model: str, backend: str, settings: ProbeSettings, api_key: str | None, save: bool,
    opts: CapacityOptions,
) -> None:  # fmt: skip
    """Run the probe, leaving the outcome on `live` (no streamlit calls here)."""
    try:
        kwargs: dict[str, Any] = dict(settings=settings, api_key=api_key, on_progress=live.on_progress, stop=live.stop,
                                      options=opts, on_level=live.on_level)  # fmt: skip
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


@dataclass
class ResultView:
    """Every table, figure and sentence of one run (live or stored)."""

    head: str
    status: str | None
    levels: list[LevelSummary]
    knee: Knee | None
    errors: list[dict[str, Any]]
    cold_text: str | None
    summary: dict[str, Any]
    samples: list[dict[str, Any]]

    def level_table(self) -> pd.DataFrame:
        """Headline figures per level."""
        return pd.DataFrame(level_rows(self.levels))

    def figures(self) -> list[go.Figure]:
        """Latency and throughput against the load, and the TTFT split when the server gave one."""
        figs = [pc.latency_figure(self.levels), pc.throughput_figure(self.levels)]
        bd = breakdown_rows(self.levels)
        return figs + ([pc.breakdown_figure(bd)] if bd else [])

    @property
    def capacity(self) -> dict[str, Any] | None:
        """A capacity search's answer, its SLO and its path (None for a plain ladder)."""
        return self.summary.get("capacity")

    def capacity_text(self) -> str:
        """One sentence: the capacity at the SLO, and what was measured just above it."""
        cap = self.capacity or {}
        slo = cap.get("slo") or {}
        targets = ", ".join(
            f"{k.split('_')[0].upper()} ≤ {v * 1e3:g} ms" for k, v in slo.items() if k != "attainment" and v
        )
        unit = "users" if cap.get("search") == "concurrency" else "requests/s"
        text = f"**Capacity: {'at least ' if cap.get('at_least') else ''}{cap.get('value')} {unit}** "
        text += f"with {slo.get('attainment', 0):.0%} of requests meeting {targets or 'the SLO'}"
        if cap.get("first_failing_value") is not None:
            att = cap.get("first_failing_attainment")
            text += f"; at {cap['first_failing_value']:g} only {_pct(att)} met it"
        return text + (f". {cap['note']}" if cap.get("note") else ".")

    def capacity_figures(self) -> list[go.Figure]:
        """Latency against load with the SLO lines and the capacity point; attainment per level."""
        cap = self.capacity or {}
        return [pc.capacity_figure(self.levels, cap), pc.attainment_figure(cap)]

    def percentiles(self) -> pd.DataFrame:
        """p50/p90/p99/mean per level and metric."""
        return pd.DataFrame(percentile_rows(self.levels))

    def server_facts(self) -> pd.DataFrame | None:
        """What the server said about the model."""
        server = self.summary.get("server") or {}
        return pc.server_facts_table(server) if server else None

    def workers_table(self) -> pd.DataFrame | None:
        """Where the requests were sent from, when more than one worker did it."""
        ws = self.summary.get("workers") or []
        if len(ws) < 2:
            return None
        return pd.DataFrame([{"worker": w["id"], "host": w.get("host"), "pid": w.get("pid"),
                              "requests": w.get("requests"), "send lag p99 (ms)": _ms((w.get("schedule_lag_s") or {}).get("p99"))}
                             for w in ws])  # fmt: skip


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1e3, 2)


def result_view(summary: dict[str, Any], samples: list[dict[str, Any]]) -> ResultView:
    """The view of one run summary (RunReport.to_json(), live or stored)."""
    levels, knee = typed_summary(summary)
    head = f"**{summary.get('model')}** on **{summary.get('backend') or '?'}** at `{summary.get('endpoint')}`"
    head += f" — {summary.get('status')}"
    if summary.get("run_id"):
        head += f" — run `{summary['run_id']}` ([permalink](?run={summary['run_id']}))"
    cold = summary.get("cold_start") or {}
    cold_text = None
    if cold.get("detected"):
        cold_text = (
            f"Cold start: the first request took {cold['first_ttft_s']:.2f} s to its first token "
            f"({cold.get('evidence')}); it was a warm-up or is flagged, and warm-up requests are not in the statistics."
        )
    errs = error_rows(summary.get("errors") or [], levels)
    return ResultView(head, summary.get("status"), levels, knee, errs, cold_text, summary, samples)


@dataclass
class ForecastView:
    """The single-user forecast for the scenario's hardware beside the measurement."""

    spec_id: str
    quant: str
    engine: str
    facts: list[dict[str, Any]]
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    measured: dict[str, float] | None = None
    depth_tokens: int = 0  # the measured answers' mean depth: prompt + half the answer


def forecast_defaults(
    summary: dict[str, Any], sc: Scenario, model_ids: list[str], quants: list[str]
) -> tuple[str, str]:
    """The catalog model and quantization the served model most likely is (the link's choice first)."""
    guess = sc.p_fc_model or guess_spec_model(str(summary.get("model") or ""), model_ids) or sc.model
    server_q = str((summary.get("server") or {}).get("quantization") or "")
    q = sc.p_fc_q or (server_q if server_q in quants else sc.quant)
    return (guess if guess in model_ids else model_ids[0]), (q if q in quants else quants[0])


def forecast_view(summary: dict[str, Any], sc: Scenario, cat: Any, spec_id: str, quant: str) -> ForecastView:
    """Forecast vs measured at one user, for the scenario's hardware."""
    engine = "ollama" if summary.get("backend") == "ollama" else sc.engine
    view = ForecastView(spec_id, quant, engine, spec_vs_server_rows(cat.model(spec_id), summary.get("server") or {}))
    view.measured = measured_single_user(typed_summary(summary)[0])
    if view.measured is None:
        return view
    settings = summary.get("settings") or {}
    prompt = int(settings.get("prompt_tokens") or ProbeSettings.prompt_tokens)
    output = int(settings.get("max_tokens") or ProbeSettings.max_tokens)
    view.depth_tokens = mean_depth_tokens(prompt, output)
    try:
        fc = served_forecast(
            cat.model(spec_id), quant, cat.device(sc.hw), engine=engine, context_tokens=sc.ctx, prompt_tokens=prompt,
            output_tokens=output, concurrency=1, gpus=sc.gpus, kv_dtype=sc.kv,
        )  # fmt: skip
    except ValueError as e:  # e.g. the context does not fit this model or hardware
        view.error = f"No forecast for {spec_id} {quant} on {sc.hw}: {e}"
        return view
    view.rows = forecast_rows(fc.decode_tokens_per_s, fc.ttft_s, view.measured)
    return view


def measured_efficiency(view: ForecastView, sc: Scenario, cat: Any, run_id: str | None) -> MeasuredEfficiency:
    """'Use my measurement': the bandwidth efficiency the measured decode speed implies; ValueError if none."""
    if view.measured is None:
        raise ValueError("no single-user measurement")
    decode = view.measured["decode_tokens_per_s"]
    eff = implied_efficiency(
        cat.model(view.spec_id), view.quant, cat.device(sc.hw), decode, depth_tokens=view.depth_tokens,
        engine=view.engine, kv_dtype=sc.kv, gpus=sc.gpus,
    )  # fmt: skip
    return MeasuredEfficiency(view.spec_id, view.quant, sc.hw, view.engine, run_id, decode, eff)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.0%}"
