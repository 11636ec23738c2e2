"""Fixtures: protocol test servers, the tiny GGUF model, a real llama.cpp server subprocess."""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.probe.servers import LlamaSource, ProtocolServer, ScheduledSource, ServerConfig

HAVE_LLAMA_CPP = importlib.util.find_spec("llama_cpp") is not None
HAVE_GGUF = importlib.util.find_spec("gguf") is not None
needs_llama = pytest.mark.skipif(
    not (HAVE_LLAMA_CPP and HAVE_GGUF),
    reason="llama-cpp-python[server] and gguf are not installed (pip install -r requirements-dev.txt)",
)
SERVER_START_DEADLINE_S = 120.0


@pytest.fixture(autouse=True)
def _loopback_only(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Every test starts from the default host policy and its own database."""
    monkeypatch.delenv("PROBE_ALLOWED_HOSTS", raising=False)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'probe.sqlite'}")


@pytest.fixture
def fake_server() -> Iterator[Callable[..., ProtocolServer]]:
    """Factory: a scheduled-token Ollama/OpenAI protocol server with the given config."""
    started: list[ProtocolServer] = []

    def make(source: Any = None, **config: Any) -> ProtocolServer:
        srv = ProtocolServer(source or ScheduledSource(), ServerConfig(**config)).start()
        started.append(srv)
        return srv

    yield make
    for srv in started:
        srv.stop()


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny random-weight llama model, written once per session."""
    if not (HAVE_LLAMA_CPP and HAVE_GGUF):
        pytest.skip("llama-cpp-python[server] and gguf are not installed")
    from tests.probe.tiny_model import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("model") / "tiny.gguf")


@pytest.fixture(scope="session")
def llama_server(tiny_gguf: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp server (llama_cpp.server) on a free port; its log is printed if it fails to start."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-log") / "server.log"
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(tiny_gguf), "--model_alias", "tiny",
        "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048", "--n_threads", "2",
        # Queue concurrent requests (one slot) instead of cutting the running one off (its default).
        "--interrupt_requests", "False",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_DEADLINE_S
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"llama_cpp.server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if requests.get(url + "/v1/models", timeout=1).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"llama_cpp.server not up after {SERVER_START_DEADLINE_S} s:\n{log_path.read_text()[-4000:]}"
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def llama_ollama_server(tiny_gguf: Path) -> Iterator[ProtocolServer]:
    """The Ollama-protocol server generating with the same tiny model through llama_cpp.Llama."""
    srv = ProtocolServer(LlamaSource(str(tiny_gguf), n_ctx=2048), ServerConfig(models=["tiny:latest"])).start()
    yield srv
    srv.stop()


# A real PostgreSQL server for the store tests (tests/probe/pg.py).
from tests.probe.pg import postgres_server  # noqa: E402, F401
