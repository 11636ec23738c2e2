"""A server of known capacity (k slots, a FIFO queue, fixed TTFT and ITL) and a small load function.

The server speaks OpenAI chat-completions SSE (with a usage chunk) and serves vLLM-named gauges on /metrics
(vllm:num_requests_running / vllm:num_requests_waiting) that reflect its real slots and queue. Token times are
absolute deadlines from the slot's start, so the service time stays TTFT + (n - 1) x ITL without drift.

The load function (`measure_level`) is a stand-in for the async runner on the probe branch: closed loop
(concurrency) or open loop (Poisson arrivals drawn from a seed), per-request RequestResults, early cut.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from aiohttp import web

from probe.goodput import Slo, clearly_failing, level_goodput
from probe.results import RequestResult
from probe.search import LevelOutcome

ROOT = Path(__file__).resolve().parents[2]


class FifoSlots:
    """k slots handed to waiters strictly in arrival order (no barging, unlike a bare semaphore)."""

    def __init__(self, k: int) -> None:
        self.free = k
        self.waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def acquire(self) -> None:
        if self.free and not self.waiters:
            self.free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # it was handed a slot just as it gave up: pass it on
            raise

    def release(self) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                return
        self.free += 1


class SlotApp:
    """The server itself (runs in the process `python -m tests.probe.capacity_server` starts)."""

    def __init__(self, k: int, ttft_s: float, itl_s: float) -> None:
        self.k, self.ttft_s, self.itl_s = k, ttft_s, itl_s
        self.log: list[dict[str, float]] = []  # arrival, start, end per request (perf_counter: CLOCK_MONOTONIC)
        self.running = 0
        self.waiting = 0

    async def serve(self, port: int = 0) -> str:
        self.slots = FifoSlots(self.k)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/log", self._log)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port, backlog=512)
        await site.start()
        bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return f"http://127.0.0.1:{bound}"

    async def _log(self, _req: web.Request) -> web.Response:
        return web.json_response(self.log)

    async def _models(self, _req: web.Request) -> web.Response:
        return web.json_response({"object": "list", "data": [{"id": "slots", "object": "model"}]})

    async def _metrics(self, _req: web.Request) -> web.Response:
        # Same exposition format and names as vLLM's /metrics (vllm/v1/metrics/loggers.py).
        text = (
            "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
            "# TYPE vllm:num_requests_running gauge\n"
            f'vllm:num_requests_running{{engine="0",model_name="slots"}} {float(self.running)}\n'
            "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
            "# TYPE vllm:num_requests_waiting gauge\n"
            f'vllm:num_requests_waiting{{engine="0",model_name="slots"}} {float(self.waiting)}\n'
        )
        return web.Response(text=text, content_type="text/plain")

    async def _chat(self, req: web.Request) -> web.StreamResponse:
        arrival = time.perf_counter()
        body = await req.json()
        tokens = max(1, int(body.get("max_tokens") or 16))
        self.waiting += 1
        await self.slots.acquire()
        self.waiting -= 1
        self.running += 1
        start = time.perf_counter()
        try:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
            await resp.prepare(req)
            for i in range(tokens):
                delay = start + self.ttft_s + i * self.itl_s - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                chunk = {"choices": [{"index": 0, "delta": {"content": f" w{i}"}, "finish_reason": None}]}
                await resp.write(b"data: " + json.dumps(chunk).encode() + b"\n\n")
            usage = {"choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": tokens}}
            await resp.write(b"data: " + json.dumps(usage).encode() + b"\n\ndata: [DONE]\n\n")
        finally:
            self.running -= 1
            self.log.append({"arrival": arrival, "start": start, "end": time.perf_counter()})
            self.slots.release()
        await resp.write_eof()
        return resp


@dataclass
class SlotServer:
    """Handle on a SlotApp in its own process, so its timing does not share a GIL with the load generator."""

    k: int = 4
    ttft_s: float = 0.05
    itl_s: float = 0.005
    url: str = ""

    def service_s(self, tokens: int) -> float:
        """How long one request holds its slot."""
        return self.ttft_s + (tokens - 1) * self.itl_s

    def start(self) -> SlotServer:
        cmd = [sys.executable, "-m", "tests.probe.capacity_server", str(self.k), str(self.ttft_s), str(self.itl_s)]
        self._proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True)
        self.url = (self._proc.stdout.readline() if self._proc.stdout else "").strip()  # the server prints its URL
        if not self.url.startswith("http://"):
            self._proc.kill()
            raise RuntimeError(f"the slot server did not start (exit {self._proc.wait()})")
        return self

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    @property
    def log(self) -> list[dict[str, float]]:
        """The server's record of every request: arrival, slot start, end (perf_counter seconds)."""
        with urllib.request.urlopen(self.url + "/log", timeout=10) as resp:
            return json.loads(resp.read())


def _main() -> None:
    k, ttft_s, itl_s = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
    loop = asyncio.new_event_loop()
    url = loop.run_until_complete(SlotApp(k, ttft_s, itl_s).serve())
    print(url, flush=True)
    loop.run_forever()


