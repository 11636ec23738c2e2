"""Speed page, serving under load: the view's simulated figures and capacity at the scenario's SLO, the "latency
against load" chart, and the page that renders them (AppTest)."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest

from model_specs import load_catalog
from tests.test_speed_page import speed_page
from ui import speed_text
from ui.scenario import Scenario
from ui.speed_charts import latency_load_figure
from ui.views.speed import SLO_ATTAINMENT, build_speed_view

CAT = load_catalog()
VLLM = dict(model="gemma-4-31b", quant="FP8", hw="h100-80gb-sxm", engine="vllm", conc=32, ttft_s=0.5, user_tps=30.0)


def _serving(**kw):
    return build_speed_view(Scenario(**kw), CAT).serving


def test_capacity_is_where_the_load_curve_crosses_the_slo():
    sv = _serving(**VLLM)
    assert sv.error is None and sv.slo.ttft_s == 0.5 and sv.slo.tpot_s == pytest.approx(1 / 30)
    n = sv.capacity_users["value"]
    assert 2 <= n < 1024 and sv.capacity_users["first_failing_value"] == n + 1
    # The curve is simulated separately (latency_curve): N users meet the target share, N + 1 do not.
    rows = {r["concurrency"]: r for r in sv.curve}
    assert rows[n]["attainment"] >= SLO_ATTAINMENT > rows[n + 1]["attainment"]
    assert rows[n]["ttft_s_p95"] <= 0.5 * 1.01 and rows[n]["itl_s"] <= 1 / 30
    # More users than the capacity: p95 TTFT or the per-token time passes its target.
    assert rows[64]["ttft_s_p95"] > 0.5 or rows[64]["itl_s_p95"] > 1 / 30
    # Req/s at the SLO: the Poisson-rate search, bisected to 5 %.
    by_rate = sv.capacity_rate
    rate = by_rate["value"]
    assert by_rate["attainment"] >= SLO_ATTAINMENT > by_rate["first_failing_attainment"]
    assert rate < by_rate["first_failing_value"] <= rate * 1.05 + 1e-9
    assert speed_text.capacity_value(sv) == f"{n} users / {rate:,.2f} req/s"


def test_figures_at_the_scenarios_concurrency():
    sv = _serving(**VLLM)
    f, at32 = sv.fields, {r["concurrency"]: r for r in sv.curve}[32]
    assert f["ttft_s_p50"] <= f["ttft_s_p95"] and f["itl_s"] <= f["itl_s_p95"]
    assert f["ttft_s_p95"] == pytest.approx(at32["ttft_s_p95"], rel=1e-9)  # same load, same simulation
    assert f["decode_aggregate_tokens_per_s"] > 20 / f["itl_s"]  # 32 sequences batched: far above one stream


def test_without_a_latency_target_there_is_no_capacity():
    sv = _serving()
    assert sv.slo is None and sv.capacity_users is None and sv.capacity_rate is None and sv.fields["itl_s"] > 0
    assert speed_text.capacity_value(sv) == "no target"
    assert "Set a latency target on the Costs page" in speed_text.serving_caption(sv, "llama.cpp", 512, 256)


def test_simulation_is_cached_per_scenario():
    s = Scenario(**{**VLLM, "conc": 24})
    first = build_speed_view(s, CAT).serving
    t0 = time.perf_counter()
    again = build_speed_view(s, CAT).serving
    assert again is first and time.perf_counter() - t0 < 0.05
    assert (
        build_speed_view(s.model_copy(update={"ttft_s": 2.0}), CAT).serving.capacity_users["value"]
        > first.capacity_users["value"]
    )


def test_latency_against_load_chart():
    sv = _serving(**VLLM)
    fig = latency_load_figure(sv)
    by_name = {t.name: t for t in fig.data}
    xs = [r["concurrency"] for r in sorted(sv.curve, key=lambda r: r["concurrency"])]
    assert list(by_name["p95 TTFT"].x) == xs
    assert by_name["p95 TTFT"].y[xs.index(32)] == pytest.approx(sv.fields["ttft_s_p95"] * 1e3)
    assert set(by_name["TTFT target"].y) == {500.0}
    assert by_name["per-token target"].y[0] == pytest.approx(1e3 / 30)
    n = sv.capacity_users["value"]
    cap = [t for t in fig.data if t.name.startswith("capacity at the SLO")]
    assert len(cap) == 2 and cap[0].name == f"capacity at the SLO: {n} users" and cap[0].x == (n,)
    assert cap[0].y[0] <= 500 * 1.01  # the capacity point sits under the TTFT target
    assert fig.layout.xaxis.type == "log" and fig.layout.yaxis.type == "log"
    # The seam for the probe's capacity runs: a measured capacity object shows as its own point.
    measured = latency_load_figure(replace(sv, measured_capacity={"search": "concurrency", "value": 12}))
    star = [t for t in measured.data if t.name.startswith("measured capacity")]
    assert len(star) == 1 and star[0].x == (12,)


def test_chart_without_a_target_has_no_slo_lines():
    names = {t.name for t in latency_load_figure(_serving()).data}
    assert {"p95 TTFT", "ITL (median)", "your users"} <= names
    assert not {n for n in names if "target" in n or "capacity" in n}


def test_page_shows_serving_figures_and_capacity():
    q = {"model": "gemma-4-31b", "quant": "FP8", "hw": "h100-80gb-sxm", "engine": "vllm", "conc": "32"}
    at = speed_page({**q, "ttft_s": "0.5", "user_tps": "30"})
    assert not at.exception, [e.value for e in at.exception]
    shown = {m.label: m.value for m in at.metric}
    sv = _serving(**VLLM)
    assert shown["Capacity at the SLO"] == speed_text.capacity_value(sv)
    assert shown["Inter-token latency"] == f"{sv.fields['itl_s'] * 1e3:,.1f} ms"
    assert "TTFT p50 / p95 (simulated)" in shown and "Aggregate decode (32 users)" in shown
    assert any("time to first token <= 500 ms" in c.value for c in at.caption)


def test_method_text_names_the_driver_memory_the_kv_cache_is_sized_from_with_its_source():
    v = build_speed_view(Scenario(model="gemma-4-e4b", quant="BF16", hw="a10g", engine="vllm"), CAT)
    text = speed_text.method_markdown(v)
    assert "23,028 MiB the driver reports" in text and "github.com/NVIDIA/DCGM/issues/232" in text
    assert "weight reads and arithmetic overlap partly: it takes their 1.5-norm" in text
    llama = build_speed_view(Scenario(model="gemma-4-e4b", quant="Q4_K_M", hw="a10g"), CAT)  # slots: whole contexts
    assert "driver reports" not in speed_text.method_markdown(llama)
