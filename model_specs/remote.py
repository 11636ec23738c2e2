"""Remote files over HTTP range requests: a GGUF header (or any file's first bytes) without the rest of the file.

Each read asks for `Range: bytes=a-b` and must get 206 Partial Content; a server that answers 200 (the whole file)
is refused on the spot, before its body is read, so a multi-gigabyte download never starts. Bytes received are
counted, so callers can report what a read cost. Tokens travel in headers only (never the URL); source names
printed in messages drop the query string, which may hold a signed-URL credential.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import requests

from model_specs.gguf_header import GGUFError, GGUFFile, LocalSource, read_local, read_shards, shard_locations

_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")
USER_AGENT = "llm-capacity-dashboard (GGUF header reader)"


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


class HttpRangeSource:
    """Random access to a remote file through HTTP range requests; counts the bytes it receives."""

    def __init__(
        self,
        url: str,
        *,
        session: requests.Session | None = None,
        headers: dict[str, str] | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = url
        self.name = display_url(url)
        self.bytes_read = 0
        self.requests = 0
        self._session = session or requests.Session()
        self._headers = {"User-Agent": USER_AGENT, **(headers or {})}
        self._timeout_s = timeout_s
        self._size: int | None = None

    def size_bytes(self) -> int | None:
        return self._size

    def read(self, offset: int, length: int) -> bytes:
        """Bytes [offset, offset + length) (fewer at the end of the file); GGUFError on any refusal."""
        if self._size is not None and offset >= self._size:
            return b""
        hdrs = {**self._headers, "Range": f"bytes={offset}-{offset + length - 1}", "Accept-Encoding": "identity"}
        try:
            r = self._session.get(self.url, headers=hdrs, stream=True, timeout=self._timeout_s)
        except requests.RequestException as e:
            raise GGUFError(f"cannot reach {self.name}: {type(e).__name__} (offline?)") from None
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


def open_gguf(
    location: str, *, headers: dict[str, str] | None = None, session: requests.Session | None = None
) -> GGUFFile:
    """Read a GGUF header from a path or an http(s) URL; every shard of a split model; GGUFError if it cannot."""
    location = location.strip()
    if not location:
        raise GGUFError("no GGUF path or URL given")
    if not is_url(location):
        return read_local(location)
    sess = session or requests.Session()
    sources = [HttpRangeSource(u, session=sess, headers=headers) for u in shard_locations(location)]
    return read_shards(sources)


__all__ = ["HttpRangeSource", "LocalSource", "RangeNotSupported", "display_url", "is_url", "open_gguf"]
