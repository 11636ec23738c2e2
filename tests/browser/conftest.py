"""Real-browser fixtures: the dashboard in a subprocess on a free port, driven by Debian's Chromium via Playwright."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Start `streamlit run app.py` on a free port with its own database; stop it afterwards."""
    port, data = _free_port(), tmp_path_factory.mktemp("appdata")
    log = data / "streamlit.log"
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{data}/probe.sqlite", "PROBE_ALLOWED_HOSTS": "127.0.0.1,localhost"}
    with log.open("w") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "app.py",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--server.headless",
                "true",
                "--browser.gatherUsageStats",
                "false",
            ],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
    try:
        while True:
            try:
                if requests.get(f"{url}/_stcore/health", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start (exit {proc.poll()}):\n{log.read_text()[-4000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# Module scope, not session: Playwright's sync API keeps an asyncio loop running in this thread until it exits, and
# later modules (the probe's asyncio client) need the thread without one.
@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium (no Playwright browser download: the machine cannot fetch one)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} missing: .ci/run must install Debian's chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def new_page(browser):
    """Factory of pages in fresh browser contexts; fails the test on any console error."""
    contexts, errors = [], []

    def make():
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
        contexts.append(ctx)
        page = ctx.new_page()
        page.on(
            "console", lambda m: errors.append(f"{m.text} ({m.location.get('url')})") if m.type == "error" else None
        )
        page.on("pageerror", lambda e: errors.append(str(e)))
        return page

    yield make
    for c in contexts:
        c.close()
    # Opened on a page path (/memory), Streamlit's frontend first probes /memory/_stcore/health to find its base
    # path and gets a 404 before falling back to /: that probe is Streamlit's, not an error of the app.
    real = [e for e in errors if not ("404" in e and "/_stcore/" in e)]
    assert not real, f"browser console errors: {real}"


def wait_rendered(page, timeout_ms: int = 60_000) -> None:
    """Wait until Streamlit has run the script to the end (the app root says so) and has drawn the page."""
    page.wait_for_selector('[data-testid="stApp"][data-test-script-state="notRunning"]', timeout=timeout_ms)
    page.wait_for_selector('[data-testid="stSidebar"] [data-testid="stSidebarUserContent"]', timeout=timeout_ms)
    # Widgets and charts load their code lazily and show skeletons meanwhile.
    page.wait_for_function(
        '() => !document.querySelector(\'[data-testid="stSkeleton"], [data-testid="stSkeletonElement"]\')',
        timeout=timeout_ms,
    )
    page.wait_for_timeout(500)  # let charts finish their first layout before a screenshot


def screenshot(page, name: str) -> None:
    """Save a full-page screenshot under test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
