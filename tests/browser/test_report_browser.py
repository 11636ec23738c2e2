"""Reports in a real browser: the guide page's Markdown download carries the link's inputs and the calculators'
numbers, and `print=1` opens the print-friendly view without the sidebar."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import expect

from calculators import memory
from model_specs import load_catalog
from tests.browser.conftest import wait_rendered

pytestmark = pytest.mark.browser
GiB = 2**30


def test_markdown_report_downloads_with_the_link_inputs(app_url, new_page):
    page = new_page()
    page.goto(f"{app_url}/guide?model=gemma-4-31b&ctx=16384&tgt=gpu-24&work=reasoning")
    wait_rendered(page)
    page.get_by_text("Report", exact=True).click()
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name="Markdown report").click()
    md = Path(dl.value.path()).read_text()
    for row in ("| model | gemma-4-31b | model |", "| ctx | 16384 | ctx |", "| tgt | gpu-24 | tgt |"):
        assert row in md
    assert "/guide?" in md and "model=gemma-4-31b" in md  # the link that reopens the scenario
    cat = load_catalog()
    est = memory.estimate(
        memory.MemoryRequest(
            model=cat.model("gemma-4-31b"), quant="Q4_K_M", context_tokens=16384, hardware=cat.device("rtx-4090")
        )
    )
    assert f"Weights {est.weights_bytes / GiB:,.2f} GiB" in md
    assert "## Decision guide" in md and "## Sources" in md


def test_print_view_hides_the_sidebar(app_url, new_page):
    page = new_page()
    page.goto(f"{app_url}/guide?print=1")
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=60_000)
    expect(page.get_by_role("heading", name="Decision guide")).to_be_visible(timeout=60_000)
    expect(page.locator('[data-testid="stSidebar"]')).to_be_hidden()
