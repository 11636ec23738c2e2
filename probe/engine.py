"""The load generator of one worker: closed loops (N users) and open loops (requests due on a schedule).

A job is plain data (picklable for worker processes and Ray actors); results go to `emit` as each request
finishes, so a worker that dies later has already handed over what it measured.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import requests

from probe import results as R
from probe.aio import new_session, prepare_request, stream
from probe.clients import Endpoint, get_backend
from probe.guard import scrub
from probe.prompt import build_prompt
from probe.results import RequestResult
from probe.stats import mark_cold_starts
from probe.workload import RequestSpec

ARRIVALS = ("poisson", "constant", "gamma")
OPEN_LOOP_POOL = 16  # connections opened ahead of an uncapped open loop; more are opened as needed (timed)
MAX_POOL = 256


def arrival_offsets_s(
    rate: float, arrival: str, burstiness: float, seed: int, n: int | None, duration_s: float | None
) -> list[float]:
    """When each request is due, seconds after the level starts; drawn up front (vLLM bench serve's gamma model).

    Gaps follow gamma(shape=K, scale=1/(rate*K)): mean 1/rate, coefficient of variation 1/sqrt(K); K=1 is Poisson.
    'constant' sends exactly every 1/rate. The first request is due at 0; with a duration, rate x duration requests.
    The gaps are a stratified draw: the distribution's quantiles at (i + 1/2)/m, in an order shuffled by the seed.
    So a level labelled 2 req/s sends at 2 req/s with the pattern's variability (100 independent Poisson gaps miss
    their mean by 10 % and their CV by ~0.1 at one sigma), and the order stays random.
    """
    if rate <= 0:
        raise ValueError("rate must be positive")
    if arrival not in ARRIVALS:
        raise ValueError(f"unknown arrival pattern {arrival!r}")
    count = n if n is not None else max(1, round(rate * float(duration_s or 0)))
    m = max(0, count - 1)
    if arrival == "constant" or m < 2:
        gaps = np.full(m, 1.0 / rate)
    else:
        shape = 1.0 if arrival == "poisson" else burstiness
        rng = np.random.default_rng(seed)
        # The quantile function from a large sample (numpy has no gamma ppf; 200 draws per quantile suffice).
        sample = rng.gamma(shape, 1.0 / (rate * shape), size=max(20_000, 200 * m))
        gaps = np.quantile(sample, (np.arange(m) + 0.5) / m)
        rng.shuffle(gaps)
        gaps *= (1.0 / rate) / gaps.mean()
    return [float(x) for x in np.concatenate([[0.0], np.cumsum(gaps)])]


@dataclass(frozen=True)
class WorkerConfig:
    """What every worker needs to send requests (no API key in repr)."""

    backend: str
    base_url: str
    model: str
    prompt_tokens: int
    max_tokens: int
    temperature: float
    connect_timeout_s: float
    read_timeout_s: float
    api_key: str | None = field(default=None, repr=False)

    def endpoint(self) -> Endpoint:
        """The endpoint object of the clients."""
        return Endpoint(self.base_url, self.api_key, self.connect_timeout_s, self.read_timeout_s)


@dataclass(frozen=True)
class Job:
    """One worker's share of a level: request indices, and for an open loop when each is due."""

    concurrency: int  # closed loop: this worker's users; open loop: the level's cap (0 = none)
    indices: tuple[int, ...]
    offsets_s: tuple[float, ...] | None = None  # open loop: due offsets, same order as indices
    rate: float | None = None
    warmup: bool = False
    level_concurrency: int = 1  # the label every result of the level carries
    worker: int = 0
    duration_s: float | None = None  # closed loop: users stop starting requests after this long
    specs: tuple[RequestSpec, ...] | None = None  # a workload: what each index sends (else a fixed prompt)


def _prompt(cfg: WorkerConfig, job: Job, index: int) -> str:
    # Distinct seeds per request keep prompts from sharing a prefix the server could cache.
    level = job.level_concurrency if job.rate is None else int(job.rate * 1000) + 7
    return build_prompt(cfg.prompt_tokens, seed=level * 1_000_003 + index * 2 + int(job.warmup))


