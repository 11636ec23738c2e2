"""Stakeholder reports of a Scenario: Markdown, JSON, CSV tables and (where Plotly's static export works) PNG charts.

No Streamlit here: `build_report` is a pure function of the Scenario, the catalog (and the session's measurements);
each section renders the view-model its page renders (ui/views/), so the report and the pages cannot disagree. Sizes are reported in GiB (2^30 bytes) and speeds in tokens/s; the JSON carries base
units (bytes, seconds, USD) next to the rounded display values.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import warnings
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go

from model_specs.loader import Catalog
from ui.scenario import Scenario, scenario_to_query
from ui.views.costs import CostView, build_cost_view
from ui.views.facts import SessionFacts
from ui.views.guide import GuideView, build_guide_view, claims
from ui.views.memory import MemoryView, build_memory_view
from ui.views.speed import SpeedView, build_speed_view

GiB = 2**30
SECTIONS = ("memory", "speed", "cost", "guide")
SECTION_TITLES = {"memory": "Memory", "speed": "Speed", "cost": "Cost", "guide": "Decision guide"}


@dataclass
class Table:
    """One table of the report: a name (file stem), a title and rows of plain values."""

    name: str
    title: str
    rows: list[dict[str, Any]]

    def to_csv(self) -> str:
        """CSV text with a header row."""
        buf = io.StringIO()
        cols = list(dict.fromkeys(k for r in self.rows for k in r))
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(self.rows)
        return buf.getvalue()

    def to_markdown(self) -> str:
        """A GitHub-flavoured Markdown table."""
        if not self.rows:
            return "_(no rows)_"
        cols = list(dict.fromkeys(k for r in self.rows for k in r))

        def cell(v: Any) -> str:
            if v is None:
                return "—"
            if isinstance(v, float):
                v = f"{v:,.2f}" if abs(v) < 1e6 else f"{v:,.0f}"
            return str(v).replace("|", "\\|").replace("\n", " ")

        lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        lines += ["| " + " | ".join(cell(r.get(c)) for c in cols) + " |" for r in self.rows]
        return "\n".join(lines)


@dataclass
class Section:
    """A titled part of the report: sentences, tables and charts."""

    key: str
    title: str
    lines: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: dict[str, go.Figure] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)  # base-unit figures for the JSON export


@dataclass
class Report:
    """Everything a stakeholder needs to see what the sender saw."""

    title: str
    created_utc: str
    scenario: dict[str, Any]
    query: dict[str, str]
    link: str | None
    sections: list[Section]
    sources: list[tuple[str, str]]  # (what, URL or repo path)
    notes: list[str] = field(default_factory=list)

    @property
    def tables(self) -> list[Table]:
        """Every table, the inputs first."""
        return [t for s in self.sections for t in s.tables]

    def to_markdown(self, png_files: dict[str, str] | None = None, png_note: str | None = None) -> str:
        """The report as Markdown; `png_files` maps chart names to image paths in a bundle."""
        out = [f"# {self.title}", "", f"Generated {self.created_utc} UTC from the catalog and the calculators.", ""]
        if self.link:
            out += [f"Open this scenario: <{self.link}>", ""]
        elif self.query:
            out += [f"Link query: `?{urlencode(self.query)}`", ""]
        for s in self.sections:
            out += [f"## {s.title}", ""]
            out += s.lines
            if s.lines:
                out.append("")
            for t in s.tables:
                out += [f"**{t.title}**", "", t.to_markdown(), ""]
            for name in s.charts:
                if png_files and name in png_files:
                    out += [f"![{name}]({png_files[name]})", ""]
        if png_note:
            out += [f"_Charts: {png_note}_", ""]
        out += ["## Sources", ""]
        out += [f"- {what}: {url}" for what, url in self.sources]
        if self.notes:
            out += ["", "## Notes", ""] + [f"- {n}" for n in self.notes]
        return "\n".join(out).rstrip() + "\n"

    def to_json(self) -> str:
        """Inputs, every table, the base-unit figures and the sources as one JSON document."""
        doc = {
            "title": self.title,
            "created_utc": self.created_utc,
            "scenario": self.scenario,
            "query": self.query,
            "link": self.link,
            "sections": {
                s.key: {
                    "title": s.title,
                    "lines": s.lines,
                    "data": s.data,
                    "tables": {t.name: t.rows for t in s.tables},
                }
                for s in self.sections
            },
            "sources": [{"what": w, "source": u} for w, u in self.sources],
            "notes": self.notes,
        }
        return json.dumps(doc, indent=2, default=_json_default)

    def csv_zip(self) -> bytes:
        """Every table as a CSV file in one zip."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for t in self.tables:
                z.writestr(f"{t.name}.csv", t.to_csv())
        return buf.getvalue()

    def bundle_zip(self, with_png: bool = True) -> tuple[bytes, str]:
        """report.md + report.json + CSVs (+ PNG charts where the static export works); returns (zip, chart note)."""
        pngs: dict[str, bytes] = {}
        note = "PNG export not requested."
        if with_png:
            pngs, note = export_pngs({n: f for s in self.sections for n, f in s.charts.items()})
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            files = {n: f"charts/{n}.png" for n in pngs}
            z.writestr("report.md", self.to_markdown(files, note))
            z.writestr("report.json", self.to_json())
            for t in self.tables:
                z.writestr(f"tables/{t.name}.csv", t.to_csv())
            for n, b in pngs.items():
                z.writestr(files[n], b)
        return buf.getvalue(), note


