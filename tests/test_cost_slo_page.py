"""A stored probe capacity run (real SQLite store) priced at its SLO on the Costs view, page and report, and drawn
beside the simulator's forecast on Speed; `cap_run` in the link."""

from __future__ import annotations

import datetime as dt
import logging
import math
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from model_specs import load_catalog
from probe.capacity_cli import CapacityOptions
from probe.record import run_and_save
from probe.runner import ProbeSettings
from probe.store import ProbeStore
from probe.workload import Lengths
from tests.probe.capacity_server import SlotServer
from ui.report import build_report
from ui.scenario import Scenario, scenario_from_query, scenario_to_query
from ui.speed_charts import latency_load_figure
from ui.views.costs import build_cost_view
from ui.views.facts import SessionFacts, run_request
from ui.views.speed import build_speed_view, simulated_capacity

ROOT = Path(__file__).resolve().parents[1]
CAT = load_catalog()
CAPACITY = {
    "search": "concurrency", "value": 4, "at_least": False, "target_attainment": 0.95, "attainment": 0.97,
    "goodput_requests_per_s": 0.6, "goodput_output_tokens_per_s": 120.0, "first_failing_value": 5,
    "first_failing_attainment": 0.6, "levels_measured": 4, "note": None,
    "slo": {"ttft_s": 0.5, "tpot_s": None, "e2e_s": None, "attainment": 0.95},
}  # fmt: skip
# Owned: 2000 USD over 20 months = 100 USD/month + 40 W idle (10 % of 400 W) x 730 h = 29.2 kWh x 0.10 = 2.92 USD:
# 102.92 USD a replica. 10 peak users / 4 per replica = 3 replicas = 308.76 USD; busy: 20e6 tokens / 120 tokens/s =
# 46.296 h x 360 W = 16.667 kWh x 0.10 = 1.6667 USD; + 100 fixed = 410.43 USD, over 20 M output tokens = 20.5213 USD
# per million. Rented: 3 x 2 USD/h x 730 h = 4,380 USD, 219 USD per million.
SC = dict(model="gemma-4-e4b", hw="rtx-4090", conc=10, util=0.5, out_mtok=20.0, hw_usd=2000.0, watts=400.0,
          months=20, kwh=0.10, fixed=100.0, cloud_hr=2.0)  # fmt: skip


def _seed(url: str, capacity: dict = CAPACITY, model: str = "gemma-4-e4b", settings: dict | None = None) -> str:
    """A finished capacity run in a real store, as probe.capacity.run_capacity writes it."""
    store = ProbeStore(url)
    run_id = store.start_run("http://127.0.0.1:8080", "openai", model, settings or {"search": capacity["search"]})
    store.start_capacity(run_id, capacity["search"], 64, capacity["slo"])
    store.add_capacity_level(run_id, {"step": 1, "value": 4, "attainment": 0.97, "passed": True})
    store.finish_capacity(run_id, capacity)
    store.finish_run(run_id, {"runs": []}, "complete")
    store.close()
    return run_id


