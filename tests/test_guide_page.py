"""The guide page renders, ranks from the scenario, writes its inputs into the Scenario and shows the claims (AppTest)."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

from calculators.guide import TARGET_BY_ID, GuideRequest, rank
from model_specs import load_catalog

ROOT = Path(__file__).resolve().parents[1]
CAT = load_catalog()


def _run(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    at.switch_page("pages/guide.py")
    at.run()
    return at


def _cards(at: AppTest) -> list[str]:
    return [m.value for m in at.markdown if m.value.startswith("**#")]


def test_guide_page_renders_ranking_and_claims():
    at = _run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.title[0].value == "Decision guide"
    assert len(_cards(at)) == 3
    claims = [m.value for m in at.markdown if m.value.startswith(":material/")]
    assert any("does not hold" in c and "20 GB" in c for c in claims)
    assert any("holds only with" in c for c in claims)
    assert [e.label for e in at.expander if e.label == "Report"]


def test_link_inputs_drive_the_ranking():
    at = _run({"tgt": "gpu-24", "work": "reasoning", "ctx": "8192"})
    assert not at.exception
    t = TARGET_BY_ID["gpu-24"]
    best = rank(
        CAT, GuideRequest(hardware_ids=t.hardware_ids, engine=t.engine, context_tokens=8192, workload="reasoning")
    )[0]
    assert _cards(at)[0].startswith(f"**#1 {best.model_name} · {best.quant}** on {best.hardware_name}")


def test_changing_page_widgets_updates_the_scenario():
    at = _run()
    at.selectbox(key="guide_tgt").set_value("phone").run()
    assert not at.exception
    assert at.session_state["scenario"].tgt == "phone"
    assert all("phone" in c.lower() for c in _cards(at)), _cards(at)
    at.multiselect(key="guide_mods").set_value(["audio"]).run()
    at.toggle(key="guide_private").set_value(True).run()
    sc = at.session_state["scenario"]
    assert sc.mods == "audio" and sc.private is True
    # Audio on a phone: only models with an audio encoder remain (gemma4.yaml / gemma3n.yaml modalities).
    names = " ".join(_cards(at))
    assert "31B" not in names and "26B" not in names
    assert not [w for w in at.warning if "not accepted" in w.value]


def test_bad_link_values_fall_back_with_a_notice():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params["tgt"] = "moon"
    at.query_params["work"] = "<script>"
    at.run()  # the notice shows once, on the page the link opens
    notice = " ".join(w.value for w in at.warning)
    assert "tgt" in notice and "work" in notice
    at.switch_page("pages/guide.py")
    at.run()
    assert not at.exception
    sc = at.session_state["scenario"]
    assert sc.tgt is None and sc.work == "chat"
    assert len(_cards(at)) == 3


def test_print_view_hides_the_sidebar():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=90)
    at.query_params["print"] = "1"
    at.switch_page("pages/guide.py")
    at.run()
    assert not at.exception
    html = " ".join(h.proto.body for h in at.get("html"))
    assert 'data-testid="stSidebar"' in html and "display: none" in html
    assert at.session_state["report_print_view"] is True
