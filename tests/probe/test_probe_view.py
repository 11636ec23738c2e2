"""The probe page's view-model without Streamlit: Scenario -> run settings, a run summary -> what the page shows."""

from __future__ import annotations

import pytest

from calculators.cost import measured_efficiency
from probe.guard import ProbeInputError
from probe.results import RequestResult
from probe.runner import ProbeSettings, RunReport
from probe.stats import summarize_level
from ui.probe_runs import MeasuredEfficiency
from ui.scenario import Scenario
from ui.views import probe as vm


def test_settings_from_a_closed_and_an_open_loop_scenario() -> None:
    closed = vm.settings_from(Scenario(p_model="tiny", p_conc="4,1,4", p_req=3))
    assert closed.concurrency == [1, 4] and closed.rate is None and closed.requests_per_level == 3
    opened = vm.settings_from(Scenario(p_model="tiny", p_loop="open", p_rate="0.5,2", p_arrival="gamma", p_burst=0.5,
                                       p_maxc=8, p_dur=30.0, p_workers=2))  # fmt: skip
    assert (opened.rate, opened.arrival, opened.burstiness) == ([0.5, 2.0], "gamma", 0.5)
    assert (opened.max_concurrency, opened.duration_s, opened.workers) == (8, 30.0, 2)
    assert opened.requests_at(0, 0.5) == 15 and opened.requests_at(0, 2.0) == 60  # rate x duration


@pytest.mark.parametrize(
    ("fields", "msg"),
    [({"p_model": ""}, "model name"), ({"p_model": "m", "p_loop": "open", "p_rate": "0"}, "rate 0")],
)
def test_bad_form_is_one_line(fields: dict, msg: str) -> None:
    with pytest.raises(ProbeInputError, match=msg):
        vm.settings_from(Scenario(**fields))


def ok(ttft_s: float, e2e_s: float, tokens: int, rate: float | None = None) -> RequestResult:
    return RequestResult(ok=True, ttft_s=ttft_s, e2e_s=e2e_s, output_tokens=tokens, itl_s=[0.01], rate=rate)


def test_result_view_of_an_open_loop_run() -> None:
    lv = summarize_level(3, [ok(0.1, 1.0, 10, 2.0), ok(0.2, 1.1, 10, 2.0)], wall_s=1.5)
    lv.rate = 2.0
    report = RunReport("http://127.0.0.1:1", "openai", "tiny", {}, status="complete", levels=[lv])
    view = vm.result_view(report.to_json(), [])
    table = view.level_table()
    assert list(table["rate (req/s)"]) == [2.0] and list(table["ok / requests"]) == ["2 / 2"]
    titles = [f.layout.title.text for f in view.figures()]
    assert titles == ["Latency vs request rate", "Throughput vs request rate"]
    assert list(view.figures()[0].data[0].x) == [2.0]  # plotted against the rate, not the in-flight count
    assert view.knee is None and view.workers_table() is None


def test_measured_efficiency_reaches_the_cost_calculator_unchanged() -> None:
    m = MeasuredEfficiency("gemma-4-e4b", "Q4_K_M", "rtx-4090", "llama.cpp", "r1", 50.0, 0.3)
    d = m.to_session()
    assert MeasuredEfficiency.from_session(d) == m
    assert measured_efficiency(d, "gemma-4-e4b", "Q4_K_M", "rtx-4090", "llama.cpp") == 0.3
    assert measured_efficiency(d, "gemma-4-e4b", "Q4_K_M", "a100-80gb-sxm", "llama.cpp") is None
    assert MeasuredEfficiency.from_session({"model": "x"}) is None
    assert ProbeSettings().rate is None
