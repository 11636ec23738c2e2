"""Where jobs run: this process (one event loop), local worker processes, or Ray actors.

Every executor takes one Job per worker for a level, starts them together (a shared barrier), hands each finished
RequestResult to `emit` in this process, and turns the requests of a worker that died into errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import queue
import threading
import time
import warnings
from collections.abc import Callable
from typing import Any

from probe import results as R
from probe.engine import Job, JobRunner, WorkerConfig, worker_info
from probe.guard import ProbeInputError
from probe.results import RequestResult

Emit = Callable[[RequestResult], None]
GO_AHEAD_S = 0.02  # the schedule starts this long after the barrier opens, so every worker is awake by then
ARMED_TIMEOUT_S = 60.0  # a worker that cannot even take its job in this time is treated as dead


def lost(job: Job, got: set[int], why: str, emit: Emit) -> None:
    """Every request of `job` without a result becomes an error: the worker is gone."""
    for index in job.indices:
        if index not in got:
            r = RequestResult(concurrency=job.level_concurrency, warmup=job.warmup, index=index, rate=job.rate)
            r.worker = job.worker
            emit(r.fail(R.WORKER_LOST, why))


class LocalExecutor:
    """One worker: a JobRunner on an event loop in the calling thread."""

    def __init__(self, cfg: WorkerConfig, emit: Emit, use_uvloop: bool = True) -> None:
        self.loop = _new_loop(use_uvloop)
        self.runner = JobRunner(cfg, emit)
        self.sent = 0

    def run_level(self, jobs: list[Job]) -> None:
        """Run this level's only job."""
        self.sent += len(jobs[0].indices)
        self.loop.run_until_complete(self.runner.run(jobs[0]))

    def cancel(self, reason: str) -> None:
        """From any thread."""
        with contextlib.suppress(RuntimeError):  # the loop is already closed: nothing runs
            self.loop.call_soon_threadsafe(self.runner.cancel, reason)

    def stop_sending(self) -> None:
        """From any thread: the level is clearly failing; requests already sent finish."""
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self.runner.stop_sending)

    def infos(self) -> list[dict[str, Any]]:
        """One entry: this process."""
        return [worker_info(0, self.sent)]

    def close(self) -> None:
        """Close the pool and the loop."""
        self.loop.run_until_complete(self.runner.close())
        self.loop.close()


