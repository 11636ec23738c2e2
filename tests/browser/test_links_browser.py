"""Links in a real browser: pages render, the sidebar writes the link, a link reopens the same inputs."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from app_pages import PAGES
from tests.browser.conftest import screenshot, wait_rendered

pytestmark = pytest.mark.browser
# Home last: the server's first request must be a deep link, the case where Streamlit would otherwise run a
# pages/ file on its own, without app.py's sidebar (see ui.state._leave_legacy_page_mode).
EXISTING = sorted((p for p in PAGES), key=lambda p: p.url_path == "home")


@pytest.mark.parametrize("page_info", EXISTING, ids=[p.url_path for p in EXISTING])
def test_page_renders_in_chromium(app_url, new_page, page_info):
    page = new_page()
    path = "" if page_info.url_path == "home" else page_info.url_path
    page.goto(f"{app_url}/{path}?model=gemma-4-26b-a4b&hw=rtx-4090")
    wait_rendered(page)
    expect(page.locator('[data-testid="stSidebar"]')).to_contain_text("Scenario")
    expect(page.locator('[data-testid="stSidebarNav"]')).to_contain_text("Variants")
    assert page.locator('[data-testid="stException"]').count() == 0
    if page_info.url_path in ("memory", "speed", "costs", "guide"):
        expect(page.locator('[data-testid="stExpander"] summary').get_by_text("Report", exact=True)).to_have_count(1)
    screenshot(page, f"page-{page_info.url_path}")


def _sidebar_values(page) -> list[str]:
    """Every sidebar input's shown value (number fields and select boxes)."""
    fields = page.locator('[data-testid="stSidebar"] input')
    return [
        fields.nth(i).input_value() or fields.nth(i).get_attribute("aria-label") or "" for i in range(fields.count())
    ]


def test_sidebar_change_lands_in_link_and_link_reproduces_it(app_url, new_page):
    page = new_page()
    page.goto(f"{app_url}/memory?model=gemma-4-31b&hw=rtx-4090")
    wait_rendered(page)
    box = page.locator('[data-testid="stSidebar"] [data-testid="stNumberInputField"]').first
    box.fill("65536")
    box.press("Enter")
    page.wait_for_function("() => location.search.includes('ctx=65536')", timeout=30_000)
    wait_rendered(page)
    expect(page.locator('[data-testid="stMetricValue"]').first).to_be_visible()
    numbers = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    inputs = _sidebar_values(page)

    fresh = new_page()  # a new browser context: nothing shared but the link
    fresh.goto(page.url)
    wait_rendered(fresh)
    expect(fresh.locator('[data-testid="stSidebar"] [data-testid="stNumberInputField"]').first).to_have_value("65536")
    expect(fresh.locator('[data-testid="stMetricValue"]')).to_have_text(numbers)
    assert _sidebar_values(fresh) == inputs
    assert "65536" in inputs and len(numbers) >= 4


def test_bad_values_show_a_notice(app_url, new_page):
    page = new_page()
    page.goto(f"{app_url}/variants?ctx=abc&model=deleted-model")
    wait_rendered(page)
    alert = page.locator('[data-testid="stAlert"]').first
    expect(alert).to_contain_text("ctx='abc'")
    expect(alert).to_contain_text("no such model")
    screenshot(page, "bad-link-notice")


def _figures(page) -> list[str]:
    """Every metric's value and delta (the fit margin is a delta)."""
    return page.locator('[data-testid="stMetricValue"], [data-testid="stMetricDelta"]').all_inner_texts()


def test_page_input_lands_in_link_and_link_reproduces_the_figures(app_url, new_page):
    # Issue 10: on Memory, "MoE experts on the host" changed the figures but not the address bar.
    page = new_page()
    page.goto(f"{app_url}/memory?model=gemma-4-26b-a4b&hw=rtx-4090")
    wait_rendered(page)
    before = _figures(page)
    page.get_by_text("MoE experts on the host").click()
    page.wait_for_function("() => location.search.includes('moe_host=1')", timeout=30_000)
    wait_rendered(page)
    numbers = _figures(page)
    assert numbers != before  # the experts left the GPU: the margin grew

    fresh = new_page()
    fresh.goto(page.url)
    wait_rendered(fresh)
    expect(fresh.locator('[data-testid="stMetricValue"], [data-testid="stMetricDelta"]')).to_have_text(numbers)
    screenshot(fresh, "memory-moe-on-host")


def test_no_deploy_button_for_the_people_a_link_is_shared_with(app_url, new_page):
    page = new_page()
    page.goto(f"{app_url}/memory")
    wait_rendered(page)
    assert page.locator('[data-testid="stAppDeployButton"]').count() == 0
    assert page.get_by_role("button", name="Deploy").count() == 0
