"""Stakeholder report: it carries the scenario's inputs and the calculators' numbers, in every export format."""

from __future__ import annotations

import builtins
import csv
import datetime as dt
import io
import json
import zipfile

import pytest

from calculators import memory
from calculators.cost import CostRequest, Workload, compare, plan_costs
from calculators.serving.forecast import serving_fields, under_load
from calculators.speed import forecast
from model_specs import load_catalog
from ui.report import build_report, export_pngs
from ui.scenario import Scenario, scenario_from_query

CAT = load_catalog()
GiB = 2**30
NOW = dt.datetime(2026, 5, 1, 12, 0, tzinfo=dt.UTC)
SC = Scenario(
    model="gemma-4-26b-a4b",
    quant="Q4_K_M",
    ctx=16384,
    hw="rtx-3090",
    conc=2,
    in_mtok=50,
    out_mtok=10,
    tgt="gpu-24",
    work="reasoning",
)


# The calculators' requests for SC, written out here so the report is checked against them, not against itself.
MEMORY_REQUEST = memory.MemoryRequest(
    model=CAT.model(SC.model),
    quant=SC.quant,
    context_tokens=SC.ctx,
    batch=SC.conc,
    kv_dtype=SC.kv,
    engine=SC.engine,
    hardware=CAT.device(SC.hw),
)
COST_REQUEST = CostRequest(
    workload=Workload(SC.in_mtok * 1e6, SC.out_mtok * 1e6, peak_concurrency=SC.conc, utilization=SC.util),
    model=SC.model,
    quant=SC.quant,
    hardware=SC.hw,
    context_tokens=SC.ctx,
    prompt_tokens=512,  # the Speed page's request at this context: min(512, ctx / 2) + min(256, the rest)
    output_tokens=256,
)


@pytest.fixture(scope="module")
def report():
    return build_report(SC, CAT, now=NOW)


def test_markdown_carries_every_input_and_the_link_query(report):
    md = report.to_markdown()
    assert md.startswith("# Capacity plan: Gemma 4 26B A4B")
    for key, value in [
        ("model", "gemma-4-26b-a4b"),
        ("quant", "Q4_K_M"),
        ("ctx", "16384"),
        ("hw", "rtx-3090"),
        ("conc", "2"),
        ("tgt", "gpu-24"),
        ("work", "reasoning"),
    ]:
        assert f"| {key} | {value} | {key} |" in md
    assert "Link query: `?" in md and "model=gemma-4-26b-a4b" in md and "hw=rtx-3090" in md
    # The query in the report reopens the same scenario.
    again, notices = scenario_from_query(report.query, CAT)
    assert again == SC and notices == []


def test_memory_numbers_match_the_calculator(report):
    est = memory.estimate(MEMORY_REQUEST)
    md = report.to_markdown()
    assert f"Weights {est.weights_bytes / GiB:,.2f} GiB" in md
    assert f"KV cache {est.kv_cache_bytes / GiB:,.2f} GiB" in md
    assert f"Largest context: {est.max_context_tokens:,} tokens" in md
    fit = next(t for t in report.tables if t.name == "memory_fit").rows[0]
    assert fit["margin_gib"] == round(est.margin_bytes / GiB, 2) and fit["fits"] is est.fits
    comps = {r["component"]: r["bytes"] for r in next(t for t in report.tables if t.name == "memory_components").rows}
    assert comps == est.components


def test_speed_numbers_match_the_forecast(report):
    args = (CAT.model(SC.model), SC.quant, CAT.device(SC.hw))
    f = forecast(*args, context_tokens=SC.ctx, concurrency=SC.conc)
    f = under_load(f, serving_fields(*args, context_tokens=SC.ctx, concurrency=SC.conc, prompt_tokens=f.prompt_tokens,
                                     output_tokens=f.output_tokens))  # fmt: skip
    md = report.to_markdown()
    assert f"Decode {f.decode_tokens_per_s:,.1f} tokens/s per user ({f.decode_tokens_per_s_low:,.1f}–" in md
    rows = next(t for t in report.tables if t.name == "speed").rows
    assert rows[0]["value"] == pytest.approx(f.decode_tokens_per_s)


