"""Costs page builders: markers at the calculator's break-evens, tornado ordered by impact, tables and captions."""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest

from calculators.cost import CloudGpu, CostInputs, Quote, compare, sensitivities
from tests.test_cost import API, CAP, CLOUD, HW, INPUTS, W
from ui.cost_charts import (
    breakeven_table,
    cost_curve_figure,
    payback_sentences,
    prices_table,
    quote_caption,
    rate_levels,
    tornado_figure,
)


def _markers(fig):
    return [t for t in fig.data if t.mode == "markers+text"]


def test_breakeven_markers_sit_at_the_calculators_breakevens():
    result = compare(INPUTS)
    found = [b for b in result.breakevens if b.monthly_tokens]
    assert found  # the worked example has break-evens to mark
    markers = _markers(cost_curve_figure(INPUTS, result))
    assert [m.x[0] for m in markers] == [b.monthly_tokens for b in found]
    for m, b in zip(markers, found, strict=True):
        assert m.y[0] == pytest.approx(INPUTS.line(b.a).usd_per_month(b.monthly_tokens))
    curves = [t for t in cost_curve_figure(INPUTS, result).data if t.mode != "markers+text"]
    assert [t.name for t in curves] == ["Owned hardware", "Cloud GPU", "Hosted API"]
    # Every break-even lies inside the plotted volume range.
    assert all(curves[0].x[0] < b.monthly_tokens < curves[0].x[-1] for b in found)


def test_an_unpriced_option_has_no_curve_and_no_marker():
    inputs = CostInputs(W, cloud=CLOUD, cloud_capacity=CAP, api=API)  # no owned hardware
    fig = cost_curve_figure(inputs, compare(inputs))
    assert "Owned hardware" not in [t.name for t in fig.data]
    assert not any("Owned" in m.text[0] for m in _markers(fig))


def test_an_empty_workload_is_marked_at_one_million_tokens():
    empty = replace(INPUTS, workload=replace(W, monthly_input_tokens=0, monthly_output_tokens=0))
    fig = cost_curve_figure(empty, compare(empty))
    assert [s.x0 for s in fig.layout.shapes] == [1e6]  # a log axis has no 0


@pytest.mark.parametrize("option", ["owned", "cloud", "api"])
def test_tornado_bars_are_sorted_by_impact_biggest_on_top(option):
    inputs = replace(INPUTS, cloud=CloudGpu(1.50, scale_to_zero=True))  # always-on cloud would not move at all
    sens = sensitivities(inputs, 0.2)
    fig = tornado_figure(sens, option, 20)
    low, high = fig.data
    base_usd = compare(inputs).options[option].usd_per_month
    assert low.base == high.base == pytest.approx(base_usd)
    swings = [abs(h - lo) for lo, h in zip(low.x, high.x, strict=True)]
    assert swings == sorted(swings)  # plotly draws the first category at the bottom
    mine = {s.factor: s for s in sens if s.option == option}
    assert sorted(low.y) == sorted(mine)
    top = mine[low.y[-1]]
    assert top.swing_usd == max(s.swing_usd for s in mine.values()) > 0
    assert (low.x[-1], high.x[-1]) == pytest.approx(
        (top.low_input_usd_per_month - base_usd, top.high_input_usd_per_month - base_usd)
    )
    assert (low.name, high.name) == ("input -20 %", "input +20 %")


def test_breakeven_table_and_payback_sentences():
    result = compare(INPUTS)
    table = breakeven_table(result)
    assert list(table["Pair"]) == [
        f"{a} vs {b}"
        for a, b in (("Owned hardware", "Cloud GPU"), ("Owned hardware", "Hosted API"), ("Cloud GPU", "Hosted API"))
    ]
    assert len(table) == len(result.breakevens)
    for row, b in zip(table.to_dict("records"), result.breakevens, strict=True):
        if b.monthly_tokens is None:
            assert row["Break-even"] == "never"
        else:
            assert row["Break-even"].endswith("tokens/month")
    sentences = payback_sentences(result)
    assert len(sentences) == 2
    assert "Cloud GPU" in sentences[0] and "Hosted API" in sentences[1]
    months = result.payback["vs_cloud"]
    assert f"**{months:,.1f} months**" in sentences[0]
    free = compare(replace(INPUTS, owned=replace(HW, price_usd=0)))
    assert "nothing to pay back" in payback_sentences(free)[0]


def test_prices_table_links_only_urls_and_captions_name_the_source():
    quotes = {
        "api_usd_per_mtok_input": Quote(0.14, "https://example.org/prices", "2026-07-24", "LiteLLM"),
        "power_watts": Quote(450.0, "typed in"),
    }
    table = prices_table(quotes).to_dict("records")
    assert table[0]["Price"] == "api usd per mtok input"
    assert table[0]["Source"] == "https://example.org/prices" and table[0]["Where from"] == "LiteLLM"
    assert pd.isna(table[1]["Source"]) and table[1]["Where from"] == "(typed in)"
    assert quote_caption(quotes["api_usd_per_mtok_input"]) == (
        "LiteLLM · [source](https://example.org/prices) · as of 2026-07-24"
    )
    assert quote_caption(quotes["power_watts"]) == "typed in"
    assert quote_caption(Quote(None, "no purchase price in the catalog")) == "no purchase price in the catalog"
    assert quote_caption(None) == ""


def test_rate_levels_keep_measured_levels_and_put_the_scenarios_model_first():
    def run(run_id, model, levels):
        return {"id": run_id, "model": model, "created_at": "2026-11-28", "summary": {"runs": levels}}

    runs = [
        run("r1", "llama3:8b", [{"concurrency": 1, "ok": True, "output_tokens_per_s": 40.0}]),
        run(
            "r2",
            "gemma4:E4B-q4",
            [
                {"concurrency": 1, "ok": True, "output_tokens_per_s": 30.0},
                {"concurrency": 4, "ok": False, "output_tokens_per_s": 90.0},  # a failed level is no measurement
                {"concurrency": 8, "ok": True, "output_tokens_per_s": None},
            ],
        ),
        {"id": "r3", "model": "gemma4:e4b", "created_at": "2026-11-28", "summary": None},
    ]
    levels = rate_levels(runs, "e4b")
    assert [(lv["run_id"], lv["concurrency"], lv["tokens_per_s"]) for lv in levels] == [
        ("r2", 1, 30.0),
        ("r1", 1, 40.0),
    ]
    assert [lv["hint"] for lv in levels] == [True, False]
