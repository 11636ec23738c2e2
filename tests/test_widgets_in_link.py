"""Every widget of every page is in the link: set it to another value, and a fresh session opened with the
resulting query string shows that value again, with the same figures (AppTest walks each page's widget tree).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from streamlit.proto.WidgetStates_pb2 import WidgetState
from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import (
    Button,
    Checkbox,
    DownloadButton,
    FileUploader,
    Metric,
    Multiselect,
    NumberInput,
    Radio,
    Selectbox,
    Slider,
    TextInput,
    Toggle,
    Widget,
)

import app_pages
from ui.report_widgets import PRINT_KEY
from ui.scenario import scenario_to_query
from ui.state import SCENARIO_KEY

ROOT = Path(__file__).resolve().parents[1]
# Widgets that hold no value a link could carry: actions, and an uploaded file (see README, "Links").
NOT_INPUTS = (Button, DownloadButton, FileUploader)
# The print view is a way of looking at a page, not an input; `print=1` opens it (test_print_link_opens_print_view).
# The probe's API key is a secret: it never goes into a link (README, "Configuration"; test_probe_page checks it).
NOT_IN_SCENARIO = {PRINT_KEY, "probe_api_key"}
# Extra starting links that reveal widgets shown only for some inputs (e.g. the typed measurement on Costs).
REVEALING_LINKS = {
    "costs": [{"tput": "typed", "api_model": "gemma-4-31b"}, {"tput": "probe"}],
    "guide": [{"tgt": "gpu-24"}],
    "speed": [{"hw": "core-i5-13600k"}],  # a CPU with a `cpu` block: the threads input
    "probe": [{"p_search": "concurrency"}],  # capacity mode: the search maximum
}


def _open(page: str, query: dict[str, Any]) -> AppTest:
    """A fresh session opened with `query`, on `page`."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    for k, v in query.items():
        at.query_params[k] = v
    at.run()
    if page != "home":
        at.switch_page(f"pages/{page}.py")
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _nodes(node: Any) -> list[Any]:
    """Every element under `node`, depth first."""
    out = []
    for child in getattr(node, "children", {}).values():
        out.append(child)
        out += _nodes(child)
    return out


def _inputs(at: AppTest) -> dict[str, Widget]:
    """The page's input widgets by key (sidebar included while AppTest shows it)."""
    return {
        w.key: w
        for w in _nodes(at._tree)
        if isinstance(w, Widget)
        and not isinstance(w, NOT_INPUTS)
        and w.key
        and w.key not in NOT_IN_SCENARIO
        and not w.proto.disabled
    }


def _figures(at: AppTest) -> list[tuple[str, str]]:
    """Every metric the page shows."""
    return [(m.label, m.value) for m in _nodes(at._tree) if isinstance(m, Metric)]


def _pick(w: Widget, state: WidgetState) -> None:
    """Make `w` report `state` to the next run, as the browser would (by the option's label)."""
    cls = type(w)
    w.__class__ = type(cls.__name__, (cls,), {"_widget_state": property(lambda self: state)})


def _change(w: Widget) -> bool:
    """Set `w` to a value other than its current one; False when it has no other value."""
    if isinstance(w, (Toggle, Checkbox)):
        w.set_value(not w.value)
    elif isinstance(w, (Selectbox, Radio)):
        if len(w.options) < 2:
            return False
        ws = WidgetState(id=w.id)
        ws.string_value = w.options[(w.index or 0) + 1 if (w.index or 0) + 1 < len(w.options) else 0]
        _pick(w, ws)
    elif isinstance(w, Multiselect):
        values = list(w.values)
        ws = WidgetState(id=w.id)
        ws.string_array_value.data[:] = values[1:] if len(values) > 1 else [o for o in w.options if o not in values][:1]
        if list(ws.string_array_value.data) == values:
            return False
        _pick(w, ws)
    elif isinstance(w, (NumberInput, Slider)):
        v, step = w.value, w.step or 1
        lo, hi = w.min, w.max
        new = (lo if lo is not None else 0) + step if v is None else v + step
        if hi is not None and new > hi:
            new = v - step
        if isinstance(v, int) or (v is None and float(step).is_integer() and isinstance(lo, int)):
            new = int(new)
        w.set_value(new)
    elif isinstance(w, TextInput):
        w.input("walker-check" if w.value != "walker-check" else "walker-check-2")
    else:
        raise AssertionError(f"walker does not know how to change a {type(w).__name__} ({w.key})")
    return True