def _new_loop(use_uvloop: bool = True) -> asyncio.AbstractEventLoop:
    """uvloop where it is installed: in bench/bench_probe_timing.py it cut the probe's TTFT error p50 at 16
    streams by ~0.7 ms and its p99 by half, same run (README, Probe); the standard loop otherwise."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # e.g. Windows: the standard loop measures the same things, a little less tightly
            return asyncio.new_event_loop()
        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


# ----------------------------------------------------------------------------------------- local processes


def _process_main(
    worker: int, cfg: WorkerConfig, jobs: Any, out: Any, go: Any, stop: Any, reason: Any, t_go: Any, cut: Any
) -> None:
    """A worker process: take a job, open its connections, say armed, wait for go, run it, say done.

    Results stream back as they finish. The schedule starts at the parent's t_go: perf_counter is the machine's
    CLOCK_MONOTONIC, the same in every process, so all workers share one time origin.
    """
    loop = _new_loop()
    runner = JobRunner(cfg, lambda r: out.put(("result", worker, r)))

    async def watch() -> None:  # the parent's stop reaches this loop through a shared event
        while True:
            if stop.is_set():
                runner.cancel(reason.value.decode() or R.CANCELLED)
            if cut.is_set() and not runner.cut:  # the parent cut this level short (clearly failing its SLO)
                runner.stop_sending()
            await asyncio.sleep(0.02)

    watcher = loop.create_task(watch())
    while (job := jobs.get()) is not None:
        loop.run_until_complete(runner.prepare(job))
        out.put(("armed", worker, None))
        go.wait()
        loop.run_until_complete(runner.run(job, t_go.value))
        out.put(("done", worker, None))
    watcher.cancel()
    loop.run_until_complete(runner.close())
    out.put(("info", worker, worker_info(worker, 0)))


class ProcessExecutor:
    """N local worker processes (spawned, so a Streamlit server's threads are never forked).

    Each worker writes to its own queue, read by its own thread here: a worker killed in the middle of a write
    leaves a half message that would block a reader for ever; then only that worker's reader thread waits.
    """

    def __init__(self, cfg: WorkerConfig, emit: Emit, n: int) -> None:
        ctx = mp.get_context("spawn")
        self.emit, self.n = emit, n
        self.inbox: queue.SimpleQueue[tuple[str, int, Any]] = queue.SimpleQueue()
        self.go, self.stop, self.cut = ctx.Event(), ctx.Event(), ctx.Event()
        self.reason = ctx.Array("c", 32)
        self.t_go = ctx.Value("d", 0.0)
        self.jobs_qs = [ctx.Queue() for _ in range(n)]
        outs = [ctx.Queue() for _ in range(n)]
        self.procs = [
            ctx.Process(target=_process_main, args=(i, cfg, self.jobs_qs[i], outs[i], self.go, self.stop, self.reason,
                        self.t_go, self.cut), daemon=True, name=f"probe-worker-{i}")
            for i in range(n)
        ]  # fmt: skip
        for i, p in enumerate(self.procs):
            p.start()
            threading.Thread(target=self._pump, args=(outs[i],), daemon=True, name=f"probe-worker-{i}-reader").start()
        self.sent = [0] * n
        self.dead: dict[int, str] = {}

    def _pump(self, out: Any) -> None:
        """Move one worker's messages to the shared in-process queue until its last one."""
        while True:
            msg = out.get()
            self.inbox.put(msg)
            if msg[0] == "info":
                return

    def run_level(self, jobs: list[Job]) -> None:
        """Hand out the jobs, release them together once all are armed, collect until every worker is done."""
        self.go.clear()
        self.cut.clear()
        live = [i for i in range(self.n) if i not in self.dead]
        self.got: dict[int, set[int]] = {i: set() for i in range(self.n)}
        for i in range(self.n):
            if i in self.dead:
                lost(jobs[i], set(), self.dead[i], self.emit)
            else:
                self.jobs_qs[i].put(jobs[i])
                self.sent[i] += len(jobs[i].indices)
        self.armed: set[int] = set()
        self.done: set[int] = set()
        t_armed = time.monotonic()
        while len(self.done | set(self.dead)) < self.n:
            self._take(timeout_s=0.1)
            if not self.go.is_set() and (self.armed | set(self.dead)) >= set(live):
                self.t_go.value = time.perf_counter() + GO_AHEAD_S
                self.go.set()  # the barrier: every live worker holds its job
            self._check_dead(jobs, t_armed)

    def _take(self, timeout_s: float) -> bool:
        """Handle one message; False when none came in time."""
        try:
            kind, worker, payload = self.inbox.get(timeout=timeout_s)
        except queue.Empty:
            return False
        if kind == "result":
            self.got[worker].add(payload.index)
            self.emit(payload)
        elif kind == "armed":
            self.armed.add(worker)
        elif kind == "done":
            self.done.add(worker)
        return True

    def _check_dead(self, jobs: list[Job], t0: float) -> None:
        for i, p in enumerate(self.procs):
            if i in self.dead or i in self.done:
                continue
            slow = i not in self.armed and time.monotonic() - t0 > ARMED_TIMEOUT_S
            if p.exitcode is not None or slow:
                while self._take(timeout_s=0.2):  # what it sent before dying is still on its way: keep it
                    pass
                if i in self.done:
                    continue
                why = f"worker {i} (pid {p.pid}) " + (f"died (exit {p.exitcode})" if p.exitcode is not None else "hung")
                self.dead[i] = why + "; its unfinished requests were not measured"
                lost(jobs[i], self.got[i], self.dead[i], self.emit)

    def stop_sending(self) -> None:
        """From any thread: the level is clearly failing; workers send nothing more of it."""
        self.cut.set()

    def cancel(self, reason: str) -> None:
        """From any thread: every worker stops its requests as `reason`."""
        self.reason.value = reason.encode()[:31]
        self.stop.set()
        self.go.set()  # a worker waiting at the barrier must not wait forever

    def infos(self) -> list[dict[str, Any]]:
        """One entry per worker process."""
        import socket

        host = socket.gethostname()
        return [{"id": i, "host": host, "pid": p.pid, "requests": self.sent[i]} for i, p in enumerate(self.procs)]

    def close(self) -> None:
        """Tell each worker to finish, then reap it."""
        for i, jobs in enumerate(self.jobs_qs):
            if i not in self.dead:
                jobs.put(None)
        for p in self.procs:
            p.join(timeout=5)
            if p.is_alive():
                p.kill()


# ----------------------------------------------------------------------------------------- Ray


def ray_init(address: str) -> Any:
    """Connect to Ray ('local' starts a small runtime here); ProbeInputError when Ray is missing or unreachable."""
    try:
        import ray
    except ImportError:
        raise ProbeInputError("--ray-address needs Ray: pip install -r requirements-ray.txt") from None
    if ray.is_initialized():
        return ray
    if address.startswith("ray://"):
        _reachable(address)
    here = os.path.dirname(os.path.abspath(__file__))
    env = {"py_modules": [here]}  # the probe package travels to the cluster's workers
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray warns on stderr before it raises; the one-line error says it all
            if address == "local":
                ray.init(num_cpus=2, include_dashboard=False, runtime_env=env, log_to_driver=False,
                         configure_logging=False)  # fmt: skip
            else:
                ray.init(address=address, runtime_env=env, log_to_driver=False, configure_logging=False)
    except Exception as e:  # noqa: BLE001 - ConnectionError, RuntimeError, ValueError: all mean "not reachable"
        raise ProbeInputError(f"cannot reach Ray at {address}: {type(e).__name__}: {e}".splitlines()[0][:300]) from None
    return ray


def _reachable(address: str, timeout_s: float = 3.0) -> None:
    """A quick TCP check of a ray:// address (Ray's own client waits 30 s before it gives up)."""
    import socket
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(address)
        with socket.create_connection((parts.hostname or "", parts.port or 10001), timeout=timeout_s):
            pass
    except (OSError, ValueError) as e:
        raise ProbeInputError(f"cannot reach Ray at {address}: {type(e).__name__}: {e}".splitlines()[0][:300]) from None


class RayExecutor:
    """The same workers as Ray actors; a barrier actor starts them together; each times its own requests."""

    def __init__(self, cfg: WorkerConfig, emit: Emit, n: int, address: str) -> None:
        self.ray = ray_init(address)
        self.emit, self.n, self.address = emit, n, address
        actor, barrier = _ray_classes(self.ray)
        self.barrier_cls = barrier
        self.actors = [actor.options(num_cpus=0).remote(i, cfg) for i in range(n)]
        self.sent = [0] * n
        self.dead: dict[int, str] = {}
        self._infos: list[dict[str, Any]] = [{} for _ in range(n)]

    def run_level(self, jobs: list[Job]) -> None:
        """All actors wait at one barrier, run, and return their results."""
        live = [i for i in range(self.n) if i not in self.dead]
        for i in set(range(self.n)) - set(live):
            lost(jobs[i], set(), self.dead[i], self.emit)
        barrier = self.barrier_cls.options(num_cpus=0).remote(len(live))
        refs = {self.actors[i].run.remote(jobs[i], barrier): i for i in live}
        for i in live:
            self.sent[i] += len(jobs[i].indices)
        pending = list(refs)
        while pending:
            ready, pending = self.ray.wait(pending, num_returns=1, timeout=0.5)
            for ref in ready:
                i = refs[ref]
                try:
                    results, info = self.ray.get(ref)
                except Exception as e:  # noqa: BLE001 - RayActorError and kin: the actor is gone
                    self.dead[i] = f"Ray worker {i} died ({type(e).__name__}); its requests were not measured"
                    lost(jobs[i], set(), self.dead[i], self.emit)
                    continue
                self._infos[i] = info
                for r in results:
                    self.emit(r)

    def stop_sending(self) -> None:
        """From any thread: the level is clearly failing; actors send nothing more of it."""
        for a in self.actors:
            with contextlib.suppress(Exception):
                a.stop_sending.remote()

    def cancel(self, reason: str) -> None:
        """From any thread."""
        for a in self.actors:
            with contextlib.suppress(Exception):
                a.cancel.remote(reason)

    def infos(self) -> list[dict[str, Any]]:
        """Where each actor ran."""
        return [{**self._infos[i], "id": i, "requests": self.sent[i]} for i in range(self.n)]

    def close(self) -> None:
        """Free the actors; a runtime this probe started itself is shut down."""
        for a in self.actors:
            with contextlib.suppress(Exception):
                self.ray.kill(a)
        if self.address == "local":
            self.ray.shutdown()


def _ray_classes(ray: Any) -> tuple[Any, Any]:
    """The actor classes, defined once Ray is imported (Ray stays optional)."""

    class ProbeWorker:
        def __init__(self, worker: int, cfg: WorkerConfig) -> None:
            self.worker, self.cfg = worker, cfg
            self.results: list[RequestResult] = []
            self.runner: JobRunner | None = None

        async def run(self, job: Job, barrier: Any) -> tuple[list[RequestResult], dict[str, Any]]:
            self.results = []
            if self.runner is None:
                self.runner = JobRunner(self.cfg, self.results.append)
            self.runner.emit = self.results.append
            await barrier.arrive.remote()
            await self.runner.run(job)
            return self.results, worker_info(self.worker, len(job.indices))

        def cancel(self, reason: str) -> None:
            if self.runner is not None:
                self.runner.cancel(reason)

        def stop_sending(self) -> None:
            if self.runner is not None:
                self.runner.stop_sending()

    class Barrier:
        def __init__(self, parties: int) -> None:
            self.parties, self.count = parties, 0
            self.event = asyncio.Event()

        async def arrive(self) -> None:
            self.count += 1
            if self.count >= self.parties:
                self.event.set()
            await self.event.wait()

    return ray.remote(ProbeWorker), ray.remote(Barrier)