async def _one(session: aiohttp.ClientSession, url: str, body: bytes, result: RequestResult) -> RequestResult:
    """Send one streaming chat request; time the first content byte and the end, take the server's token count."""
    t0 = time.perf_counter()
    result.started_perf_s = t0
    try:
        async with session.post(
            url + "/v1/chat/completions", data=body, headers={"Content-Type": "application/json"}
        ) as resp:
            if resp.status != 200:
                return result.fail(f"http_{resp.status}", await resp.text())
            async for raw in resp.content:
                line = raw.strip()
                if not line.startswith(b"data:") or line == b"data: [DONE]":
                    continue
                obj = json.loads(line[5:])
                if obj.get("usage"):
                    result.output_tokens = obj["usage"].get("completion_tokens")
                for ch in obj.get("choices") or []:
                    if (ch.get("delta") or {}).get("content"):
                        now = time.perf_counter()
                        if result.ttft_s is None:
                            result.ttft_s = now - t0
                        result.content_messages += 1
        result.e2e_s = time.perf_counter() - t0
        result.output_tokens = result.output_tokens or result.content_messages
        result.ok = result.ttft_s is not None
        return result
    except (aiohttp.ClientError, TimeoutError) as e:
        return result.fail("connection_error", repr(e))


@dataclass
class Level:
    """One measured level: every request, the wall time, whether it was cut short."""

    results: list[RequestResult]
    wall_s: float
    cut_short: bool

    def outcome(self, value: float, slo: Slo) -> LevelOutcome:
        g = level_goodput(self.results, slo, self.wall_s)
        return LevelOutcome(value, g.attainment, g.requests_per_s, g.output_tokens_per_s, self.cut_short)


def unit_gaps(n: int, seed: int) -> list[float]:
    """Exponential inter-arrival gaps of mean 1; a level at rate r sends at their cumulative sums / r."""
    rng = random.Random(seed)
    return [rng.expovariate(1.0) for _ in range(n)]


async def _level(url: str, n: int, slo: Slo, concurrency: int | None, rate: float | None, seed: int, max_tokens: int,
                 model: str) -> Level:  # fmt: skip
    body = json.dumps(
        {"model": model, "messages": [{"role": "user", "content": "count"}], "max_tokens": max_tokens,
         "stream": True, "stream_options": {"include_usage": True}, "temperature": 0}
    ).encode()  # fmt: skip
    results: list[RequestResult] = []
    stop = asyncio.Event()
    missed = 0

    async def run_one(i: int) -> None:
        nonlocal missed
        r = await _one(session, url, body, RequestResult(index=i, concurrency=concurrency or 0))
        results.append(r)
        missed += not slo.met_by(r)
        if clearly_failing(len(results), missed, n, slo.attainment):
            stop.set()  # the level cannot pass any more: send nothing further

    conn = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=conn, timeout=aiohttp.ClientTimeout(total=120)) as session:
        t0 = time.perf_counter()
        if concurrency is not None:
            counter = iter(range(n))

            async def user() -> None:
                for i in counter:
                    if stop.is_set():
                        return
                    await run_one(i)

            await asyncio.gather(*(user() for _ in range(concurrency)))
        else:
            assert rate is not None
            tasks, due = [], t0
            for i, gap in enumerate(unit_gaps(n, seed)):
                due += gap / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))
                if stop.is_set():
                    break
                tasks.append(asyncio.create_task(run_one(i)))
            await asyncio.gather(*tasks)
        wall = time.perf_counter() - t0
    return Level(results, wall, stop.is_set())


def measure_level(url: str, n: int, slo: Slo, *, concurrency: int | None = None, rate: float | None = None,
                  seed: int = 0, max_tokens: int = 16, model: str = "slots") -> Level:  # fmt: skip
    """Measure one closed-loop (concurrency) or open-loop Poisson (rate) level of n requests."""
    return asyncio.run(_level(url, n, slo, concurrency, rate, seed, max_tokens, model))


def mdk_attainment(gaps: list[float], rate: float, k: int, service_s: float, wait_budget_s: float) -> float:
    """Share of requests that wait at most wait_budget_s in an M/D/k FIFO queue fed these arrivals (from empty)."""
    import heapq

    t, free, met = 0.0, [0.0] * k, 0
    for g in gaps:
        t += g / rate
        start = max(t, heapq.heappop(free))
        met += start - t <= wait_budget_s
        heapq.heappush(free, start + service_s)
    return met / len(gaps)


def mdk_capacity(gaps: list[float], k: int, service_s: float, wait_budget_s: float, target: float) -> float:
    """The largest rate whose simulated attainment meets target (waits only grow with the rate, so bisect)."""
    lo, hi = 1e-3, 1e4
    for _ in range(80):
        mid = (lo * hi) ** 0.5
        if mdk_attainment(gaps, mid, k, service_s, wait_budget_s) >= target:
            lo = mid
        else:
            hi = mid
    return lo


if __name__ == "__main__":
    _main()