def test_cost_numbers_and_price_sources_match_the_cost_model(report):
    plan = plan_costs(CAT, COST_REQUEST)
    cmp = compare(plan.inputs)
    rows = {r["option"]: r for r in next(t for t in report.tables if t.name == "cost_options").rows}
    owned = cmp.options["owned"]
    assert rows["owned"]["usd_per_month"] == pytest.approx(round(owned.usd_per_month, 2))
    # Every catalog price the comparison used is listed with its source.
    md = report.to_markdown()
    for q in plan.quotes.values():
        if q.value is not None and q.source.startswith("http"):
            assert q.source in md


def test_sources_cover_the_model_and_the_hardware(report):
    urls = [u for _, u in report.sources]
    hw = CAT.device(SC.hw)
    assert hw.source in urls
    model = CAT.model(SC.model)
    for key in model.source.split(","):
        assert CAT.model_sources[model.family][key.strip()].url in urls


def test_json_and_csv_exports_hold_the_same_tables(report):
    doc = json.loads(report.to_json())
    assert doc["scenario"]["ctx"] == 16384 and doc["query"]["hw"] == "rtx-3090"
    est = memory.estimate(MEMORY_REQUEST)
    assert doc["sections"]["memory"]["data"]["kv_cache_bytes"] == est.kv_cache_bytes
    with zipfile.ZipFile(io.BytesIO(report.csv_zip())) as z:
        names = set(z.namelist())
        assert {
            "inputs.csv",
            "memory_components.csv",
            "speed.csv",
            "cost_options.csv",
            "guide_ranking.csv",
            "claims_check.csv",
        } <= names
        rows = list(csv.DictReader(io.StringIO(z.read("inputs.csv").decode())))
    assert {r["input"]: r["value"] for r in rows}["hw"] == "rtx-3090"


def test_guide_section_ranks_for_the_scenario_target(report):
    ranking = next(t for t in report.tables if t.name == "guide_ranking").rows
    assert ranking[0]["rank"] == 1 and ranking[0]["status"] == "recommended"
    assert {r["hardware"] for r in ranking} <= {"NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3090"}
    claims = next(t for t in report.tables if t.name == "claims_check").rows
    assert any(r["verdict"] == "does not hold" for r in claims)


def test_sections_can_be_chosen_and_unknown_ones_are_refused():
    rep = build_report(SC, CAT, sections=("memory",), now=NOW)
    assert [s.key for s in rep.sections] == ["inputs", "memory"]
    with pytest.raises(ValueError, match="unknown report sections"):
        build_report(SC, CAT, sections=("astrology",))


def test_unfit_scenario_still_reports():
    sc = Scenario(model="gemma-4-31b", quant="BF16", hw="phone-4gb", ctx=8192)
    md = build_report(sc, CAT, sections=("memory", "speed"), now=NOW).to_markdown()
    assert "does not fit" in md


def test_png_export_left_out_with_a_reason_when_kaleido_is_missing(monkeypatch, report):
    real_import = builtins.__import__

    def no_kaleido(name, *a, **k):
        if name == "kaleido":
            raise ImportError("no kaleido")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_kaleido)
    blob, note = report.bundle_zip(with_png=True)
    assert "PNG charts left out" in note and "kaleido" in note
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        names = z.namelist()
        assert "report.md" in names and "report.json" in names
        assert not any(n.endswith(".png") for n in names)
        assert "PNG charts left out" in z.read("report.md").decode()


def test_png_export_failure_is_reported_not_raised():
    class Broken:
        def to_image(self, **_):
            raise RuntimeError("no Chrome")

    pytest.importorskip("kaleido")
    pngs, note = export_pngs({"x": Broken()})
    assert pngs == {} and "RuntimeError: no Chrome" in note


def test_png_charts_when_the_static_export_works_here(report):
    # Needs kaleido and a Chromium (Debian's /usr/bin/chromium here); elsewhere the report says why there are none.
    pytest.importorskip("kaleido")
    blob, note = report.bundle_zip(with_png=True)
    if "left out" in note:
        pytest.skip(note)
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        pngs = [n for n in z.namelist() if n.endswith(".png")]
        assert set(pngs) == {"charts/memory_components.png", "charts/decode_vs_depth.png", "charts/cost_options.png"}
        assert all(z.read(n)[:8] == b"\x89PNG\r\n\x1a\n" for n in pngs)
        assert "![memory_components](charts/memory_components.png)" in z.read("report.md").decode()
