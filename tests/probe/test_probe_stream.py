"""Stream parsing with fake chunk streams: boundaries inside lines and UTF-8 characters, exact timings."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from probe import results as R
from probe.aio import prepare_request, stream
from probe.clients import Endpoint, OllamaBackend, OpenAIBackend
from probe.results import RequestResult
from probe.stream import LineSplitter, SSEDecoder


def test_line_split_inside_a_line_and_inside_a_utf8_character() -> None:
    text = '{"c":"héllo 😀"}\n{"c":"x"}\n'.encode()
    cut_in_emoji = text.index("😀".encode()) + 2  # two of the emoji's four bytes in the first chunk
    sp = LineSplitter()
    assert sp.feed(text[:cut_in_emoji], 1.0) == []
    lines = sp.feed(text[cut_in_emoji:], 2.0)
    # Each line carries the arrival time of its last byte, and the emoji survives the cut intact.
    assert lines == [('{"c":"héllo 😀"}', 2.0), ('{"c":"x"}', 2.0)]
    assert sp.flush() is None


def test_line_split_every_byte_separately_and_crlf() -> None:
    data = b'data: {"a": "\xc3\xa9"}\r\n\r\n'
    sp = LineSplitter()
    out = []
    for i, b in enumerate(data):
        out += sp.feed(bytes([b]), float(i))
    assert out == [('data: {"a": "é"}', float(data.index(b"\n"))), ("", float(len(data) - 1))]


def test_unterminated_last_line_is_flushed() -> None:
    sp = LineSplitter()
    assert sp.feed(b'{"done": true}', 1.0) == []
    assert sp.flush() == '{"done": true}'


def test_sse_decoder_events_comments_and_multiline_data() -> None:
    dec = SSEDecoder()
    events = []
    for line in [": ping", "event: message", "data: a", "data: b", "", "", "data:[DONE]", ""]:
        ev = dec.line(line, 5.0)
        if ev:
            events.append(ev)
    assert events == [("a\nb", 5.0), ("[DONE]", 5.0)]


class FakeContent:
    """aiohttp's StreamReader stand-in: yields chunks and moves a fake clock to each chunk's time."""

    def __init__(self, response: FakeResponse) -> None:
        self.r = response

    async def iter_any(self) -> Any:
        for t, data in self.r.chunks:
            self.r.clock.now = t
            yield data

    async def read(self, n: int = -1) -> bytes:
        return self.r.text.encode()[:n]


class FakeResponse:
    """An aiohttp.ClientResponse stand-in for the async stream reader."""

    def __init__(self, chunks: list[tuple[float, bytes]], clock: FakeClock, status: int = 200) -> None:
        self.chunks = chunks
        self.clock = clock
        self.status = status
        self.reason = "OK"
        self.closed = False
        self.text = ""
        self.content = FakeContent(self)

    async def __aenter__(self) -> FakeResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.closed = True


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeSession:
    def __init__(self, response: FakeResponse) -> None:
        self.response = response
        self.sent: list[dict[str, Any]] = []

    def post(self, url: Any, data: bytes, headers: dict[str, str], **_kw: Any) -> FakeResponse:
        self.sent.append({"url": str(url), "json": json.loads(data), "headers": headers})
        return self.response


def run_stream(backend: Any, session: FakeSession, ep: Endpoint, max_tokens: int, clock: FakeClock) -> Any:
    """The probe's async stream reader over a fake session, with prepared request bytes as the runner sends them."""
    req = prepare_request(backend, ep, "m", "hi", max_tokens, 0.0)
    return asyncio.run(stream(session, backend, ep, req, RequestResult(), clock=clock))  # type: ignore[arg-type]


