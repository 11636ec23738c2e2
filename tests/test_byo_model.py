"""Memory page, "Bring your own model": GGUF path, upload, bad input as a notice (AppTest), and its view-model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from bench.gguf_reference import spec
from model_specs import load_catalog
from model_specs.gguf_header import read_local
from model_specs.hf_hub import open_location
from tests.gguf_files import model_metadata, recipe, write_gguf
from tests.test_hf_hub import env, hub  # noqa: F401 - the stand-in Hub fixtures
from ui.report import build_report
from ui.scenario import Scenario, scenario_from_query, scenario_to_query
from ui.state import NOTICES_KEY, SCENARIO_KEY
from ui.views.byo import from_gguf, from_upload
from ui.views.memory import build_memory_view
from ui.widgets import gib

ROOT = Path(__file__).resolve().parents[1]
TINY = spec("byo-llama", "llama", layers=4, hidden=256, ff=512, vocab=1000, heads=4, kv=2, ctx=4096)
CUSTOM = {"blk.0.ffn_down.weight": "Q8_0", "blk.3.attn_q.weight": "IQ4_XS"}


@pytest.fixture(scope="module")
def gguf_path(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("byo") / "byo-llama-Q4_K_M.gguf"
    write_gguf(p, "llama", model_metadata(TINY, "llama"), recipe(TINY, "Q4_K_M", CUSTOM), ftype="Q4_K_M")
    return p


def test_view_model_table_and_exact_weights(gguf_path):
    f = read_local(gguf_path)
    byo = from_gguf(f, "llama.cpp")
    assert byo.weights.total_bytes == f.tensor_bytes
    t = byo.table
    assert len(t) == len(f.tensors) and t["bytes"].sum() == f.tensor_bytes
    assert set(t["tensor"][: len(CUSTOM)]) == set(CUSTOM)  # the differing tensors come first
    assert t["differs"].sum() == len(CUSTOM)
    assert any("2 of" in n and "Q4_K_M recipe" in n for n in byo.notes)
    # the same bytes from an upload of the file
    up = from_upload(gguf_path.read_bytes(), gguf_path.name, "llama.cpp")
    assert up.weights.total_bytes == f.tensor_bytes and up.model.text == byo.model.text
    with pytest.raises(ValueError, match="llama.cpp or ollama"):
        from_gguf(f, "vllm")


def _page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.query_params["model"] = "gemma-4-e4b"
    at.run()
    at.switch_page("pages/memory.py")
    at.run()
    return at


def test_page_sizes_a_gguf_path_exactly(gguf_path, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(gguf_path.parent))  # the page reads paths under MODEL_DIR only
    at = _page()
    at.text_input(key="byo_gguf").set_value(str(gguf_path)).run()
    assert not at.exception, [e.value for e in at.exception]
    weights = next(m for m in at.metric if m.label == "Weights")
    assert weights.value == gib(read_local(gguf_path).tensor_bytes)
    assert any("byo-llama" in s.value for s in at.success)
    assert len(at.dataframe) >= 1


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"definitely not a model", "not a GGUF file"), (b"GGUF\x03\x00\x00\x00", "truncated GGUF header")],
)
def test_page_bad_file_is_a_notice(tmp_path, content, reason, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(tmp_path))
    p = tmp_path / "bad.gguf"
    p.write_bytes(content)
    at = _page()
    at.text_input(key="byo_gguf").set_value(str(p)).run()
    assert not at.exception, [e.value for e in at.exception]
    assert any(reason in w.value for w in at.warning)
    assert any(m.label == "Weights" for m in at.metric)  # the page still sizes the sidebar's model


def test_page_unreachable_hub_is_a_notice(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # discard port: nothing answers
    monkeypatch.setenv("MODEL_FETCH_ALLOWED_HOSTS", "127.0.0.1")  # the page reaches loopback only when listed
    at = _page()
    at.text_input(key="byo_hub").set_value("org/none").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("cannot reach the Hugging Face Hub" in w.value for w in at.warning)


def test_page_refuses_server_paths_and_internal_hosts_with_a_notice(gguf_path, monkeypatch):
    # a shared deployment: the server reads nothing local without MODEL_DIR and no internal host by default
    for var in ("MODEL_DIR", "MODEL_FETCH_ALLOWED_HOSTS", "HF_ENDPOINT"):
        monkeypatch.delenv(var, raising=False)
    at = _page()
    assert any("set MODEL_DIR" in c.value for c in at.caption)  # says how to enable paths before anyone tries
    cases = [
        (str(gguf_path), "local paths are off on this server: set MODEL_DIR"),
        ("http://169.254.169.254/latest/meta-data/x.gguf", "refused; list it in MODEL_FETCH_ALLOWED_HOSTS"),
        ("http://10.0.0.5:8080/x.gguf", "refused; list it in MODEL_FETCH_ALLOWED_HOSTS"),
        ("https://example.com/x.gguf", "unless MODEL_FETCH_ALLOWED_HOSTS lists the host"),
    ]
    for loc, notice in cases:
        at.text_input(key="byo_gguf").set_value(loc).run()
        assert not at.exception, [e.value for e in at.exception]
        warnings = [w.value for w in at.warning]
        assert any(notice in w and "\n" not in w for w in warnings), (loc, warnings)
        assert any(m.label == "Weights" for m in at.metric)  # the page still sizes the sidebar's model
    monkeypatch.setenv("MODEL_DIR", str(gguf_path.parent / "elsewhere"))
    at.text_input(key="byo_gguf").set_value(f"{gguf_path.parent}/elsewhere/../{gguf_path.name}").run()
    assert any("outside MODEL_DIR" in w.value for w in at.warning)


def test_page_refuses_a_loopback_hub_until_listed(monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.delenv("MODEL_FETCH_ALLOWED_HOSTS", raising=False)
    at = _page()
    at.text_input(key="byo_hub").set_value("org/none").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("MODEL_FETCH_ALLOWED_HOSTS" in w.value for w in at.warning)


# ------------------------------------------------------------------ links: every BYO location is in the Scenario
def _open_link(query: dict[str, str]) -> AppTest:
    """A fresh session opened on the Memory page with `query`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/memory.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metrics(at: AppTest) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


