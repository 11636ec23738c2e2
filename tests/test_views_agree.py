"""Home, the stakeholder report and the pages show the same figures for any scenario (hypothesis, page-level inputs
included): the pages are rendered under AppTest and their metrics compared with the report's text and tables."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from streamlit.testing.v1 import AppTest

from model_specs import load_catalog
from ui.report import build_report
from ui.scenario import Scenario, scenario_to_query
from ui.views.costs import build_cost_view
from ui.views.guide import build_guide_view
from ui.views.memory import build_memory_view
from ui.views.speed import build_speed_view

ROOT = Path(__file__).resolve().parents[1]
CAT = load_catalog()
GiB = 2**30

scenarios = st.builds(
    Scenario,
    model=st.sampled_from(sorted(CAT.models)),
    quant=st.sampled_from(["Q4_K_M", "Q8_0", "BF16", "Q4_0"]),
    ctx=st.sampled_from([2048, 8192, 32768, 131072]),
    engine=st.sampled_from(["llama.cpp", "ollama"]),
    kv=st.sampled_from(["f16", "q8_0"]),
    hw=st.sampled_from(
        ["rtx-4090", "rtx-3090", "m4-max-128gb", "h100-80gb-sxm", "laptop-ddr5-16gb", "phone-4gb", "core-i5-13600k"]
    ),
    gpus=st.integers(1, 2),
    conc=st.integers(1, 16),
    text_only=st.booleans(),
    ple_host=st.booleans(),
    moe_host=st.booleans(),
    prompt=st.one_of(st.none(), st.integers(0, 8000)),
    out_tok=st.one_of(st.none(), st.integers(1, 2000)),
    cold=st.booleans(),
    thr=st.one_of(st.none(), st.integers(1, 24)),
    pfx=st.sampled_from([0, 200, 4000]),
    pue=st.sampled_from([1.0, 1.2, 1.5]),
    coc=st.sampled_from([0.0, 8.0]),
    fixed=st.sampled_from([0.0, 250.0]),
    tput=st.sampled_from(["forecast", "typed"]),
    meas_tps=st.sampled_from([20.0, 400.0]),
    hw_usd=st.one_of(st.none(), st.sampled_from([0.0, 2500.0])),
    api_model=st.one_of(st.none(), st.just("gemma-4-31b")),
    api_in=st.one_of(st.none(), st.sampled_from([0.05, 1.0])),
    in_mtok=st.sampled_from([1.0, 100.0, 5000.0]),
)


def _section(report, key: str):
    return next(s for s in report.sections if s.key == key)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_report_sections_hold_the_page_views_figures(sc):
    rep = build_report(sc, CAT, ("memory", "speed", "cost"))
    mem, spd, cost = build_memory_view(sc, CAT), build_speed_view(sc, CAT), build_cost_view(sc, CAT)
    if mem.estimate is None:
        assert mem.error in _section(rep, "memory").lines[0]
    else:
        assert _section(rep, "memory").data == mem.estimate.as_dict()
    if spd.forecast is None:
        assert spd.error in _section(rep, "speed").lines[0]
    else:
        rows = {r["metric"]: r["value"] for r in next(t for t in rep.tables if t.name == "speed").rows}
        assert rows["time to first token (s)"] == spd.forecast.ttft_s and rows["end to end (s)"] == spd.forecast.e2e_s
    if cost.plan is not None:
        rows = {r["option"]: r["usd_per_month"] for r in next(t for t in rep.tables if t.name == "cost_options").rows}
        for name, o in cost.comparison.options.items():
            assert rows[name] == (None if o is None else round(o.usd_per_month, 2))


def _open(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _page(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str | None:
    return next((m.value for m in at.metric if m.label == label), None)


@pytest.mark.filterwarnings("ignore")
@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios)
def test_home_report_and_pages_show_the_same_numbers(sc):
    logging.disable(logging.WARNING)
    rep = build_report(sc, CAT, ("memory", "speed", "cost"))
    text = {s.key: " ".join(s.lines) for s in rep.sections}
    at = _open(scenario_to_query(sc))
    home = " ".join(m.value for m in at.markdown)
    assert f"**Memory.** {_section(rep, 'memory').lines[0]}" in home
    assert f"**Speed.** {_section(rep, 'speed').lines[0]}" in home

    _page(at, "memory")
    if (weights := _metric(at, "Weights")) is not None:
        assert f"Weights {weights}" in text["memory"] and f"KV cache {_metric(at, 'KV cache')}" in text["memory"]
        assert f"= {_metric(at, 'Total memory')};" in text["memory"]

    _page(at, "speed")
    if (decode := _metric(at, "Decode (tokens/s per user)")) is not None:
        assert f"Decode {decode} tokens/s per user" in text["speed"]
        assert f"time to first token {_metric(at, 'Time to first token')}" in text["speed"]
        assert f"end to end {_metric(at, 'End to end')}" in text["speed"]

    _page(at, "costs")
    rows = next((t.rows for t in rep.tables if t.name == "cost_options"), [])
    shown = [m.value for m in at.metric if m.label == "USD per month"]
    assert shown == [f"${r['usd_per_month']:,.2f}" for r in rows if r["usd_per_month"] is not None]


@pytest.mark.parametrize(
    ("model", "quant", "hw", "engine", "conc"),
    [
        ("gemma-4-e4b", "BF16", "h100-80gb-sxm", "vllm", 16),  # closed form TTFT 0.09 s, headline 0.19 s
        ("gemma-4-e4b", "Q4_K_M", "rtx-4090", "ollama", 8),  # closed form TTFT 0.21 s, headline 10.6 s (one slot)
        ("gemma-4-26b-a4b", "Q4_K_M", "m4-max-64gb", "llama.cpp", 1),  # closed form TTFT 1.54 s, headline 0.69 s
    ],
)
def test_the_guide_ranks_with_the_speed_pages_headline(model, quant, hw, engine, conc):
    """The Guide's per-user decode and TTFT for a variant are the Speed page's for the same scenario (they came from
    the closed form while the Speed page showed the scheduler simulation)."""
    sc = Scenario(model=model, quant=quant, hw=hw, engine=engine, conc=conc, ctx=8192)
    f = build_speed_view(sc, CAT).forecast
    c = next(c for c in build_guide_view(sc, CAT).ranked if (c.model_id, c.quant, c.hardware_id) == (model, quant, hw))
    assert c.decode_tokens_per_s == pytest.approx(f.decode_tokens_per_s, rel=1e-6)
    assert c.ttft_s == pytest.approx(f.ttft_s, rel=1e-6)


@pytest.mark.parametrize(
    ("hw", "engine", "quant"),
    [
        ("raspberry-pi-5-8gb", "llama.cpp", "Q4_K_M"),
        ("rtx-4090", "llama.cpp", "Q4_K_M"),
        ("h100-80gb-sxm", "vllm", "BF16"),
    ],
)
def test_the_depth_curve_passes_through_the_headline(hw, engine, quant):
    """One user whose answer's mean depth is 8,192 tokens: the Speed page's headline decode is the decode-vs-depth
    curve's point at 8,192 (the curve came from the closed form: 6.1 against the headline's 5.5 tokens/s on a Pi)."""
    sc = Scenario(model="gemma-4-e2b", quant=quant, hw=hw, engine=engine, conc=1, ctx=32768, prompt=8191, out_tok=2)
    v = build_speed_view(sc, CAT)
    at_depth = next(r for r in v.depth if r[0] == 8192)
    assert v.forecast.decode_tokens_per_s == pytest.approx(at_depth[1], rel=1e-9)
    assert at_depth[2] <= at_depth[1] <= at_depth[3]