def ndjson(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode() + b"\n"


def sse(obj: dict[str, Any] | str) -> bytes:
    body = obj if isinstance(obj, str) else json.dumps(obj, ensure_ascii=False)
    return b"data: " + body.encode() + b"\n\n"


def ollama_msg(text: str) -> dict[str, Any]:
    return {"model": "m", "message": {"role": "assistant", "content": text}, "done": False}


OLLAMA_DONE = {
    "model": "m",
    "message": {"role": "assistant", "content": ""},
    "done": True,
    "total_duration": 2_500_000_000,
    "load_duration": 1_200_000_000,
    "prompt_eval_count": 26,
    "prompt_eval_duration": 300_000_000,
    "eval_count": 3,
    "eval_duration": 900_000_000,
}


def run_ollama(chunks: list[tuple[float, bytes]]) -> Any:
    clock = FakeClock()
    resp = FakeResponse(chunks, clock)
    session = FakeSession(resp)
    r = run_stream(OllamaBackend(), session, Endpoint("http://x"), 3, clock)
    assert resp.closed
    return r, session


def test_ollama_timings_from_byte_arrival_and_server_counts() -> None:
    line2 = ndjson(ollama_msg("é😀"))
    chunks = [
        (100.5, ndjson(ollama_msg("Hel"))),
        (100.6, line2[:5]),  # a line split across chunks: the token arrives with its last byte
        (100.7, line2[5:] + ndjson(ollama_msg("lo"))),  # two messages in one chunk: a 0 s gap
        (101.0, ndjson(OLLAMA_DONE)),
    ]
    r, session = run_ollama(chunks)
    assert r.ok and r.error_kind is None
    assert r.ttft_s == pytest.approx(0.5)
    assert r.itl_s == pytest.approx([0.2, 0.0])
    assert r.e2e_s == pytest.approx(1.0)
    assert r.content_messages == 3
    # Counts and durations come from the server (ns -> s), never from chunk counts.
    assert r.output_tokens == 3 and r.prompt_tokens == 26
    assert (r.load_s, r.prompt_eval_s, r.eval_s, r.total_s) == pytest.approx((1.2, 0.3, 0.9, 2.5))
    assert r.tpot_s == pytest.approx((1.0 - 0.5) / (3 - 1))
    assert r.queue_s == pytest.approx(0.0)  # 0.5 s TTFT < 1.2 s load + 0.3 s prefill: clamped at 0
    body = session.sent[0]["json"]
    assert body["stream"] is True and body["options"]["num_predict"] == 3
    assert session.sent[0]["url"] == "http://x/api/chat"


def test_ollama_non_json_line_keeps_what_was_measured() -> None:
    r, _ = run_ollama([(100.2, ndjson(ollama_msg("a"))), (100.3, b"<html>bad gateway</html>\n")])
    assert not r.ok and r.error_kind == R.BAD_STREAM
    assert r.ttft_s == pytest.approx(0.2)  # measured before the fault, not lost


def test_ollama_stream_without_done_is_incomplete() -> None:
    r, _ = run_ollama([(100.2, ndjson(ollama_msg("a"))), (100.4, ndjson(ollama_msg("b")))])
    assert r.error_kind == R.INCOMPLETE and r.ttft_s == pytest.approx(0.2) and r.itl_s == pytest.approx([0.2])


def test_ollama_error_object_in_stream() -> None:
    r, _ = run_ollama([(100.1, ndjson({"error": "model requires more system memory"}))])
    assert r.error_kind == R.SERVER_ERROR and "more system memory" in (r.error_message or "")


def test_ollama_done_without_content_is_no_tokens() -> None:
    r, _ = run_ollama([(100.1, ndjson(OLLAMA_DONE))])
    assert r.error_kind == R.NO_TOKENS and not r.ok


def run_openai(chunks: list[tuple[float, bytes]], key: str | None = None) -> Any:
    clock = FakeClock()
    session = FakeSession(FakeResponse(chunks, clock))
    ep = Endpoint("http://x", api_key=key)
    r = run_stream(OpenAIBackend(), session, ep, 8, clock)
    return r, session


def delta(text: str, finish: str | None = None) -> dict[str, Any]:
    return {"choices": [{"index": 0, "delta": {"content": text}, "finish_reason": finish}]}


def test_openai_sse_usage_and_split_events() -> None:
    ev2 = sse(delta("wörld"))
    cut = ev2.index("ö".encode()) + 1  # inside the two-byte ö
    usage = {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 7}}
    chunks = [
        (100.0, b": keep-alive\n\n"),
        (100.25, sse({"choices": [{"index": 0, "delta": {"role": "assistant"}}]})),  # no text: not the first token
        (100.3, sse(delta("Hello"))),
        (100.35, ev2[:cut]),
        (100.4, ev2[cut:]),
        (100.5, sse(delta("", "length")) + sse(usage)),
        (100.55, sse("[DONE]")),
    ]
    r, session = run_openai(chunks, key="sk-secret-123")
    assert r.ok
    assert r.ttft_s == pytest.approx(0.3) and r.itl_s == pytest.approx([0.1])
    assert r.e2e_s == pytest.approx(0.55)
    assert r.output_tokens == 7 and r.prompt_tokens == 40  # usage, not the 2 content chunks
    assert r.tpot_s == pytest.approx((0.55 - 0.3) / 6)
    sent = session.sent[0]
    assert sent["json"]["stream_options"] == {"include_usage": True}
    assert sent["headers"]["Authorization"] == "Bearer sk-secret-123"
    assert "sk-secret" not in sent["url"]


