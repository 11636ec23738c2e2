"""Remote files over HTTP range requests: a GGUF header (or any file's first bytes) without the rest of the file.

Each read asks for `Range: bytes=a-b` and must get 206 Partial Content; a server that answers 200 (the whole file)
is refused on the spot, before its body is read, so a multi-gigabyte download never starts. Bytes received are
counted, so callers can report what a read cost. Tokens travel in headers only (never the URL), and never past a
redirect to another origin; source names printed in messages drop the query string, which may hold a signed-URL
credential. Redirects are followed here, hop by hop, so that with a FetchGuard (the Memory page) every hop's host
is checked, and the guarded session connects only to the addresses the guard approved (model_specs/fetch_guard.py).
"""

from __future__ import annotations

import os
import re
from urllib.parse import urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError
from urllib3.util.connection import create_connection

from model_specs.fetch_guard import FetchGuard
from model_specs.gguf_header import GGUFError, GGUFFile, LocalSource, read_local, read_shards, shard_locations

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
USER_AGENT = "llm-capacity-dashboard (GGUF header reader)"
MAX_REDIRECTS = 10
_REDIRECT_CODES = (301, 302, 303, 307, 308)


class RangeNotSupported(GGUFError):
    """The server ignores Range and would send the whole file."""


def is_url(location: str) -> bool:
    """Whether `location` is an http(s) URL rather than a path."""
    return location.startswith(("http://", "https://"))


def display_url(url: str) -> str:
    """The URL without credentials or query string, for messages."""
    p = urlsplit(url)
    host = p.hostname or ""
    if p.port:
        host += f":{p.port}"
    return urlunsplit((p.scheme, host, p.path, "", ""))


class _PinnedConnection:
    """Connects only to addresses the guard approves for the URL's host (resolved once, per connection)."""

    fetch_guard: FetchGuard

    def _new_conn(self):  # type: ignore[no-untyped-def]
        # Connect to the approved address itself; self.host (the name) still drives SNI and certificate checks.
        addrs = self.fetch_guard.addresses(self.host, self.port)  # type: ignore[attr-defined]
        last: Exception = NewConnectionError(self, "no address to connect to")  # type: ignore[arg-type]
        for addr in addrs:
            try:
                return create_connection(
                    (addr, self.port),  # type: ignore[attr-defined]
                    self.timeout,  # type: ignore[attr-defined]
                    source_address=self.source_address,  # type: ignore[attr-defined]
                    socket_options=self.socket_options,  # type: ignore[attr-defined]
                )
            except TimeoutError:
                last = ConnectTimeoutError(self, f"connection to {self.host} timed out")  # type: ignore[attr-defined]
            except OSError as e:
                last = NewConnectionError(self, f"Failed to establish a new connection: {e}")  # type: ignore[arg-type]
        raise last


class GuardedAdapter(HTTPAdapter):
    """A requests adapter whose connections go only where a FetchGuard allows."""

    def __init__(self, guard: FetchGuard) -> None:
        self._guard = guard
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        attrs = {"fetch_guard": self._guard}
        http = type("GuardedHTTPConnection", (_PinnedConnection, HTTPConnection), attrs)
        https = type("GuardedHTTPSConnection", (_PinnedConnection, HTTPSConnection), attrs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https}),
        }


def guarded_session(guard: FetchGuard) -> requests.Session:
    """A session that connects only where `guard` allows; environment proxies are off (they would hide the host)."""
    sess = requests.Session()
    sess.trust_env = False
    # trust_env off also drops requests' CA-bundle variables: keep honouring them (a private CA stays usable)
    sess.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    adapter = GuardedAdapter(guard)
    sess.mount("http://", adapter)
    sess.mount("https://", adapter)
    return sess


def _origin(url: str) -> tuple[str, str, int | None]:
    p = urlsplit(url)
    return p.scheme, (p.hostname or "").lower(), p.port or {"http": 80, "https": 443}.get(p.scheme)


