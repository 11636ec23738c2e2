"""The costs page under AppTest: three options side by side, charts, editable prices with sources, sizing text."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from probe.report import USE_MEASUREMENT_KEY

ROOT = Path(__file__).resolve().parents[1]
LINK = {
    "model": "gemma-4-e4b",
    "hw": "laptop-ddr5-16gb",
    "hw_usd": "0",
    "cloud_hw": "a100-80gb-sxm",
    "cloud_model": "gemma-4-31b",
    "api_model": "gemma-4-31b",
}


def open_costs(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/costs.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> list[str]:
    return [m.value for m in at.metric]


def test_three_options_side_by_side_with_charts_and_sources():
    at = open_costs(LINK)
    values = _metrics(at)
    assert len(values) == 6  # USD/month and USD/Mtok for owned, cloud, API
    # Hosted API, catalog price for Gemma 4 31B cheapest at the 5:1 mix (bedrock_mantle 0.14 / 0.40 per M, LiteLLM
    # copy 2026-07-24): 100 M x 0.14 + 20 M x 0.40 = 22.00 USD a month.
    assert "$22.00" in values
    text = " ".join(m.value for m in at.markdown)
    assert "need" in text and "A100" in text  # "N concurrent users ... need K x NVIDIA A100 ..."
    charts = at.get("plotly_chart")
    assert len(charts) == 2  # cost vs volume, tornado
    captions = " ".join(c.value for c in at.caption)
    assert "as of 2026-" in captions and "[source](http" in captions
    assert len(at.dataframe) == 2  # break-even table, prices table


def test_editing_a_price_changes_the_cost_and_the_link():
    at = open_costs(LINK)
    at.number_input(key="cost_api_in_gemma-4-31b_0.14").set_value(1.0).run()
    assert not at.exception
    # 100 M x 1.00 + 20 M x 0.40 = 108.00 USD a month.
    assert "$108.00" in _metrics(at)
    assert at.session_state["scenario"].api_in == 1.0  # the Scenario (and so the link) carries the typed price


def test_missing_catalog_price_is_a_message_not_an_error():
    # No hosted-API price for E4B and no purchase price for an H100 in the catalog.
    at = open_costs({"model": "gemma-4-e4b", "hw": "h100-80gb-sxm"})
    warnings = " ".join(w.value for w in at.warning)
    assert "no hosted-API price" in warnings and "no purchase price" in warnings
    assert any(v.startswith("$") for v in _metrics(at))  # the cloud option is still priced


@pytest.mark.parametrize("query", [{"cloud_hw": "no-such-gpu"}, {"api_model": "x"}, {"ttft_s": "-1"}, {"s2z": "1"}])
def test_odd_links_do_not_break_the_page(query):
    open_costs(query)


@pytest.mark.parametrize(
    "model, hw",
    [
        ("gemma-4-e2b", "phone-4gb"),
        ("gemma-4-e4b", "raspberry-pi-5-8gb"),
        ("gemma-4-31b", "m1-8gb"),  # does not fit: the page still answers
        ("gemma-4-26b-a4b", "dgx-spark"),
        ("gemma-3-27b", "mi300x"),
        ("gemma-4-31b", "epyc-9654-1s-384gb"),
    ],
)
def test_one_device_of_each_kind(model, hw):
    at = open_costs({"model": model, "hw": hw, "conc": "4"})
    assert len(at.metric) + len(at.warning) >= 3  # each option is priced or says why not


def test_the_linked_cloud_quantization_is_priced():
    # The link's cloud_q reaches the cost model (the cloud option's label names the quantization it priced).
    at = open_costs({**LINK, "cloud_q": "FP8"})
    text = " ".join(m.value for m in at.markdown)
    assert "Gemma 4 31B FP8 on" in text, text


def test_a_measurement_taken_with_another_quantization_is_not_claimed():
    # The forecast ignores a measurement unless model, quant, device and engine all match; the page says the same.
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state[USE_MEASUREMENT_KEY] = {
        "model": "gemma-4-e4b",
        "quant": "Q8_0",
        "hw": "rtx-4090",
        "engine": "llama.cpp",
        "run_id": "r1",
        "efficiency_override": 0.3,
    }
    at.run()
    at.switch_page("pages/costs.py")
    at.run()
    assert not at.exception
    assert not any("probe run r1" in i.value for i in at.info)


def test_automatic_choices_show_as_chosen_not_as_empty_boxes():
    # A selectbox shows a None value as "Choose an option"; the automatic choice must read as a choice.
    at = open_costs({})
    for key, text in [
        ("cost_cloud_hw", "automatic"),
        ("cost_cloud_model", "same as the sidebar"),
        ("cost_cloud_q", "automatic"),
    ]:
        box = at.selectbox(key=key)
        assert box.index == 0 and box.options[0].startswith(text), (key, box.index, box.options[:2])
