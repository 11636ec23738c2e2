"""Byte-level stream readers: timestamped line splitting, NDJSON and SSE framing."""

from __future__ import annotations

from collections.abc import Callable

Clock = Callable[[], float]


class LineSplitter:
    """Split a byte stream into lines; each line carries the arrival time of its last byte.

    Splitting on bytes (not text) means a UTF-8 character cut by a chunk boundary is decoded
    only once the whole line is in, so it can never be garbled.
    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, chunk: bytes, t: float) -> list[tuple[str, float]]:
        """Add a chunk that arrived at time t; return the lines it completed."""
        self._buf += chunk
        if b"\n" not in chunk:
            return []
        *complete, rest = bytes(self._buf).split(b"\n")
        self._buf = bytearray(rest)
        return [(_decode(line), t) for line in complete]

    def flush(self) -> str | None:
        """Return what is left after the stream ended (a line with no newline), if anything."""
        if not self._buf:
            return None
        rest, self._buf = bytes(self._buf), bytearray()
        text = _decode(rest)
        return text if text.strip() else None


def _decode(line: bytes) -> str:
    """Decode one line as UTF-8 (replacing invalid bytes) and drop a trailing CR."""
    text = line.decode("utf-8", errors="replace")
    return text[:-1] if text.endswith("\r") else text


class SSEDecoder:
    """Turn SSE lines into (data, time) events (https://html.spec.whatwg.org/multipage/server-sent-events.html)."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def line(self, text: str, t: float) -> tuple[str, float] | None:
        """Consume one line; return a completed event's data when a blank line ends it."""
        if text == "":
            if not self._data:
                return None
            data, self._data = "\n".join(self._data), []
            return data, t
        if text.startswith(":"):  # comment / keep-alive
            return None
        name, _, value = text.partition(":")
        if name == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        return None  # event:, id:, retry: carry nothing we measure

    def flush(self, t: float) -> tuple[str, float] | None:
        """An event left open when the stream ended (some servers omit the final blank line)."""
        return self.line("", t)