def test_a_link_with_a_gguf_location_reproduces_the_figures(gguf_path, monkeypatch):
    monkeypatch.setenv("MODEL_DIR", str(gguf_path.parent))
    at = _page()
    at.text_input(key="byo_gguf").set_value(str(gguf_path)).run()
    query = scenario_to_query(at.session_state[SCENARIO_KEY])
    assert query["gguf"] == str(gguf_path)
    fresh = _open_link(query)
    assert fresh.text_input(key="byo_gguf").value == str(gguf_path)
    assert _metrics(fresh) == _metrics(at)
    assert ("Weights", gib(read_local(gguf_path).tensor_bytes)) in _metrics(fresh)
    # the report (and Home, which renders it) sizes the same file
    rep = build_report(at.session_state[SCENARIO_KEY], load_catalog(), ("memory", "speed"))
    mem = next(s for s in rep.sections if s.key == "memory")
    assert mem.data["weights_bytes"] == read_local(gguf_path).tensor_bytes
    assert "Sized from the scenario's own model: byo-llama" in mem.lines[0]
    speed = next(s for s in rep.sections if s.key == "speed")  # the speed section forecasts the same file
    assert speed.lines[1].startswith(f"Forecast for {gguf_path}, the model brought on the Memory page: byo-llama")
    assert speed.data["model_id"] == mem.data["model"] != "gemma-4-e4b"
    # the fetch guard still applies when the link is opened: without MODEL_DIR the sidebar's model is sized
    monkeypatch.delenv("MODEL_DIR")
    refused = _open_link(query)
    assert any("cannot be sized" in w.value and "set MODEL_DIR" in w.value for w in refused.warning)
    assert ("Weights", gib(read_local(gguf_path).tensor_bytes)) not in _metrics(refused)


