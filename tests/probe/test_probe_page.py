"""The probe page under AppTest: the form, a run against the test server, ?run=<id>, errors as st.error."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from probe.record import run_and_save
from probe.report import USE_MEASUREMENT_KEY
from probe.runner import ProbeSettings
from probe.store import ProbeStore
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


def chart_titles(at: AppTest) -> list[str]:
    return [json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")]


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
    assert at.text_input(key="probe_p_url").value == "http://127.0.0.1:11434"
    assert at.selectbox(key="probe_p_backend").options == ["auto", "ollama", "openai"]
    assert "No stored runs yet." in [c.value for c in at.caption]


def test_connect_pick_model_run_and_store(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(models=["tiny", "other"], num_parallel=2)
    at = page()
    at.text_input(key="probe_p_url").set_value(srv.url)
    at.button(key="probe_connect").click().run()
    assert not at.error, [e.value for e in at.error]
    assert at.selectbox(key="probe_pick_p_model").options == ["other", "tiny"]
    at.selectbox(key="probe_pick_p_model").set_value("tiny")
    at.text_input(key="probe_p_conc").set_value("1,2")
    at.number_input(key="probe_p_req").set_value(2)
    at.number_input(key="probe_p_otok").set_value(4)
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
    # The fake server's ~190 tokens/s is several times what the default spec model can reach on the sidebar's
    # hardware: no efficiency is published, and the message gives the model's ceiling.
    assert fvm["measured / forecast"].iloc[0] > 3
    assert any("faster than this model allows" in e.value for e in at.error)
    assert USE_MEASUREMENT_KEY not in at.session_state
    at.selectbox(key="probe_p_fc_model").set_value("gemma-3-270m").run()  # a model that small decodes that fast
    assert not at.exception and not at.error, [e.value for e in at.error]
    published = at.session_state[USE_MEASUREMENT_KEY]
    assert published["decode_tokens_per_s"] == pytest.approx(fvm["measured"].iloc[0], rel=0.01)


def test_refused_endpoint_is_an_error_message_not_a_traceback() -> None:
    at = page()
    at.text_input(key="probe_p_url").set_value(f"http://127.0.0.1:{free_port()}")
    at.button(key="probe_connect").click().run()
    assert not at.exception
    assert "connection_refused" in at.error[0].value


def test_disallowed_host_is_refused() -> None:
    at = page()
    at.text_input(key="probe_p_url").set_value("http://10.1.2.3:11434")
    at.button(key="probe_connect").click().run()
    assert "not allowed" in at.error[0].value


def test_run_failure_shows_st_error(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(api_key="needed")
    at = page()
    at.text_input(key="probe_p_url").set_value(srv.url)
    at.selectbox(key="probe_p_backend").set_value("ollama")
    at.text_input(key="probe_p_model").set_value("tiny")
    at.text_input(key="probe_p_conc").set_value("1")
    at.button(key="probe_run").click().run()
    wait_for_run(at)
    assert at.error and "failed" in at.error[0].value
    # The warm-up's 401 stops the run; the error table names the kind and the likely cause, never the key.
    errors = at.dataframe[0].value
    assert list(errors["kind"]) == ["http_401"] and "missing or wrong API key" in errors["message"].iloc[0]


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
    # The Ollama server reports load and prefill durations, so the TTFT split is drawn too.
    assert chart_titles(at) == [
        "Latency vs concurrency",
        "Throughput vs concurrency",
        "Mean TTFT split (Ollama's own durations)",
    ]


def test_history_compares_two_stored_runs(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=2)
    store = ProbeStore()
    settings = ProbeSettings(concurrency=[1, 2], requests_per_level=2, max_tokens=3, prompt_tokens=8)
    ids = [run_and_save(store, srv.url, "tiny", "ollama", settings=settings).run_id for _ in range(2)]
    store.close()
    at = page()
    at.multiselect(key="probe_compare").set_value(ids).run()
    assert not at.exception and not at.error
    assert chart_titles(at) == ["Aggregate output tokens/s"]
    cmp = next(d.value for d in at.dataframe if "run_id" in d.value.columns)
    assert sorted(cmp["run_id"]) == sorted(ids * 2) and list(cmp["concurrency"]) == [1, 2, 1, 2]


def test_run_killed_mid_way_opens_from_its_samples() -> None:
    # A run whose process died keeps status 'running' and no summary; the page rebuilds it from the samples.
    from probe.results import RequestResult

    store = ProbeStore()
    run_id = store.start_run("http://127.0.0.1:11434", "ollama", "tiny", {"prompt_tokens": 16, "max_tokens": 6})
    for i in range(3):
        r = RequestResult(ok=True, ttft_s=0.05, itl_s=[0.01] * 5, e2e_s=0.1, output_tokens=6, index=i)
        store.add_sample(run_id, r)
    store.close()
    at = page({"run": run_id})
    assert "never finished" in at.warning[0].value
    levels = at.dataframe[0].value
    assert list(levels["ok / requests"]) == ["3 / 3"] and list(levels["output tokens"]) == [18]


def test_unknown_run_id_is_an_error() -> None:
    at = page({"run": "doesnotexist"})
    assert "No stored run" in at.error[0].value


def test_api_key_from_environment(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(api_key="sk-env-key")
    monkeypatch.setenv("PROBE_API_KEY", "sk-env-key")
    at = page()
    at.text_input(key="probe_p_url").set_value(srv.url)
    at.button(key="probe_connect").click().run()
    assert not at.error and at.selectbox(key="probe_pick_p_model").options == ["tiny"]
    assert "sk-env-key" not in str(at.query_params) and "sk-env-key" not in " ".join(m.value for m in at.markdown)


def test_live_progress_and_cancel(fake_server) -> None:  # type: ignore[no-untyped-def]
    from tests.probe.servers import ScheduledSource

    # 200 tokens at 50 ms each: a request takes 10 s, so the run is still going when the page draws it.
    srv = fake_server(source=ScheduledSource(first_delay_s=0.01, gap_s=0.05), num_parallel=2)
    at = page()
    at.text_input(key="probe_p_url").set_value(srv.url)
    at.selectbox(key="probe_p_backend").set_value("ollama")
    at.text_input(key="probe_p_model").set_value("tiny")
    at.text_input(key="probe_p_conc").set_value("2")
    at.number_input(key="probe_p_req").set_value(2)
    at.number_input(key="probe_p_otok").set_value(200)
    at.number_input(key="probe_p_warm").set_value(0)
    at.button(key="probe_run").click().run()
    assert not at.exception and not at.session_state["probe_live"].finished
    assert "of 2 requests" in at.get("progress")[0].proto.text
    deadline = time.monotonic() + 5
    while len([b for b in srv.requests_seen if "messages" in b]) < 2:  # a cancel before sending records nothing
        assert time.monotonic() < deadline, "the run sent no requests"
        time.sleep(0.02)
    at.button(key="probe_cancel").click().run()
    wait_for_run(at, timeout_s=5)
    assert "cancelled" in at.markdown[0].value
    errors = next(d.value for d in at.dataframe if "kind" in d.value.columns)
    # One row per (kind, message): a request cancelled before its first byte reads "stopped before an answer",
    # one cancelled mid-stream "stopped mid-stream"; on a loaded machine either can happen to either request.
    assert set(errors["kind"]) == {"cancelled"} and errors["count"].sum() == 2


@pytest.mark.parametrize("database_url", ["nosuchdb://x", "sqlite:////proc/no-such-dir/probe.sqlite"])
def test_broken_store_is_an_error_message(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)  # an unknown dialect; a folder that cannot be created
    at = page()
    assert at.text_input(key="probe_p_url").value  # the form still works without a store
    assert "Could not read the result store" in at.error[0].value
    at = page({"run": "abc"})
    assert "Could not read the result store" in at.error[0].value


def test_open_loop_from_a_link_runs_and_every_form_widget_is_in_the_link(fake_server) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=4)
    query = {"p_url": srv.url, "p_backend": "openai", "p_model": "tiny", "p_loop": "open", "p_rate": "20",
             "p_arrival": "constant", "p_req": "6", "p_otok": "2", "p_warm": "0", "p_save": "0"}  # fmt: skip
    at = page(query)
    assert at.text_input(key="probe_p_rate").value == "20" and at.selectbox(key="probe_p_arrival").value == "constant"
    # Every widget of the form is bound to a Scenario field (its key names it), except the API key and buttons.
    keys = [w.key for w in [*at.text_input, *at.number_input, *at.selectbox, *at.radio, *at.toggle]]
    unbound = [k for k in keys if not k.startswith(("probe_p_", "probe_pick_p_")) and k != "probe_api_key"]
    assert not unbound, unbound
    at.button(key="probe_run").click().run()
    wait_for_run(at)
    assert not at.error, [e.value for e in at.error]
    levels = at.dataframe[0].value
    assert list(levels["rate (req/s)"]) == [20.0] and list(levels["ok / requests"]) == ["6 / 6"]
    assert "Latency vs request rate" in chart_titles(at)


def test_bad_rate_in_a_link_is_a_notice_not_a_run() -> None:
    at = page({"p_loop": "open", "p_rate": "0", "p_model": "tiny"})
    at.button(key="probe_run").click().run()
    assert not at.exception and any("rate 0" in e.value for e in at.error)
    assert "probe_live" not in at.session_state
