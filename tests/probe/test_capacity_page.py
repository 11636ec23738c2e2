"""The probe page's capacity mode under AppTest: a search against the k-slot server, stored, shown again by ?run=."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from probe.store import ProbeStore
from tests.probe.capacity_server import SlotServer
from tests.probe.test_probe_page import chart_titles, page, wait_for_run

pytestmark = pytest.mark.timeout(180)
K = 2


@pytest.fixture
def slot_server() -> Iterator[SlotServer]:
    srv = SlotServer(k=K, ttft_s=0.05, itl_s=0.005).start()
    yield srv
    srv.stop()


def test_capacity_search_on_the_page_is_stored_and_reopens(slot_server: SlotServer) -> None:
    at = page()
    at.text_input(key="probe_p_url").set_value(slot_server.url)
    at.selectbox(key="probe_p_backend").set_value("openai")
    at.text_input(key="probe_p_model").set_value("m")
    at.number_input(key="probe_p_req").set_value(16)
    at.number_input(key="probe_p_otok").set_value(16)
    at.number_input(key="probe_p_ttft").set_value(100.0)
    at.number_input(key="probe_p_att").set_value(0.9)
    at.radio(key="probe_p_search").set_value("concurrency").run()
    at.number_input(key="probe_p_smax").set_value(8.0)
    at.button(key="probe_run").click().run()
    assert not at.error, [e.value for e in at.error]
    assert "Searching concurrency" in " ".join(m.value for m in at.markdown)  # the live search panel
    wait_for_run(at, timeout_s=120)
    assert not at.error, [e.value for e in at.error]
    live = at.session_state["probe_live"]
    assert [s["value"] for s in live.steps][:2] == [1, 2] and len(live.steps) >= 3  # progress per level
    cap = live.summary["capacity"]
    assert cap["value"] == K and cap["first_failing_value"] == K + 1 and cap["slo"]["ttft_s"] == 0.1
    assert f"Capacity: {K} users" in " ".join(s.value for s in at.success)
    titles = chart_titles(at)
    assert "Latency against load, with the SLO" in titles and "SLO attainment per level" in titles
    run_id = live.summary["run_id"]
    store = ProbeStore()
    try:
        stored = store.get_capacity(run_id)
    finally:
        store.close()
    assert stored is not None and stored["capacity"]["value"] == K
    again = page({"run": run_id})  # the permalink shows the search again, read-only
    assert not again.error and not again.text_input
    assert f"Capacity: {K} users" in " ".join(s.value for s in again.success)
    assert "SLO attainment per level" in chart_titles(again)


def test_search_without_a_target_is_a_notice() -> None:
    at = page({"p_search": "rate", "p_model": "m"})
    at.button(key="probe_run").click().run()
    assert not at.exception
    assert any("needs at least one SLO target" in e.value for e in at.error)