class HttpRangeSource:
    """Random access to a remote file through HTTP range requests; counts the bytes it receives."""

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
        guard: FetchGuard | None = None,
    ) -> None:
        self.url = url
        self.name = display_url(url)
        self.bytes_read = 0
        self.requests = 0
        self._session = session or requests.Session()
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._timeout_s = timeout_s
        self._guard = guard
        self._size: int | None = None

    def size_bytes(self) -> int | None:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) (fewer at the end of the file); GGUFError on any refusal."""
        if self._size is not None and offset >= self._size:
            return b""
        hdrs = {**self._headers, "Range": f"bytes={offset}-{offset + length - 1}", "Accept-Encoding": "identity"}
        r = self._get(hdrs)
        with r:
            self.requests += 1
            if r.status_code == 416:  # asked past the end
                return b""
            if r.status_code == 200:
                raise RangeNotSupported(
                    f"{self.name}: the server does not support HTTP range requests (it would send the whole file); "
                    "download the file and give its path instead"
                )
            if r.status_code in (401, 403):
                raise GGUFError(
                    f"{self.name}: access denied (HTTP {r.status_code}); a private or gated file needs a token (HF_TOKEN for the Hub)"
                )
            if r.status_code != 206:
                raise GGUFError(f"{self.name}: HTTP {r.status_code} {r.reason}")
            m = _CONTENT_RANGE.match(r.headers.get("Content-Range", ""))
            if not m or int(m.group(1)) != offset:
                raise RangeNotSupported(f"{self.name}: the server sent a range other than the one asked for")
            if m.group(3) != "*":
                self._size = int(m.group(3))
            data = bytearray()
            for chunk in r.iter_content(chunk_size=65536):
                data += chunk
                if len(data) >= length:  # never take more than asked, whatever the server sends
                    break
        self.bytes_read += len(data)
        return bytes(data[:length])

    def _get(self, hdrs: dict[str, str]) -> requests.Response:
        """GET with redirects followed hop by hop: each hop checked, credentials dropped on a change of origin."""
        url = self.url
        for _ in range(MAX_REDIRECTS + 1):
            if self._guard is not None:
                self._guard.check_url(url)
            try:
                r = self._session.get(url, headers=hdrs, stream=True, timeout=self._timeout_s, allow_redirects=False)
            except requests.RequestException as e:
                raise GGUFError(f"cannot reach {display_url(url)}: {type(e).__name__} (offline?)") from None
            if r.status_code not in _REDIRECT_CODES or "Location" not in r.headers:
                return r
            r.close()
            nxt = urljoin(url, r.headers["Location"])
            if _origin(nxt) != _origin(url):
                hdrs = {k: v for k, v in hdrs.items() if k.lower() not in ("authorization", "cookie")}
            url = nxt
        raise GGUFError(f"{self.name}: more than {MAX_REDIRECTS} redirects")


def open_gguf(
    location: str,
    *,
    headers: dict[str, str] | None = None,
    session: requests.Session | None = None,
    guard: FetchGuard | None = None,
) -> GGUFFile:
    """Read a GGUF header from a path or an http(s) URL; every shard of a split model; GGUFError if it cannot.

    With `guard` (the Memory page), URLs go only to allowed hosts and paths only under MODEL_DIR."""
    location = location.strip()
    if not location:
        raise GGUFError("no GGUF path or URL given")
    if not is_url(location):
        if guard is not None and "://" in location:
            raise GGUFError(
                f"only http(s) URLs, hf:// locations and paths can be read, not {location.split(':')[0]}://"
            )
        return read_local(location, guard.local_path if guard else None)
    sess = session or (guarded_session(guard) if guard else requests.Session())
    sources = [HttpRangeSource(u, session=sess, headers=headers, guard=guard) for u in shard_locations(location)]
    return read_shards(sources)


__all__ = [
    "GuardedAdapter",
    "HttpRangeSource",
    "guarded_session",
    "LocalSource",
    "RangeNotSupported",
    "display_url",
    "is_url",
    "open_gguf",
]
