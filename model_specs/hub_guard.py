"""The Memory page's FetchGuard applied to huggingface_hub's own HTTP calls (model info, config.json, safetensors).

huggingface_hub sends every request through one shared httpx2 client (`set_client_factory`). The factory installed
here gives that client a connection backend that, while a guard is active (a ContextVar set only around the
page's calls), resolves each host once and connects only to the addresses the guard approves: every connection,
redirect hops to CDN hosts included, is checked where it is made. Without an active guard (the CLI, which never
installs the factory anyway) it connects as usual. Environment proxies are off in this client, as in the guarded
requests session (a proxy would hide the real host from the check).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore2
import httpx2
from huggingface_hub import set_client_factory
from huggingface_hub.utils._http import hf_request_event_hook

from model_specs.fetch_guard import FetchGuard

_ACTIVE: ContextVar[FetchGuard | None] = ContextVar("model_fetch_guard", default=None)
_INSTALLED = threading.Event()
_LOCK = threading.Lock()


class _GuardedBackend(httpcore2.SyncBackend):
    """Connects to an address the active guard approves (TLS still verifies the host name)."""

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
        guard = _ACTIVE.get()
        if guard is None:
            return super().connect_tcp(host, port, timeout, local_address, socket_options)
        last: Exception | None = None
        for addr in guard.addresses(host, port):
            try:
                return super().connect_tcp(addr, port, timeout, local_address, socket_options)
            except httpcore2.ConnectError as e:
                last = e
        raise last or httpcore2.ConnectError(f"no address to connect to for {host}")


def _client() -> httpx2.Client:
    """huggingface_hub's default client (same hooks, redirects, timeout) over the guarded backend."""
    transport = httpx2.HTTPTransport()  # SSL_CERT_FILE still honoured; proxies are the client's, off below
    transport._pool._network_backend = _GuardedBackend()  # HTTPTransport takes no backend argument
    return httpx2.Client(
        event_hooks={"request": [hf_request_event_hook]},
        follow_redirects=True,
        timeout=None,
        transport=transport,
        trust_env=False,
    )


@contextmanager
def guarded(guard: FetchGuard | None) -> Iterator[None]:
    """huggingface_hub calls inside this block connect only where `guard` allows (no-op for None)."""
    if guard is None:
        yield
        return
    with _LOCK:
        if not _INSTALLED.is_set():
            set_client_factory(_client)
            _INSTALLED.set()
    token = _ACTIVE.set(guard)
    try:
        yield
    finally:
        _ACTIVE.reset(token)
