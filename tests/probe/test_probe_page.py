"""The probe page under AppTest: the form, a run against the test server, ?run=<id>, errors as st.error."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from probe.report import USE_MEASUREMENT_KEY
from probe.runner import ProbeSettings
from probe.store import ProbeStore, run_and_save
from tests.probe.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "pages" / "probe.py")

pytestmark = pytest.mark.timeout(120)


def page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def wait_for_run(at: AppTest, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not at.session_state["probe_live"].finished:
        assert time.monotonic() < deadline, "the run did not finish"
        time.sleep(0.05)
    at.run()
    assert not at.exception, [e.value for e in at.exception]


def test_form_renders() -> None:
    at = page()
    assert at.title[0].value == "Live latency probe"
    assert at.text_input(key="probe_url").value == "http://127.0.0.1:11434"
    assert at.selectbox(key="probe_backend").options == ["auto", "ollama", "openai"]
    assert "No stored runs yet." in [c.value for c in at.caption]


def test_connect_pick_model_run_and_store(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(models=["tiny", "other"], num_parallel=2)
    at = page()
    at.text_input(key="probe_url").set_value(srv.url)
    at.button(key="probe_connect").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="probe_model_pick").options == ["other", "tiny"]
    at.selectbox(key="probe_model_pick").set_value("tiny")
    at.multiselect(key="probe_levels").set_value([1, 2])
    at.number_input(key="probe_requests").set_value(2)
    at.number_input(key="probe_max_tokens").set_value(4)
    at.button(key="probe_run").click().run()
    wait_for_run(at)
    assert not at.error, [e.value for e in at.error]
    # Headline table: one row per level, every request ok, 2 x 4 tokens per level (server's eval_count).
    levels = at.dataframe[0].value
    assert list(levels["concurrency"]) == [1, 2]
    assert list(levels["ok / requests"]) == ["2 / 2", "2 / 2"] and list(levels["output tokens"]) == [8, 8]
    store = ProbeStore()
    runs = store.list_runs()
    store.close()
    assert len(runs) == 1 and runs[0]["status"] == "complete" and runs[0]["model"] == "tiny"
    # Forecast vs measured for the sidebar's hardware; the switch publishes the measured efficiency.
    assert "Forecast vs measured" in [h.value for h in at.subheader]
    fvm = next(d.value for d in at.dataframe if "measured / forecast" in d.value.columns)
    assert fvm["measured"].iloc[0] > 0 and fvm["forecast"].iloc[0] > 0
    at.toggle(key="probe_use_measurement_toggle").set_value(True).run()
    assert not at.exception
    published = at.session_state[USE_MEASUREMENT_KEY]
    assert published["decode_tokens_per_s"] == pytest.approx(fvm["measured"].iloc[0], rel=0.01)


def test_refused_endpoint_is_an_error_message_not_a_traceback() -> None:
    at = page()
    at.text_input(key="probe_url").set_value(f"http://127.0.0.1:{free_port()}")
    at.button(key="probe_connect").click().run()
    assert not at.exception
    assert "connection_refused" in at.error[0].value


def test_disallowed_host_is_refused() -> None:
    at = page()
    at.text_input(key="probe_url").set_value("http://10.1.2.3:11434")
    at.button(key="probe_connect").click().run()
    assert "not allowed" in at.error[0].value


def test_run_failure_shows_st_error(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(api_key="needed")
    at = page()
    at.text_input(key="probe_url").set_value(srv.url)
    at.selectbox(key="probe_backend").set_value("ollama")
    at.text_input(key="probe_model_name").set_value("tiny")
    at.multiselect(key="probe_levels").set_value([1])
    at.button(key="probe_run").click().run()
    wait_for_run(at)
    assert any("http_401" in e.value or "failed" in e.value for e in at.error)


def test_stored_run_opens_read_only(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=2)
    store = ProbeStore()
    settings = ProbeSettings(concurrency=[1, 2], requests_per_level=2, max_tokens=3, prompt_tokens=8)
    report = run_and_save(store, srv.url, "tiny", "ollama", settings=settings)
    store.close()
    at = page({"run": report.run_id})
    assert not at.error
    assert not at.text_input  # read-only: no form
    assert list(at.dataframe[0].value["concurrency"]) == [1, 2]
    assert any(report.run_id in m.value for m in at.markdown)


def test_unknown_run_id_is_an_error() -> None:
    at = page({"run": "doesnotexist"})
    assert "No stored run" in at.error[0].value


def test_api_key_from_environment(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(api_key="sk-env-key")
    monkeypatch.setenv("PROBE_API_KEY", "sk-env-key")
    at = page()
    at.text_input(key="probe_url").set_value(srv.url)
    at.button(key="probe_connect").click().run()
    assert not at.error and at.selectbox(key="probe_model_pick").options == ["tiny"]
    assert "sk-env-key" not in str(at.query_params) and "sk-env-key" not in " ".join(m.value for m in at.markdown)