def test_view_sizes_the_scenarios_gguf_and_reports_a_refusal(gguf_path, monkeypatch):
    f = read_local(gguf_path)
    monkeypatch.setenv("MODEL_DIR", str(gguf_path.parent))
    v = build_memory_view(Scenario(gguf=str(gguf_path)), load_catalog())
    assert v.byo.error is None and v.model.id == v.byo.byo.model.id
    assert v.estimate.weights_bytes == f.tensor_bytes
    monkeypatch.delenv("MODEL_DIR")
    v = build_memory_view(Scenario(gguf=str(gguf_path), mmproj=str(gguf_path)), load_catalog())
    assert v.byo.byo is None and "MODEL_DIR" in v.byo.error and v.model.id == "gemma-4-e4b"
    v = build_memory_view(Scenario(mmproj=str(gguf_path)), load_catalog())
    assert v.byo.error == "an mmproj file goes with a GGUF file"


def test_a_link_value_is_never_cut_short():
    long_url = "https://example.com/" + "a" * 2100 + ".gguf"
    s, notices = scenario_from_query({"gguf": long_url}, load_catalog())
    assert s.gguf is None and len(notices) == 1 and "longer than 2000 characters" in notices[0]
    url = "https://example.com/" + "a" * 1500 + ".gguf"
    assert scenario_from_query({"gguf": url}, load_catalog())[0].gguf == url


@pytest.mark.usefixtures("env")
def test_a_link_with_a_hub_gguf_file_reproduces_the_figures(monkeypatch):
    monkeypatch.setenv("MODEL_FETCH_ALLOWED_HOSTS", "127.0.0.1")  # the stand-in Hub is on loopback
    at = _page()
    at.text_input(key="byo_hub").set_value("org/tiny").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("org/tiny: config.json" in s.value for s in at.success)
    pick = at.selectbox(key="byo_hf_file")
    assert pick.options == ["(none)", "tiny-F16-00001-of-00002.gguf", "tiny-Q8_0.gguf"]
    pick.set_value("tiny-Q8_0.gguf").run()
    query = scenario_to_query(at.session_state[SCENARIO_KEY])
    assert (query["hf"], query["hf_file"]) == ("org/tiny", "tiny-Q8_0.gguf")
    tensor_bytes = open_location("hf://org/tiny/tiny-Q8_0.gguf").tensor_bytes
    assert ("Weights", gib(tensor_bytes)) in _metrics(at)
    fresh = _open_link(query)
    assert fresh.selectbox(key="byo_hf_file").value == "tiny-Q8_0.gguf"
    assert _metrics(fresh) == _metrics(at)
    # another repo: the file picked in the first one no longer applies
    fresh.text_input(key="byo_hub").set_value("org/sharded").run()
    assert fresh.session_state[SCENARIO_KEY].hf_file is None
    # a link naming a file the repo does not have: one notice, the sidebar's model
    odd = _open_link({"hf": "org/tiny", "hf_file": "other.gguf"})
    assert any("other.gguf is not one of org/tiny's GGUF files" in w.value for w in odd.warning)


def test_a_url_with_a_password_never_reaches_the_link():
    at = _page()
    at.text_input(key="byo_gguf").set_value("https://me:s3cret@example.com/x.gguf").run()
    assert not at.exception, [e.value for e in at.exception]
    assert "gguf" not in scenario_to_query(at.session_state[SCENARIO_KEY])
    assert at.text_input(key="byo_gguf").value == ""
    # the notice app.py shows on the next run (AppTest runs the page file on its own, so read it from the session)
    assert at.session_state[NOTICES_KEY] == [
        "GGUF file: value not accepted (Value error, a URL with a password in it cannot go into a link)"
    ]
    s, notices = scenario_from_query({"gguf": "https://me:s3cret@example.com/x.gguf"}, load_catalog())
    assert s.gguf is None and len(notices) == 1
