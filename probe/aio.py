"""Asyncio streaming requests (aiohttp): request bytes prepared before t0, perf_counter at each byte arrival.

aiohttp rather than httpx: in bench/bench_probe_timing.py, same run, aiohttp's TTFT error stays close to the
raw-socket floor while httpx's async client adds more per request (see requirements.txt).
Every fault ends as an error kind on the RequestResult; nothing here raises to the caller.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from yarl import URL

from probe import results as R
from probe.clients import Endpoint, Timing, http_error
from probe.guard import scrub
from probe.results import RequestResult
from probe.stream import LineSplitter, SSEDecoder

Clock = Callable[[], float]


@dataclass(frozen=True)
class Prepared:
    """A request ready to go: URL parsed, body encoded, headers built, all before t0."""

    url: URL
    body: bytes
    headers: dict[str, str]


def prepare_request(
    backend: Any, ep: Endpoint, model: str, prompt: str, max_tokens: int, temp: float, messages: Any = None
) -> Prepared:
    """Build everything a streamed chat request needs, so none of it is timed (messages: a workload's chat)."""
    obj = backend.request_body(model, prompt, max_tokens, temp)
    if messages is not None:
        obj["messages"] = list(messages)
    body = json.dumps(obj).encode()
    headers = ep.headers() | {"Content-Type": "application/json"}
    return Prepared(URL(ep.base_url + backend.chat_path, encoded=False), body, headers)


async def _request_sent(_session: Any, ctx: Any, _params: Any) -> None:
    """t0 is when the request's last byte goes to the socket (aiohttp writes the body in a task of its own, after
    the headers: with 64 requests at once the bodies leave milliseconds after their headers)."""
    timing = ctx.trace_request_ctx
    if timing is not None:
        timing.t0 = timing.r.started_perf_s = timing.r.sent_s = timing.clock()


def new_session(ep: Endpoint, limit: int = 0) -> aiohttp.ClientSession:
    """A keep-alive pool; sock_read is the longest silence tolerated inside a stream."""
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=ep.connect_timeout_s, sock_read=ep.read_timeout_s)
    connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=75, ttl_dns_cache=60)
    trace = aiohttp.TraceConfig()
    trace.on_request_chunk_sent.append(_request_sent)
    # trust_env=False: no proxy from the environment between the probe and the server.
    return aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False, trust_env=False, trace_configs=[trace]
    )


def classify_aio(exc: BaseException) -> tuple[str, str]:
    """Map an aiohttp/socket exception to (error kind, short message), as classify_exception does for requests."""
    os_error = getattr(exc, "os_error", None)
    if isinstance(exc, aiohttp.ClientConnectorDNSError) or isinstance(os_error, socket.gaierror):
        return R.DNS, "the host name did not resolve (DNS failure)"
    if isinstance(os_error, ConnectionRefusedError) or isinstance(exc, ConnectionRefusedError):
        return R.REFUSED, "connection refused: nothing is listening at that address and port"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return R.CONNECT_TIMEOUT, "connecting timed out"
    if isinstance(exc, aiohttp.ServerTimeoutError | asyncio.TimeoutError | TimeoutError):
        return R.STALL, "the server sent nothing for longer than the read timeout"
    if isinstance(exc, aiohttp.ClientPayloadError | aiohttp.ServerDisconnectedError | ConnectionResetError):
        return R.INCOMPLETE, "the connection closed before the response was complete"
    if isinstance(exc, aiohttp.InvalidURL):
        return R.BAD_INPUT, "invalid URL"
    return R.CONNECTION, f"connection error ({type(exc).__name__})"


def _messages(chunks: list[tuple[bytes, float]], sse: bool) -> Iterator[tuple[str, float]]:
    """(text, arrival time) per framed message of the timestamped chunks."""
    splitter, sse_dec = LineSplitter(), SSEDecoder() if sse else None
    t_last = chunks[-1][1] if chunks else 0.0
    for chunk, t in chunks:
        for line, tl in splitter.feed(chunk, t):
            if sse_dec is None:
                if line.strip():
                    yield line, tl
            elif (ev := sse_dec.line(line, tl)) is not None:
                yield ev
    tail = splitter.flush()
    if tail is not None:
        if sse_dec is None:
            yield tail, t_last
        else:
            sse_dec.line(tail, t_last)
    if sse_dec is not None and (ev := sse_dec.flush(t_last)) is not None:
        yield ev