def _json_default(o: Any) -> Any:
    """Dates as ISO text, anything else json cannot write as its str()."""
    if isinstance(o, (dt.date, dt.datetime)):
        return o.isoformat()
    return str(o)


def export_pngs(charts: dict[str, go.Figure]) -> tuple[dict[str, bytes], str]:
    """PNG bytes per chart via Plotly's static export (kaleido + a Chrome/Chromium); on any failure, none and why."""
    if not charts:
        return {}, "no charts in this report."
    try:
        import kaleido
    except ImportError:
        return {}, (
            "PNG charts left out: Plotly's static export needs the 'kaleido' package (and a Chrome or "
            "Chromium), which is not installed here. The tables carry every charted number."
        )
    out: dict[str, bytes] = {}
    started = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # One headless browser for all charts: starting Chromium is most of the ~5 s a single export takes.
            kaleido.start_sync_server(silence_warnings=True)
            started = True
            for name, fig in charts.items():
                out[name] = fig.to_image(format="png", width=900, height=450, scale=1)
    except Exception as e:  # noqa: BLE001 - kaleido raises many kinds (no browser, timeout); report it, never crash
        return {}, f"PNG charts left out: static export failed here ({type(e).__name__}: {str(e)[:160]})."
    finally:
        if started:
            with contextlib.suppress(Exception):  # a failed shutdown must not lose the charts already made
                kaleido.stop_sync_server(silence_warnings=True)
    return out, f"{len(out)} chart(s) exported as PNG with Plotly/kaleido."


# ---------------------------------------------------------------- building


def _g(b: float | None) -> float | None:
    return None if b is None else round(b / GiB, 2)


def _inputs_section(sc: Scenario, cat: Catalog) -> Section:
    model, hw = cat.model(sc.model), cat.device(sc.hw)
    rows = [{"input": k, "value": v, "url key": k} for k, v in sc.model_dump().items()]
    lines = [
        f"**{model.name}** ({sc.quant}, {sc.engine}, KV cache {sc.kv}) on **{sc.gpus} x {hw.name}** "
        f"({hw.memory_label}), context {sc.ctx:,} tokens, {sc.conc} concurrent request(s); "
        f"traffic {sc.in_mtok:,.1f} M input + {sc.out_mtok:,.1f} M output tokens a month.",
    ]
    return Section(
        "inputs", "Inputs", lines, [Table("inputs", "Scenario inputs", rows)], data={"scenario": sc.model_dump()}
    )