@pytest.fixture
def stored(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'probe.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    run_id = _seed(url)
    store = ProbeStore(url)
    runs = tuple(store.list_capacities())
    store.close()
    return run_id, SessionFacts(capacity_runs=runs)


def test_store_lists_finished_capacity_runs_only(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run_id = _seed(url)
    store = ProbeStore(url)
    other = store.start_run("http://127.0.0.1:9", "openai", "m", {})
    store.start_capacity(other, "rate", 8, {"ttft_s": 0.1})  # still searching: no capacity yet
    runs = store.list_capacities()
    store.close()
    assert [r["id"] for r in runs] == [run_id]
    assert runs[0]["capacity"]["value"] == 4 and runs[0]["endpoint"] == "http://127.0.0.1:8080"


def test_cost_view_prices_the_run_at_its_slo(stored):
    run_id, facts = stored
    v = build_cost_view(Scenario(**SC, cap_run=run_id), CAT, facts)
    slo = v.slo
    assert slo is not None and slo.error is None and v.slo_notice is None
    assert (slo.replicas.peak_load, slo.replicas.replicas) == (10, 3)
    owned, cloud = slo.costs["owned"], slo.costs["cloud"]
    assert owned.usd_per_month == pytest.approx(410.4267, abs=1e-3)
    assert owned.usd_per_mtok_output == pytest.approx(20.5213, abs=1e-4)
    assert cloud.usd_per_month == pytest.approx(4380) and cloud.usd_per_mtok_output == pytest.approx(219)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    assert slo.sentence("owned") == (
        f"At the SLO (measured on http://127.0.0.1:8080, {today}): 3 replicas, $410.43 a month, "
        "$20.5213 per million output tokens"
    )
    rows = {(r["option"], r["capacity"]): r for r in v.slo_rows()}
    measured = f"measured (run {run_id})"
    assert rows[("owned", measured)]["replicas"] == 3 and rows[("cloud", measured)]["usd_per_month"] == 4380
    forecast = v.comparison.options["owned"]
    assert rows[("owned", "forecast (cost model, your latency target)")]["usd_per_month"] == round(
        forecast.usd_per_month, 2
    )
    # The simulator's capacity for the scenario at the run's SLO, priced the same way (owned: the hardware simulated).
    sim = simulated_capacity(Scenario(**SC), CAT, CAPACITY["slo"], "concurrency")
    assert sim["value"] >= 1 and slo.simulated.value == sim["value"]
    assert slo.simulated_costs["owned"].replicas == math.ceil(10 / sim["value"]) and "cloud" not in slo.simulated_costs
    bars = dict(v.capacity_bars())
    assert bars[f"measured (run {run_id})"] == 4 and bars["forecast (simulated at the run's SLO)"] == sim["value"]
    assert bars["forecast (cost model, your latency target)"] == v.plan.inputs.owned_capacity.users_per_replica
    # Without cap_run Costs prices no run; an unknown id is ignored with a notice.
    assert build_cost_view(Scenario(**SC), CAT, facts).slo is None
    unknown = build_cost_view(Scenario(**SC, cap_run="abc123"), CAT, facts)
    assert unknown.slo is None and "no stored capacity run" in unknown.slo_notice


def test_the_forecast_beside_a_run_is_for_the_requests_the_run_sent(tmp_path):
    # The run sent 7,000 + 64-token requests (ProbeSettings, stored with the run); the scenario's are 512 + 256. The
    # simulated capacity set beside the measured one is for the run's requests, and the Speed page says they differ.
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run_id = _seed(url, settings={"prompt_tokens": 7000, "max_tokens": 64, "concurrency": [1]})
    store = ProbeStore(url)
    facts = SessionFacts(capacity_runs=tuple(store.list_capacities()))
    store.close()
    assert facts.capacity_runs[0]["settings"]["prompt_tokens"] == 7000
    v = build_cost_view(Scenario(**SC, cap_run=run_id), CAT, facts)
    theirs = simulated_capacity(Scenario(**SC), CAT, CAPACITY["slo"], "concurrency", (7000, 64, 0))
    ours = simulated_capacity(Scenario(**SC), CAT, CAPACITY["slo"], "concurrency")
    assert v.slo.simulated.value == theirs["value"] != ours["value"]
    label = build_speed_view(Scenario(**SC, cap_run=run_id), CAT, facts).serving.measured_label
    assert label.endswith("its requests: 7,000 + 64 tokens, the forecast's: 512 + 256 tokens")


def test_a_run_that_met_no_load_says_why(tmp_path):
    url = f"sqlite:///{tmp_path / 'p.db'}"
    run_id = _seed(url, {**CAPACITY, "value": None, "goodput_output_tokens_per_s": None})
    store = ProbeStore(url)
    facts = SessionFacts(capacity_runs=tuple(store.list_capacities()))
    store.close()
    v = build_cost_view(Scenario(**SC, cap_run=run_id), CAT, facts)
    assert v.slo.costs == {} and "missed the SLO even at the smallest load" in v.slo.error


def test_report_has_the_slo_lines(stored):
    run_id, facts = stored
    rep = build_report(Scenario(**SC, cap_run=run_id), CAT, ("cost",), facts=facts)
    cost = next(s for s in rep.sections if s.key == "cost")
    text = " ".join(cost.lines)
    assert "owned: At the SLO (measured on http://127.0.0.1:8080" in text and "$410.43 a month" in text
    assert "cloud: At the SLO" in text and "$4,380.00 a month" in text
    assert any(t.name == "cost_slo" for t in rep.tables)


def test_speed_draws_the_measured_capacity_beside_the_forecast(stored):
    run_id, facts = stored
    sc = Scenario(model="gemma-4-e4b", hw="rtx-4090", conc=4, ttft_s=0.5)
    sv = build_speed_view(sc, CAT, facts).serving  # no cap_run: the newest run of the model
    assert sv.measured_capacity["value"] == 4 and run_id in sv.measured_label
    fig = latency_load_figure(sv)
    star = [t for t in fig.data if t.name.startswith("measured capacity")]
    assert len(star) == 1 and star[0].x == (4,) and star[0].y == (500.0,)
    assert any(t.name.startswith("capacity at the SLO") for t in fig.data)  # the forecast's, on the same chart
    other = build_speed_view(sc.model_copy(update={"model": "gemma-4-31b"}), CAT, facts).serving
    assert other.measured_capacity is None  # another model's run is not drawn unless cap_run names it
    unknown = build_speed_view(sc.model_copy(update={"cap_run": "abc123"}), CAT, facts).serving
    assert unknown.measured_capacity is None and any("no stored capacity run" in n for n in unknown.notes)


def test_cap_run_link_round_trip():
    s, notices = scenario_from_query({"cap_run": "a1b2c3"}, CAT)
    assert s.cap_run == "a1b2c3" and not notices
    assert scenario_from_query(scenario_to_query(s), CAT)[0] == s
    bad, notices = scenario_from_query({"cap_run": "../x"}, CAT)
    assert bad.cap_run is None and notices and "cap_run" in notices[0]


def _page(page: str, query: dict) -> AppTest:
    logging.disable(logging.WARNING)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_costs_page_shows_measured_next_to_forecast(stored):
    run_id, _ = stored
    at = _page("costs", scenario_to_query(Scenario(**SC, cap_run=run_id)))
    infos = [i.value for i in at.info]
    assert any("3 replicas, $410.43 a month, $20.5213 per million output tokens" in i for i in infos)
    assert any("$4,380.00 a month, $219.0000 per million" in i for i in infos)
    assert at.selectbox(key="cost_cap_run").value == run_id
    assert any("forecast vs measured" in h.value for h in at.subheader)
    assert at.get("plotly_chart")  # the capacity bars (and the page's other charts)
    unknown = _page("costs", scenario_to_query(Scenario(**SC, cap_run="abc123")))
    assert any("no stored capacity run" in w.value for w in unknown.warning)


def test_speed_page_says_measured_capacity(stored):
    run_id, _ = stored
    at = _page("speed", {"model": "gemma-4-e4b", "hw": "rtx-4090", "conc": "4", "ttft_s": "0.5"})
    captions = " ".join(c.value for c in at.caption)
    assert "Measured capacity: 4 users with TTFT <= 500 ms for 95% of requests" in captions and run_id in captions


def test_a_rate_run_is_priced_in_requests_of_its_size(tmp_path):
    # 380 goodput tokens/s / 1.9 requests/s = 200 tokens a request; 2,000 M output tokens over 365 busy hours =
    # 1,522.07 tokens/s = 7.61 requests/s; 2 requests/s per replica: 4 replicas; rented 4 x 2 USD/h x 730 h = 5,840.
    url = f"sqlite:///{tmp_path / 'p.db'}"
    rate = {
        **CAPACITY,
        "search": "rate",
        "value": 2.0,
        "goodput_requests_per_s": 1.9,
        "goodput_output_tokens_per_s": 380.0,
    }
    run_id = _seed(url, rate)
    store = ProbeStore(url)
    facts = SessionFacts(capacity_runs=tuple(store.list_capacities()))
    store.close()
    v = build_cost_view(Scenario(**{**SC, "out_mtok": 2000.0}, cap_run=run_id), CAT, facts)
    assert v.slo.replicas.peak_load == pytest.approx(7.61035, rel=1e-5) and v.slo.replicas.replicas == 4
    assert v.slo.costs["cloud"].usd_per_month == pytest.approx(5840)
    assert v.slo.capacity_words == "2 requests/s per replica"
    assert "forecast (cost model, your latency target)" not in dict(v.capacity_bars())  # users, not requests/s


def test_a_probe_run_keeps_its_workload_so_the_forecast_beside_it_sends_the_same_requests(tmp_path):
    # A run with a 64-token shared system prompt in front of 32-token prompts, saved as the probe saves it: the
    # forecast set beside it simulates 96-token prompts of which 64 are in the prefix cache.
    srv = SlotServer(k=2, ttft_s=0.01, itl_s=0.002).start()
    store = ProbeStore(f"sqlite:///{tmp_path / 'w.db'}")
    try:
        settings = ProbeSettings(concurrency=[1], requests_per_level=2, prompt_tokens=32, max_tokens=4,
                                 warmup_requests=0)  # fmt: skip
        opts = CapacityOptions(prompt_tokens=Lengths(32), max_tokens=Lengths(4), shared_prefix_tokens=64)
        report = run_and_save(store, srv.url, "slots", "openai", settings=settings, options=opts)
        run = store.get_run(report.run_id)
    finally:
        store.close()
        srv.stop()
    assert report.levels and run["settings"]["workload"]["shared_prefix_tokens"] == 64
    assert run_request(run) == (96, 4, 64)
    assert run_request({"settings": {**run["settings"], "workload": {"turns": 3}}}) is None  # history grows: unknown