class JobRunner:
    """Runs jobs on one event loop with one keep-alive pool; cancellation via `cancel(reason)`."""

    def __init__(self, cfg: WorkerConfig, emit: Callable[[RequestResult], None]) -> None:
        self.cfg, self.emit = cfg, emit
        self.ep = cfg.endpoint()
        self.backend = get_backend(cfg.backend)
        self.session: Any = None
        self.sync_session: requests.Session | None = None  # only for a server-side token recount
        self.tasks: set[asyncio.Task[Any]] = set()
        self.reason: str | None = None
        self.in_flight = 0
        self.pool_size = 1  # connections believed open; the first request opens one anyway
        self.wake: asyncio.Event | None = None  # set on cancel: ends the open loop's wait for the next due time
        self.cut = False  # the level is clearly failing: send nothing more of it, let running requests finish
        self.specs: dict[int, RequestSpec] = {}
        self.turn_done: dict[tuple[int, int], asyncio.Event] = {}  # (conversation, turn) -> finished

    def cancel(self, reason: str) -> None:
        """Stop: no new requests; running ones end as `reason` (call on the loop's thread)."""
        self.reason = self.reason or reason
        if self.wake is not None:
            self.wake.set()
        for t in list(self.tasks):
            t.cancel()

    def stop_sending(self) -> None:
        """Cut the level short: no new requests of it (call on the loop's thread); the next job sends again."""
        self.cut = True
        if self.wake is not None:
            self.wake.set()

    async def close(self) -> None:
        """Close the pools."""
        if self.session is not None:
            await self.session.close()
        if self.sync_session is not None:
            self.sync_session.close()

    async def prepare(self, job: Job) -> None:
        """Open the pool's connections for the job before anything is timed."""
        if self.session is None:
            self.session = new_session(self.ep)
        await self._warm_pool(job.concurrency if job.offsets_s is None else job.concurrency or OPEN_LOOP_POOL)

    async def run(self, job: Job, t_start: float | None = None) -> None:
        """Send the job's requests (closed loop: `concurrency` users; open loop: on the schedule from t_start)."""
        await self.prepare(job)
        self.cut = False
        self.specs = dict(zip(job.indices, job.specs, strict=True)) if job.specs else {}
        self.turn_done = {}
        t_start = time.perf_counter() if t_start is None else t_start
        if job.offsets_s is None:
            queue = list(job.indices)
            until = t_start + job.duration_s if job.duration_s else None
            n_users = max(1, min(job.concurrency, len(queue)))
            users = [self._spawn(self._user(job, queue, until)) for _ in range(n_users)]
            await asyncio.gather(*users, return_exceptions=True)
            return
        cap = asyncio.Semaphore(job.concurrency) if job.concurrency > 0 else None
        self.wake = asyncio.Event()
        running: list[asyncio.Task[Any]] = []
        for index, offset in zip(job.indices, job.offsets_s, strict=True):
            due = t_start + offset
            if (wait := due - time.perf_counter()) > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), wait)
            if cap is not None and not (self.reason or self.cut):
                await cap.acquire()  # waiting here shows as schedule lag: the cap held the request back
            if self.reason or self.cut:
                break
            running.append(self._spawn(self._one(job, index, due, cap)))
        if running:
            await asyncio.wait(running)

    async def _warm_pool(self, n: int) -> None:
        """Open up to n keep-alive connections before timing, so no TCP connect lands inside a TTFT.

        One small metadata GET per missing connection, all at once (aiohttp has no pre-connect call).
        """
        missing = min(n, MAX_POOL) - self.pool_size
        if missing <= 0 or self.reason:
            return
        url = self.ep.base_url + self.backend.warm_path

        async def one() -> None:
            with contextlib.suppress(Exception):  # a failed warm-up GET only means a connect inside TTFT
                async with self.session.get(url, headers=self.ep.headers()) as resp:
                    await resp.read()

        await asyncio.gather(*(one() for _ in range(missing)))
        self.pool_size += missing

    def _spawn(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _user(self, job: Job, queue: list[int], until: float | None) -> None:
        """A closed-loop user: the next request as soon as the last one finished (until the duration is up)."""
        while queue and not (self.reason or self.cut) and (until is None or time.perf_counter() < until):
            await self._one(job, queue.pop(0), time.perf_counter(), None)

    async def _one(self, job: Job, index: int, due: float, cap: asyncio.Semaphore | None) -> None:
        cfg = self.cfg
        result = RequestResult(concurrency=job.level_concurrency, warmup=job.warmup, index=index, rate=job.rate)
        result.due_s, result.worker = due, job.worker
        spec = self.specs.get(index)
        if spec is not None:
            done = self.turn_done.setdefault((spec.conversation, spec.turn), asyncio.Event())
            if spec.turn > 1 and (prev := self.turn_done.get((spec.conversation, spec.turn - 1))):
                await prev.wait()  # a chat's next turn goes out after its previous answer came back
        req = prepare_request(
            self.backend, self.ep, cfg.model, _prompt(cfg, job, index), spec.max_tokens if spec else cfg.max_tokens,
            cfg.temperature, spec.messages if spec else None,
        )  # fmt: skip
        self.in_flight += 1
        if job.rate is not None:
            result.concurrency = self.in_flight  # open loop: requests in flight when this one was sent
        try:
            await stream(self.session, self.backend, self.ep, req, result, lambda: self.reason)
        except Exception as e:  # noqa: BLE001 - the last line of defence: a bug must not lose the run
            result.fail(R.CONNECTION, scrub(f"unexpected {type(e).__name__}: {e}", cfg.api_key)[:250])
        finally:
            self.in_flight -= 1
            if cap is not None:
                cap.release()
            if spec is not None:
                done.set()
        if result.ok and result.output_tokens is None and hasattr(self.backend, "count_tokens"):
            with contextlib.suppress(asyncio.CancelledError):  # a stop during the recount must not lose the sample
                await self._recount(result)
        mark_cold_starts([result])
        self.emit(result)

    async def _recount(self, result: RequestResult) -> None:
        """The server streamed no usage (llama-cpp-python ignores include_usage): ask its tokenizer, off the loop."""
        if self.sync_session is None:
            self.sync_session = requests.Session()
            self.sync_session.trust_env = False
        with contextlib.suppress(Exception):  # a recount is a bonus; without it tokens stay unknown
            n = await asyncio.to_thread(
                self.backend.count_tokens, self.sync_session, self.ep, self.cfg.model, result.text
            )
            if n is not None:
                result.output_tokens, result.output_tokens_source = n, "retokenized"


def worker_info(worker: int, requests_sent: int) -> dict[str, Any]:
    """The JSON entry of one worker: where it ran and how many requests it sent."""
    return {"id": worker, "host": socket.gethostname(), "pid": os.getpid(), "requests": requests_sent}