def _memory_section(v: MemoryView) -> Section:
    """The Memory page's headline figures and fit, from its view."""
    s = Section("memory", "Memory")
    est = v.estimate
    if v.byo.byo is not None:  # the link's own model (GGUF location or Hub id), as the page sizes it
        s.lines.append(f"Sized from the scenario's own model: {v.byo.byo.summary}.")
    elif v.byo.error:
        s.lines.append(f"{v.byo.label} cannot be sized: {v.byo.error}; the catalog model {v.model.name} is sized.")
    if est is None:
        s.lines.append(f"No memory estimate for this scenario: {v.error}.")
        return s
    verdict = "fits" if est.fits else "does not fit"
    room = (
        f"short by {v.shortfall_bytes / GiB:,.2f} GiB"
        if v.shortfall_bytes is not None
        else f"with {(est.margin_bytes or 0) / GiB:,.2f} GiB margin"
    )
    copy = f" + tied output copy {v.output_copy_bytes / GiB:,.2f} GiB" if v.output_copy_bytes else ""
    s.lines.append(
        f"Weights {est.weights_bytes / GiB:,.2f} GiB + KV cache {est.kv_cache_bytes / GiB:,.2f} GiB + overhead "
        f"{est.overhead_bytes / GiB:,.2f} GiB{copy} = {est.total_bytes / GiB:,.2f} GiB; it **{verdict}** in "
        f"{(est.usable_bytes or 0) / GiB:,.2f} GiB usable, {room}. "
        f"Largest context: {est.max_context_tokens or 0:,} tokens; largest concurrency: {est.max_concurrency or 0}."
    )
    rows = [{"component": k, "bytes": b, "GiB": _g(b)} for k, b in est.components.items()]
    s.tables.append(Table("memory_components", "Memory by component", rows))
    fit = {
        "fits": est.fits,
        "total_gib": _g(est.total_bytes),
        "gpu_resident_gib": _g(est.placement.gpu_bytes),
        "host_gib": _g(est.placement.host_bytes),
        "usable_gib": _g(est.usable_bytes),
        "margin_gib": _g(est.margin_bytes),
        "max_context_tokens": est.max_context_tokens,
        "max_concurrency": est.max_concurrency,
    }
    s.tables.append(Table("memory_fit", "Fit", [fit]))
    s.data = est.as_dict()
    s.charts["memory_components"] = go.Figure(
        go.Bar(x=[r["component"] for r in rows], y=[r["GiB"] for r in rows], marker_color="#4C78A8"),
        layout={"title": "Memory by component (GiB)", "yaxis_title": "GiB"},
    )
    return s


def _speed_section(v: SpeedView) -> Section:
    """The Speed page's headline forecast and decode-vs-depth curve, from its view."""
    s = Section("speed", "Speed")
    f = v.forecast
    if f is None:
        s.lines.append(f"No speed forecast for this scenario: {v.error}.")
        return s
    measured = f" with a measured efficiency of {v.efficiency_override:.0%}" if v.efficiency_override else ""
    threads = f", {f.threads} CPU threads" if f.threads is not None else ""  # llama.cpp -t (CPU decode model)
    cached = f" of which {v.cached_prefix_tokens} cached" if v.cached_prefix_tokens else ""
    s.lines.append(
        f"Decode {f.decode_tokens_per_s:,.1f} tokens/s per user ({f.decode_tokens_per_s_low:,.1f}–"
        f"{f.decode_tokens_per_s_high:,.1f}), prefill {f.prefill_tokens_per_s:,.0f} tokens/s, time to first token "
        f"{f.ttft_s * 1000:,.0f} ms, end to end {f.e2e_s:,.2f} s, {f.aggregate_tokens_per_s:,.1f} tokens/s aggregate "
        f"at {v.scenario.conc} user(s) (prompt {f.prompt_tokens} tokens{cached}, answer {f.output_tokens} tokens"
        f"{', cold start' if v.scenario.cold else ''}{threads}; bound: {f.bound}){measured}."
    )
    metrics = [
        ("decode tokens/s per user", "decode_tokens_per_s"),
        ("prefill tokens/s", "prefill_tokens_per_s"),
        ("time to first token (s)", "ttft_s"),
        ("end to end (s)", "e2e_s"),
        ("aggregate tokens/s", "aggregate_tokens_per_s"),
    ]
    rows = [
        {"metric": label, "value": getattr(f, a), "low": getattr(f, f"{a}_low"), "high": getattr(f, f"{a}_high")}
        for label, a in metrics
    ]
    if v.own_model_caption:  # the file forecast instead of the catalog model (as on the page)
        s.lines.append(v.own_model_caption)
    s.tables.append(Table("speed", "Speed forecast", rows))
    s.data = f.as_dict()
    depth_rows = [{"depth_tokens": d, "tokens_per_s": t, "low": lo, "high": hi} for d, t, lo, hi in v.depth]
    s.tables.append(Table("speed_vs_depth", "Decode speed as the context fills", depth_rows))
    depths = [r["depth_tokens"] for r in depth_rows]
    s.charts["decode_vs_depth"] = go.Figure(
        [
            go.Scatter(x=depths, y=[r["tokens_per_s"] for r in depth_rows], name="forecast"),
            go.Scatter(x=depths, y=[r["low"] for r in depth_rows], name="low", line={"dash": "dot"}),
            go.Scatter(x=depths, y=[r["high"] for r in depth_rows], name="high", line={"dash": "dot"}),
        ],
        layout={
            "title": "Decode tokens/s vs context depth",
            "xaxis_title": "tokens in context",
            "yaxis_title": "tokens/s",
        },
    )
    return s