def _parse(chunks: list[tuple[bytes, float]], backend: Any, ep: Endpoint, timing: Timing, ended: bool) -> None:
    """Feed each message to the backend's handler until its final one; faults land on the result.

    `ended`: the body was read to its end (not cut by a stop, a stall or a dead connection).
    """
    result, handler = timing.r, backend.make_handler(timing.r, timing, ep)
    for text, t in _messages(chunks, backend.sse):
        if backend.sse and text.strip() == "[DONE]":
            timing.end(t)
            return
        try:
            obj = json.loads(text)
        except ValueError:
            line = scrub(text, ep.api_key)[:80]
            result.fail(R.BAD_STREAM, f"the server sent a line that is not JSON: {line!r}")
            return
        if handler(obj, t):
            return
    if ended and getattr(handler, "finished", False):  # finish_reason seen; the server just omitted [DONE]
        timing.end(chunks[-1][1])
    else:
        result.fail(R.INCOMPLETE, "the stream ended before the server's final message")


async def stream(
    session: aiohttp.ClientSession,
    backend: Any,
    ep: Endpoint,
    req: Prepared,
    result: RequestResult,
    stop_reason: Callable[[], str | None] = lambda: None,
    clock: Clock = time.perf_counter,
) -> RequestResult:
    """POST one prepared streaming request and measure it; never raises (cancellation becomes the stop reason)."""
    t0 = result.started_perf_s = result.sent_s = clock()  # moved to the socket write by _request_sent
    timing = Timing(result, t0)
    timing.clock = clock
    # Only a timestamp per chunk while the stream runs; parsing waits for the end, so that with hundreds of
    # streams on one loop no chunk's timestamp waits behind another stream's JSON decoding.
    chunks: list[tuple[bytes, float]] = []
    ended = False
    try:
        post = session.post(
            req.url, data=req.body, headers=req.headers, allow_redirects=False, trace_request_ctx=timing
        )
        async with post as resp:
            if resp.status >= 400:
                body = await _body_text(resp)
                return result.fail(*http_error(resp.status, resp.reason, body, ep.api_key))
            async for chunk in resp.content.iter_any():
                t = clock()
                chunks.append((chunk, t))
            ended = True
    except asyncio.CancelledError:
        reason = stop_reason() or R.CANCELLED
        where = "stopped mid-stream" if chunks else "stopped before an answer"
        result.fail(reason, f"{where}: run {reason}")
    except (TimeoutError, aiohttp.ClientError, OSError, ValueError) as e:
        result.fail(*classify_aio(e))
    finally:
        if chunks or ended:
            _parse(chunks, backend, ep, timing, ended)
        result.text = "".join(timing.parts)
    if result.error_kind is None:
        if result.ttft_s is None:
            result.fail(R.NO_TOKENS, "the response finished without any generated text")
        else:
            result.ok = True
    return result


async def _body_text(resp: aiohttp.ClientResponse) -> str:
    """An error body, at most 64 KiB; unreadable leaves the status code alone."""
    try:
        return (await resp.content.read(65536)).decode("utf-8", errors="replace")
    except (TimeoutError, aiohttp.ClientError, OSError):
        return ""


def stream_once(
    backend: Any, ep: Endpoint, model: str, prompt: str, max_tokens: int, temp: float = 0.0
) -> RequestResult:
    """One measured request from synchronous code (a fresh loop and pool): for scripts and tests."""

    async def one() -> RequestResult:
        async with new_session(ep) as session:
            req = prepare_request(backend, ep, model, prompt, max_tokens, temp)
            return await stream(session, backend, ep, req, RequestResult())

    return asyncio.run(one())
