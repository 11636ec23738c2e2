"""Every page renders without an exception under AppTest, and the navigation lists each page once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import app_pages

ROOT = Path(__file__).resolve().parents[1]


def run_app(query: dict[str, str] | None = None, page: str | None = None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    for k, v in (query or {}).items():
        at.query_params[k] = v
    at.run()
    if page:
        at.switch_page(page)
        at.run()
    return at


@pytest.mark.parametrize("page", [p.file for p in app_pages.PAGES])
def test_page_renders_without_exception(page: str):
    at = run_app(page=page)
    assert not at.exception, [e.value for e in at.exception]
    assert at.title or at.header or at.subheader


def test_every_page_file_is_listed_once_and_in_readme():
    files = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))
    listed = [p.file for p in app_pages.PAGES]
    assert sorted(listed) == files and len(set(listed)) == len(listed)
    readme = (ROOT / "README.md").read_text()
    for p in app_pages.PAGES:
        path = "" if p.url_path == "home" else p.url_path  # the default page lives at /
        assert re.search(rf"\| {p.title} \| `/{path}` \|", readme), f"README does not list page {p.title}"


def test_bad_link_values_show_a_notice_and_defaults():
    at = run_app({"ctx": "-5", "model": "<script>x</script>"})
    assert not at.exception
    warning = " ".join(w.value for w in at.warning)
    assert "ctx='-5'" in warning and "no such model" in warning
    assert at.sidebar.selectbox(key="sb_model").value == "gemma-4-e4b"


def test_link_sets_the_sidebar():
    # The reverse direction (widget -> link) is covered in tests/browser: AppTest drops the sidebar of an
    # st.navigation app on reruns, so it cannot drive sidebar widgets after the first run.
    at = run_app({"model": "gemma-4-31b", "ctx": "32768", "hw": "h100-80gb-sxm"})
    assert at.sidebar.selectbox(key="sb_model").value == "gemma-4-31b"
    assert at.sidebar.number_input(key="sb_ctx").value == 32768
    assert at.sidebar.selectbox(key="sb_hw").value == "h100-80gb-sxm"
    assert not at.warning


def test_home_summarises_memory_speed_and_cost_of_the_linked_scenario():
    at = run_app({"model": "gemma-4-31b", "hw": "rtx-4090"})
    text = " ".join(m.value for m in at.markdown)
    assert "**Memory.**" in text and "fits" in text
    assert "**Speed.**" in text and "tokens/s" in text
    assert "**Cost.**" in text and "$" in text