def _cost_section(v: CostView, sources: list[tuple[str, str]]) -> Section:
    """The Costs page's side-by-side options, break-evens and prices, from its view."""
    s = Section("cost", "Cost")
    plan, cmp = v.plan, v.comparison
    if plan is None:
        s.lines.append(f"No cost comparison for this scenario: {v.error}.")
        return s
    rows = []
    for name, o in cmp.options.items():
        rows.append(
            {
                "option": name,
                "label": plan.labels.get(name),
                "usd_per_month": None if o is None else round(o.usd_per_month, 2),
                "usd_per_mtok": None if o is None or o.usd_per_mtok is None else round(o.usd_per_mtok, 4),
                "replicas": None if o is None else o.replicas,
                "gpus": None if o is None else o.gpus,
                "missing": cmp.missing.get(name),
            }
        )
    s.tables.append(Table("cost_options", "Monthly cost by option", rows))
    breakevens = [
        {"pair": b.key, "monthly_tokens": b.monthly_tokens, "cheaper_below": b.cheaper_below, "note": b.note}
        for b in cmp.breakevens
    ]
    s.tables.append(Table("cost_breakeven", "Break-even volumes", breakevens))
    quotes = [
        {"price": k, "value": q.value, "source": q.source, "as_of": q.as_of, "label": q.label}
        for k, q in plan.quotes.items()
    ]
    s.tables.append(Table("cost_prices", "Prices used", quotes))
    for q in plan.quotes.values():
        if q.value is not None and q.source != "typed in":
            sources.append((f"price {q.label or ''}".strip(), q.source))
    if cmp.cheapest:
        o = cmp.options[cmp.cheapest]
        s.lines.append(
            f"Cheapest at this volume: **{cmp.cheapest}** ({plan.labels.get(cmp.cheapest)}) at "
            f"${o.usd_per_month:,.2f} a month."
        )
    for name, sentence in plan.sizing.items():
        s.lines.append(f"{name}: {sentence}")
    if v.fallback_label:
        s.lines.append(v.fallback_label)
    s.lines.append(v.throughput_sentence)
    _slo_lines(v, s)
    s.data = cmp.to_dict()
    priced = [r for r in rows if r["usd_per_month"] is not None]
    if priced:
        s.charts["cost_options"] = go.Figure(
            go.Bar(x=[r["option"] for r in priced], y=[r["usd_per_month"] for r in priced], marker_color="#54A24B"),
            layout={"title": "Monthly cost (USD)", "yaxis_title": "USD / month"},
        )
    return s


def _slo_lines(v: CostView, s: Section) -> None:
    """The Costs page's lines at a stored capacity run's SLO (cap_run), measured, next to the forecast."""
    if v.slo_notice:
        s.lines.append(v.slo_notice)
    if v.slo is None:
        return
    if v.slo.error:
        s.lines.append(f"Capacity run {v.slo.run['id']} cannot be priced: {v.slo.error}.")
        return
    s.lines.append(f"Measured capacity ({v.slo.label}): {v.slo.capacity_words} with {v.slo.slo_words}.")
    for name in ("owned", "cloud"):
        if (line := v.slo.sentence(name)) is not None:
            s.lines.append(f"{name}: {line}.")
    s.tables.append(Table("cost_slo", "Forecast vs measured capacity at the SLO", v.slo_rows()))