def test_openai_missing_done_after_finish_reason_is_accepted() -> None:
    r, _ = run_openai([(100.1, sse(delta("a"))), (100.2, sse(delta("", "stop")))])
    assert r.ok and r.e2e_s == pytest.approx(0.2) and r.output_tokens is None  # no usage: unknown, not guessed


def test_openai_stream_cut_before_finish_is_incomplete() -> None:
    r, _ = run_openai([(100.1, sse(delta("a"))), (100.2, sse(delta("b")))])
    assert r.error_kind == R.INCOMPLETE and r.itl_s == pytest.approx([0.1])


def test_openai_error_event_does_not_leak_key() -> None:
    r, _ = run_openai([(100.1, sse({"error": {"message": "bad key sk-secret-123"}}))], key="sk-secret-123")
    assert r.error_kind == R.SERVER_ERROR
    assert "sk-secret-123" not in (r.error_message or "") and "***" in (r.error_message or "")


@pytest.mark.parametrize("pad", [0, 170, 250, 4090])
def test_http_error_body_never_leaks_part_of_the_key(pad: int) -> None:
    # The key may sit anywhere in the body, also across the points where the message is cut (pad 170 puts
    # it across the 200-character cut of the detail: scrubbing after that cut would leave "sk-secret-0123456").
    key = "sk-secret-0123456789"
    resp = FakeResponse([], FakeClock(), status=401)
    resp.reason = "Unauthorized"
    resp.text = json.dumps({"error": {"message": "x" * pad + f" invalid key {key}"}})
    r, _ = run_openai_response(resp, key)
    assert r.error_kind == "http_401" and "missing or wrong API key" in (r.error_message or "")
    assert "sk-secret" not in (r.error_message or "")


def test_non_json_line_never_leaks_the_key() -> None:
    key = "sk-secret-0123456789"
    clock = FakeClock()
    resp = FakeResponse([(100.1, b"x" * 60 + f" token {key}\n".encode())], clock)  # the key across the 80-char cut
    r = run_stream(OllamaBackend(), FakeSession(resp), Endpoint("http://x", api_key=key), 3, clock)
    assert r.error_kind == R.BAD_STREAM and "sk-secret" not in (r.error_message or "")


def run_openai_response(resp: FakeResponse, key: str) -> Any:
    r = run_stream(OpenAIBackend(), FakeSession(resp), Endpoint("http://x", api_key=key), 8, resp.clock)
    return r, resp