def _walk(page: str) -> list[str]:
    """Problems found on `page`: widgets whose value a link does not reproduce."""
    logging.disable(logging.WARNING)
    problems: list[str] = []
    seen: set[str] = set()
    for base in [{}, *REVEALING_LINKS.get(page, [])]:
        keys = [k for k in _inputs(_open(page, base)) if k not in seen]
        for key in keys:
            seen.add(key)
            at = _open(page, base)
            w = _inputs(at).get(key)
            if w is None or not _change(w):
                continue
            at.run()
            if at.exception:
                problems.append(f"{key}: changing it raised {at.exception[0].value}")
                continue
            # What sync_url writes to the address bar (AppTest runs a page file on its own, without app.py).
            query = scenario_to_query(at.session_state[SCENARIO_KEY])
            want = {k: v.value for k, v in _inputs(at).items()}
            fresh = _open(page, query)
            got = {k: v.value for k, v in _inputs(fresh).items()}
            diff = {k: (want[k], got.get(k, "<absent>")) for k in want if got.get(k, "<absent>") != want[k]}
            if diff:
                problems.append(f"{key}: a link ?{query} reopens {diff} (set vs reopened)")
            elif _figures(fresh) != _figures(at):
                problems.append(f"{key}: a link ?{query} reopens other figures")
    return problems


PAGES = [p.url_path for p in app_pages.PAGES]


@pytest.mark.parametrize(
    "page",
    PAGES,
)
def test_every_widget_is_in_the_link(page, tmp_path, monkeypatch):
    # A stored probe run enables the widgets that use one (Speed's "use my measurement", Costs' probe-run picker).
    from probe.store import ProbeStore

    url = f"sqlite:///{tmp_path / 'probe.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    store = ProbeStore(url)
    for conc in (1, 4):
        run_id = store.start_run("http://127.0.0.1:8080", "openai", "gemma-4-e4b", {"concurrency": [conc]})
        level = {"concurrency": conc, "ok": True, "tpot_s": {"p50": 0.01}, "ttft_s": {"p50": 0.05}}
        store.finish_run(run_id, {"runs": [{**level, "output_tokens_per_s": 90.0 * conc}]}, "done")
    # A stored capacity search enables Costs' capacity-run picker (cap_run) and Speed's measured capacity.
    run_id = store.start_run("http://127.0.0.1:8080", "openai", "gemma-4-e4b", {"search": "concurrency"})
    slo = {"ttft_s": 0.5, "tpot_s": None, "e2e_s": None, "attainment": 0.95}
    store.start_capacity(run_id, "concurrency", 64, slo)
    cap = {"search": "concurrency", "value": 4, "at_least": False, "goodput_requests_per_s": 0.6}
    store.finish_capacity(run_id, {**cap, "goodput_output_tokens_per_s": 120.0, "slo": slo})
    store.finish_run(run_id, {"runs": []}, "complete")
    store.close()
    problems = _walk(page)
    assert not problems, "\n".join(problems)


def test_print_link_opens_print_view():
    at = _open("guide", {"print": "1"})
    assert at.toggle(key=PRINT_KEY).value is True


def test_the_probe_api_key_never_reaches_the_link():
    at = _open("probe", {})
    at.text_input(key="probe_api_key").input("sk-walker-secret").run()
    assert not at.exception
    assert "sk-walker-secret" not in repr(dict(at.query_params))
    assert "sk-walker-secret" not in repr(scenario_to_query(at.session_state[SCENARIO_KEY]))