def _guide_section(v: GuideView, cat: Catalog, sources: list[tuple[str, str]], top: int = 10) -> Section:
    """The Guide page's target, best fits, ranking and claims check, from its view."""
    s = Section("guide", "Decision guide")
    req = v.request
    if v.error:
        s.lines.append(f"The guide cannot rank these inputs: {v.error}.")
        return s
    s.lines.append(
        f"Target: {v.where} ({', '.join(req.hardware_ids)}, {req.gpus} GPU(s), {req.engine}); "
        f"workload {req.workload}; context {req.context_tokens:,} tokens."
    )
    for c in v.fitting[:3]:
        s.lines.append(f"{c.rank}. **{c.model_name} {c.quant}** on {c.hardware_name}: {c.sentence}")
    s.tables.append(Table("guide_ranking", f"Ranking (top {top})", [c.as_row() for c in v.ranked[:top]]))
    s.tables.append(Table("claims_check", "Claims check", [c.as_row() for c in claims(cat)]))
    # The ranking also rests on these devices' specs and these models' published scores.
    for h in req.hardware_ids:
        hw = cat.device(h)
        sources.append((f"{hw.name} (as of {hw.as_of})", hw.source))
    for mid in dict.fromkeys(c.model_id for c in v.ranked[:top]):
        m = cat.model(mid)
        for key in sorted({k.strip() for b in m.benchmarks.values() for k in b.source.split(",")}):
            src = cat.model_sources[m.family][key]
            sources.append((f"{m.name} scores: {src.title}", src.url))
    return s


def _catalog_sources(sc: Scenario, cat: Catalog) -> list[tuple[str, str]]:
    model, hw = cat.model(sc.model), cat.device(sc.hw)
    out: list[tuple[str, str]] = []
    keys = [model.source] + [b.source for b in model.benchmarks.values()] + [o.source for o in model.official_memory]
    for key in sorted({k.strip() for k in ",".join(keys).split(",")}):
        src = cat.model_sources[model.family][key]
        out.append((f"{model.name}: {src.title}", src.url))
    out.append((f"{hw.name} (as of {hw.as_of})", hw.source))
    for f, src in sorted(hw.field_sources.items()):
        out.append((f"{hw.name} {f}", src))
    try:
        q = cat.quant(sc.quant)
        out.append((f"quantization {q.id}", q.source))
    except KeyError:
        pass
    out.append((f"{model.name} architecture, as the calculators read it", f"model_specs/data/{model.family}.yaml"))
    return out


def build_report(
    sc: Scenario,
    cat: Catalog,
    sections: Sequence[str] = SECTIONS,
    link: str | None = None,
    now: dt.datetime | None = None,
    facts: SessionFacts | None = None,
) -> Report:
    """The report of a scenario with the requested sections (inputs and sources always).

    Each section renders the view its page renders (`facts`: the session's measurements, as the page has them)."""
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        raise ValueError(f"unknown report sections: {sorted(unknown)} (known: {', '.join(SECTIONS)})")
    now = now or dt.datetime.now(dt.UTC)
    sources = _catalog_sources(sc, cat)
    parts = [_inputs_section(sc, cat)]
    for key in SECTIONS:
        if key not in sections:
            continue
        if key == "memory":
            parts.append(_memory_section(build_memory_view(sc, cat)))
        elif key == "speed":
            parts.append(_speed_section(build_speed_view(sc, cat, facts)))
        elif key == "cost":
            parts.append(_cost_section(build_cost_view(sc, cat, facts), sources))
        elif key == "guide":
            parts.append(_guide_section(build_guide_view(sc, cat), cat, sources))
    notes = [
        "GiB = 2^30 bytes, GB = 10^9 bytes; money in USD.",
        "Every figure is computed by the project's calculators from the catalog; see the sources below.",
    ]
    seen: set[tuple[str, str]] = set()
    uniq = [s for s in sources if not (s in seen or seen.add(s))]
    return Report(
        f"Capacity plan: {cat.model(sc.model).name} on {cat.device(sc.hw).name}",
        now.strftime("%Y-%m-%d %H:%M"),
        sc.model_dump(),
        scenario_to_query(sc),
        link,
        parts,
        uniq,
        notes,
    )
