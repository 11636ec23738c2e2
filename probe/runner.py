"""The load runner: warm-up, a ladder of concurrency levels, statistics; faults become errors, never exceptions."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import requests

from probe import results as R
from probe import stats
from probe.capacity import LevelCutter, LevelMetrics, MeasuredLevel, run_capacity
from probe.capacity_cli import CapacityOptions
from probe.clients import Endpoint, ProbeError, StopSignal, detect_backend, get_backend
from probe.engine import ARRIVALS, Job, WorkerConfig, arrival_offsets_s
from probe.goodput import level_goodput
from probe.guard import (
    MAX_CONCURRENCY,
    MAX_OUTPUT_TOKENS,
    MAX_PROMPT_TOKENS,
    MAX_RATE_PER_S,
    MAX_REQUESTS_PER_LEVEL,
    MAX_TOTAL_REQUESTS,
    MAX_WARMUP_REQUESTS,
    MAX_WORKERS,
    AllowedHosts,
    HostLookupFailed,
    ProbeInputError,
    host_and_port,
    normalize_base_url,
    public_endpoint,
    scrub,
)
from probe.results import RequestResult
from probe.summary import Knee, LevelSummary
from probe.workers import LocalExecutor, ProcessExecutor, RayExecutor, ray_init
from probe.workload import build_workload


@dataclass
class ProbeSettings:
    """What a run does; validated before anything is sent."""

    concurrency: list[int] = field(default_factory=lambda: [1])
    requests_per_level: int = 8  # closed loop: max(this, its concurrency) requests; open loop: this many
    prompt_tokens: int = 128
    max_tokens: int = 64
    warmup_requests: int = 1
    temperature: float = 0.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    deadline_s: float = 600.0  # the whole run, warm-up included
    rate: list[float] | None = None  # open loop: requests/s, one level each; None = closed loop over `concurrency`
    arrival: str = "poisson"  # poisson | constant | gamma
    burstiness: float = 1.0  # gamma shape K: 1 = Poisson, < 1 burstier, > 1 more regular (vLLM bench serve)
    duration_s: float | None = None  # per level, instead of requests_per_level
    max_concurrency: int | None = None  # open loop: at most this many requests in flight
    seed: int = 0  # the open-loop schedule is drawn from it up front
    workers: int = 1  # local worker processes (or Ray actors) splitting each level
    ray_address: str | None = None  # local | auto | ray://host:port; None = no Ray

    def validate(self) -> None:
        """Raise ProbeInputError with a one-line reason when a setting is out of range."""
        _validate_load(self)
        if not 1 <= self.requests_per_level <= MAX_REQUESTS_PER_LEVEL:
            raise ProbeInputError(f"requests per level must be 1..{MAX_REQUESTS_PER_LEVEL}")
        if self.total_requests() > MAX_TOTAL_REQUESTS:
            raise ProbeInputError(
                f"the run would send {self.total_requests()} requests; the cap is {MAX_TOTAL_REQUESTS}"
            )
        if not 1 <= self.prompt_tokens <= MAX_PROMPT_TOKENS:
            raise ProbeInputError(f"prompt tokens must be 1..{MAX_PROMPT_TOKENS}")
        if not 1 <= self.max_tokens <= MAX_OUTPUT_TOKENS:
            raise ProbeInputError(f"max tokens must be 1..{MAX_OUTPUT_TOKENS}")
        if not 0 <= self.warmup_requests <= MAX_WARMUP_REQUESTS:
            raise ProbeInputError(f"warm-up requests must be 0..{MAX_WARMUP_REQUESTS}")
        if not 0.0 <= self.temperature <= 2.0:
            raise ProbeInputError("temperature must be 0..2")
        for name in ("connect_timeout_s", "read_timeout_s", "deadline_s"):
            v = getattr(self, name)
            if not 0.0 < v <= 86_400:
                raise ProbeInputError(f"{name} must be a positive number of seconds")

    @property
    def open_loop(self) -> bool:
        """Requests sent at a rate rather than by a fixed number of users."""
        return self.rate is not None

    def levels(self) -> list[tuple[int, float | None]]:
        """(concurrency, rate) per level in run order; an open loop's concurrency is its cap (0 = none)."""
        if self.rate is not None:
            return [(self.max_concurrency or 0, r) for r in self.rate]
        return [(c, None) for c in self.concurrency]

    def offsets_s(self, rate: float) -> list[float]:
        """The open-loop schedule of one level, drawn from the seed."""
        n = None if self.duration_s else self.requests_per_level
        offsets = arrival_offsets_s(rate, self.arrival, self.burstiness, self.seed, n, self.duration_s)
        return offsets[:MAX_REQUESTS_PER_LEVEL]

    def requests_at(self, concurrency: int, rate: float | None = None) -> int:
        """Requests a level sends (at most; a closed loop with a duration stops early)."""
        if rate is not None:
            return len(self.offsets_s(rate))
        if self.duration_s:  # users send until the time is up, within the run's share of the request cap
            return min(MAX_REQUESTS_PER_LEVEL, MAX_TOTAL_REQUESTS // max(1, len(self.concurrency)))
        return max(self.requests_per_level, concurrency)

    def total_requests(self) -> int:
        """Requests of the whole run, warm-up included (an upper bound for a closed loop with a duration)."""
        return self.warmup_requests + sum(self.requests_at(c, r) for c, r in self.levels())


def _validate_load(s: ProbeSettings) -> None:
    """The load pattern: levels, rates, arrival, duration, cap, workers."""
    if s.rate is not None:
        if not s.rate:
            raise ProbeInputError("at least one rate is required")
        for r in s.rate:
            if not (isinstance(r, int | float) and 0 < r <= MAX_RATE_PER_S):
                raise ProbeInputError(f"rate {r} must be above 0 and at most {MAX_RATE_PER_S:g} requests/s")
        if s.arrival not in ARRIVALS:
            raise ProbeInputError(f"unknown arrival pattern {s.arrival!r}; choose {', '.join(ARRIVALS)}")
        if not 0 < s.burstiness <= 100:
            raise ProbeInputError("burstiness (gamma shape) must be above 0 and at most 100")
    else:
        if not s.concurrency:
            raise ProbeInputError("at least one concurrency level is required")
        for c in s.concurrency:
            if not 1 <= c <= MAX_CONCURRENCY:
                raise ProbeInputError(f"concurrency {c} is outside 1..{MAX_CONCURRENCY}")
    if s.duration_s is not None and not 0 < s.duration_s <= 3600:
        raise ProbeInputError("duration must be above 0 and at most 3600 seconds per level")
    if s.max_concurrency is not None and not 1 <= s.max_concurrency <= MAX_CONCURRENCY:
        raise ProbeInputError(f"max concurrency must be 1..{MAX_CONCURRENCY}")
    if not 1 <= s.workers <= MAX_WORKERS:
        raise ProbeInputError(f"workers must be 1..{MAX_WORKERS}")


@dataclass
class Progress:
    """Passed to the progress callback after every finished request (concurrency: the level's, or its cap)."""

    done: int
    total: int
    concurrency: int
    result: RequestResult
    elapsed_s: float


@dataclass
class RunReport:
    """A finished (or stopped) run: summaries per level plus every request measured."""

    endpoint: str
    backend: str | None
    model: str
    settings: dict[str, Any]
    status: str = "running"  # complete | cancelled | deadline | failed
    levels: list[LevelSummary] = field(default_factory=list)
    results: list[RequestResult] = field(default_factory=list)  # warm-up included, flagged
    errors: list[dict[str, Any]] = field(default_factory=list)  # run-level faults (detection, DNS, store)
    server: dict[str, Any] = field(default_factory=dict)
    cold_start: dict[str, Any] = field(default_factory=dict)
    knee: Knee | None = None
    run_id: str | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)  # id, host, pid, requests, schedule_lag_s
    capacity: dict[str, Any] | None = None  # a capacity search's answer and path (issue 12)
    server_metrics: dict[str, Any] | None = None  # {source, samples [{t_s, metrics}], note} while levels ran

    @property
    def all_ok(self) -> bool:
        """Every request succeeded and the run had no run-level fault."""
        return (
            self.status == "complete"
            and not self.errors
            and bool(self.levels)
            and all(lv.ok == lv.requests for lv in self.levels)
        )

    def to_json(self) -> dict[str, Any]:
        """The CLI's JSON shape (issue 6), plus run-level extras."""
        return {
            "backend": self.backend,
            "model": self.model,
            "run_id": self.run_id,
            "endpoint": self.endpoint,
            "status": self.status,
            "settings": self.settings,
            "runs": [lv.to_json() for lv in self.levels],
            "errors": self.errors,
            "cold_start": self.cold_start,
            "knee": None if self.knee is None else self.knee.to_json(),
            "server": self.server,
            "workers": self.workers,
            "server_metrics": self.server_metrics,
        } | ({"capacity": self.capacity} if self.capacity is not None else {})


ResultCallback = Callable[[RequestResult], None]
ProgressCallback = Callable[[Progress], None]


def prepare(url: str, allowed: AllowedHosts | None = None) -> str:
    """Normalize the URL and apply the host guard; ProbeInputError / HostLookupFailed otherwise."""
    base = normalize_base_url(url)
    host, port = host_and_port(base)
    (allowed or AllowedHosts.from_env()).check(host, port)
    return base


def run_probe(
    url: str,
    model: str,
    backend: str = "auto",
    settings: ProbeSettings | None = None,
    api_key: str | None = None,
    on_result: ResultCallback | None = None,
    on_progress: ProgressCallback | None = None,
    stop: StopSignal | None = None,
    allowed: AllowedHosts | None = None,
    options: CapacityOptions | None = None,
    store: Any = None,
    run_id: str | None = None,
    on_level: Callable[[dict[str, Any]], None] | None = None,
) -> RunReport:
    """Run the ladder (or, with options.search, a capacity search); a store and run_id keep its steps. Raises ProbeInputError for bad input only; every endpoint fault lands in the report."""
    settings = settings or ProbeSettings()
    settings.validate()
    if backend not in ("auto", "ollama", "openai"):
        raise ProbeInputError(f"unknown backend {backend!r}; choose ollama, openai or auto")
    if not model or not model.strip():
        raise ProbeInputError("a model name is required")
    report = RunReport(
        endpoint=public_endpoint(normalize_base_url(url)),
        backend=None if backend == "auto" else backend,
        model=model.strip(),
        settings=asdict(settings),
    )
    try:
        base = prepare(url, allowed)
    except HostLookupFailed as e:
        report.status = "failed"
        report.errors.append({"kind": R.DNS, "message": str(e)})
        return report
    if settings.ray_address:
        ray_init(settings.ray_address)  # Ray missing or unreachable is bad input, found before anything is sent
    ep = Endpoint(base, api_key, settings.connect_timeout_s, settings.read_timeout_s)
    stop = stop or StopSignal()
    runner = _Runner(report, ep, settings, on_result, on_progress, stop)
    runner.opts, runner.allowed, runner.store, runner.run_id = options or CapacityOptions(), allowed, store, run_id
    runner.on_level = on_level  # each step of a capacity search, as it is known
    return runner.run(backend)


def _is_fatal(kind: str) -> bool:
    """Faults that every further request would repeat (wrong URL, key, model, host)."""
    return kind in (R.REFUSED, R.DNS, R.BAD_STREAM) or (kind.startswith(R.HTTP) and kind[len(R.HTTP) :].startswith("4"))


def split_level(s: ProbeSettings, concurrency: int, rate: float | None, workers: int) -> list[Job]:
    """One Job per worker: a closed loop's users and requests, or an open loop's schedule dealt round-robin."""
    if rate is not None:
        offsets = s.offsets_s(rate)
        return [
            Job(concurrency, tuple(range(w, len(offsets), workers)), tuple(offsets[w::workers]), rate,
                level_concurrency=concurrency, worker=w, duration_s=None)
            for w in range(workers)
        ]  # fmt: skip
    n = s.requests_at(concurrency)
    users = [concurrency // workers + (w < concurrency % workers) for w in range(workers)]
    busy = [w for w in range(workers) if users[w]]
    share = {w: tuple(range(i, n, len(busy))) for i, w in enumerate(busy)}
    return [
        Job(users[w], share.get(w, ()), level_concurrency=concurrency, worker=w, duration_s=s.duration_s)
        for w in range(workers)
    ]


def _chats_whole(jobs: list[Job], specs: list[Any]) -> list[Job]:
    """Deal whole chats to the workers that send (a chat's turns wait for each other only within one worker)."""
    busy = [j for j in jobs if j.indices]
    if len(busy) < 2:
        return jobs
    pairs = sorted(
        (i, off) for j in busy for i, off in zip(j.indices, j.offsets_s or [None] * len(j.indices), strict=True)
    )
    mine: dict[int, list[tuple[int, float | None]]] = {j.worker: [] for j in busy}
    for i, off in pairs:
        mine[busy[specs[i].conversation % len(busy)].worker].append((i, off))
    out = []
    for j in jobs:
        got = mine.get(j.worker, [])
        offsets = tuple(off for _, off in got) if j.offsets_s is not None else None
        out.append(replace(j, indices=tuple(i for i, _ in got), offsets_s=offsets))  # type: ignore[arg-type]
    return out


class _Runner:
    """State of one run; the executor's workers report finished requests into it."""

    def __init__(
        self,
        report: RunReport,
        ep: Endpoint,
        settings: ProbeSettings,
        on_result: ResultCallback | None,
        on_progress: ProgressCallback | None,
        stop: StopSignal,
    ) -> None:
        self.report = report
        self.ep = ep
        self.s = settings
        self.on_result = on_result
        self.on_progress = on_progress
        self.stop = stop
        self.lock = threading.Lock()
        self.done = 0
        self.total = settings.total_requests()
        self.t_start = time.perf_counter()
        self._session: requests.Session | None = None  # metadata calls only
        self.executor: Any = None
        self.opts = CapacityOptions()
        self.allowed: AllowedHosts | None = None
        self.store: Any = None  # with run_id: a capacity search's steps and metric samples are stored
        self.run_id: str | None = None
        self.on_level: Callable[[dict[str, Any]], None] | None = None
        self.cutter: LevelCutter | None = None
        self.samples: list[dict[str, Any]] = []
        self.metrics_source: str | None = None
        self.metrics_note: str | None = None

    def session(self) -> requests.Session:
        """The session for metadata calls."""
        if self._session is None:
            self._session = self.stop.session()
        return self._session

    def _run_error(self, kind: str, message: str) -> None:
        with self.lock:
            self.report.errors.append({"kind": kind, "message": message})

    def _emit(self, result: RequestResult) -> None:
        """Hand one finished request to the callbacks; their failures never stop the run."""
        with self.lock:
            self.report.results.append(result)
            self.done += 1
            done = self.done
            cut = self.cutter is not None and not self.cutter.cut and self.cutter.add(result)
        if cut:
            self.executor.stop_sending()
        if self.on_result is not None:
            try:
                self.on_result(result)
            except Exception as e:  # noqa: BLE001 - e.g. the database went away; keep measuring
                msg = scrub(f"could not store a sample: {type(e).__name__}: {e}", self.ep.api_key)[:250]
                if not any(err["message"] == msg for err in self.report.errors):
                    self._run_error(R.STORE_ERROR, msg)
        if self.on_progress is not None:
            # A broken progress display must not lose measurements.
            with contextlib.suppress(Exception):
                self.on_progress(
                    Progress(done, self.total, result.concurrency, result, time.perf_counter() - self.t_start)
                )
        result.text = ""  # callbacks may read the text; the report does not keep it

    def _executor(self, backend_name: str) -> Any:
        cfg = WorkerConfig(
            backend_name, self.ep.base_url, self.report.model, self.s.prompt_tokens, self.s.max_tokens,
            self.s.temperature, self.ep.connect_timeout_s, self.ep.read_timeout_s, self.ep.api_key,
        )  # fmt: skip
        if self.s.ray_address:
            return RayExecutor(cfg, self._emit, self.s.workers, self.s.ray_address)
        if self.s.workers > 1:
            return ProcessExecutor(cfg, self._emit, self.s.workers)
        return LocalExecutor(cfg, self._emit)

    def _run_jobs(self, jobs: list[Job]) -> list[RequestResult]:
        """Run one level's jobs; the results that came back for it."""
        first = len(self.report.results)
        if not self.stop.is_set():
            self.executor.run_level(jobs)
        with self.lock:
            return self.report.results[first:]

    def run(self, backend_name: str) -> RunReport:
        """Detect, read the server's facts, warm up, climb the ladder, summarise."""
        report = self.report
        deadline = threading.Timer(self.s.deadline_s, self.stop.stop, args=(R.DEADLINE,))
        deadline.daemon = True
        deadline.start()
        try:
            if backend_name == "auto":
                try:
                    backend_name = detect_backend(self.session(), self.ep)
                except ProbeError as e:
                    report.status = "failed"
                    self._run_error(e.kind, f"backend detection failed: {e.message}")
                    return report
                report.backend = backend_name
            backend = get_backend(backend_name)
            # Never raises: each facts call turns its own faults into a missing fact or an '*_error' entry.
            report.server = backend.server_facts(self.session(), self.ep, report.model)
            self.executor = self._executor(backend_name)
            self.stop.add_listener(self.executor.cancel)
            self._ladder(backend)
        finally:
            deadline.cancel()
            if self.executor is not None:
                report.workers = self._worker_entries()
                self.executor.close()
            if self._session is not None:
                self._session.close()
        return report

    def _ladder(self, backend: Any) -> None:
        report, w = self.report, self.s.workers
        warm = [Job(1, tuple(range(self.s.warmup_requests)), warmup=True)] + [Job(0, (), worker=i) for i in range(1, w)]
        warm_results = self._run_jobs(warm) if self.s.warmup_requests else []
        fatal = [r for r in warm_results if r.error_kind and _is_fatal(r.error_kind)]
        if warm_results and len(fatal) == len(warm_results):
            # The ladder would only repeat the same failure hundreds of times; stop here.
            report.status = "failed"
            first = fatal[0]
            self._run_error(first.error_kind or R.CONNECTION, f"warm-up failed: {first.error_message}")
            return
        if self.opts.search:
            self._search(backend)
        else:
            for concurrency, rate in self.s.levels():
                if self.stop.is_set():
                    break
                self._level(backend, concurrency, rate)
        self.report.server_metrics = {"source": self.metrics_source, "samples": self.samples, "note": self.metrics_note}
        measured = [r for r in report.results if not r.warmup]
        report.cold_start = stats.detect_cold_start(warm_results, measured)
        report.knee = stats.find_knee(report.levels, backend.name, report.server)
        report.status = self.stop.reason if self.stop.is_set() else "complete"

    def _search(self, backend: Any) -> None:
        """Capacity search: closed-loop levels for users, open-loop (the arrival pattern) levels for rates."""
        o = self.opts
        assert o.slo is not None and o.search is not None and o.search_max is not None  # options_from_args checks

        def measure(v: float) -> MeasuredLevel:
            if self.stop.is_set():
                return MeasuredLevel([], None)
            if o.search == "concurrency":
                return self._level(backend, int(v), None)
            return self._level(backend, self.s.max_concurrency or 0, v)

        self.report.capacity = run_capacity(
            measure, o.slo, o.search, o.search_max, store=self.store, run_id=self.run_id, on_level=self.on_level
        )

    def _jobs(self, concurrency: int, rate: float | None) -> list[Job]:
        """The level's jobs; with a workload, each carries the messages and max_tokens of its requests."""
        jobs = split_level(self.s, concurrency, rate, self.s.workers)
        o = self.opts
        if not (o.chats or o.prompt_tokens.sd or o.max_tokens.sd or o.shared_prefix_tokens or o.turns > 1):
            return jobs
        n = max((max(j.indices) + 1 for j in jobs if j.indices), default=0)
        if not n:
            return jobs
        seed = self.s.seed * 1_000_003 + len(self.report.levels)
        specs = build_workload(n, o.prompt_tokens, o.max_tokens, seed=seed, shared_prefix_tokens=o.shared_prefix_tokens,
                               turns=o.turns, chats=list(o.chats) if o.chats else None)  # fmt: skip
        if o.turns > 1:
            jobs = _chats_whole(jobs, specs)
        return [replace(j, specs=tuple(specs[i] for i in j.indices)) for j in jobs]

    def _level(self, backend: Any, concurrency: int, rate: float | None) -> MeasuredLevel:
        t0 = time.perf_counter()
        jobs = self._jobs(concurrency, rate)
        value = rate if rate is not None else concurrency
        if self.opts.slo is not None:
            self.cutter = LevelCutter(self.opts.slo, sum(len(j.indices) for j in jobs))
        with LevelMetrics(self.ep.base_url, self.ep.api_key, self.t_start, value, self.store, self.run_id,
                          allowed=self.allowed) as m:  # fmt: skip
            level_results = self._run_jobs(jobs)
        self._keep_metrics(m.result)
        cut, self.cutter = self.cutter is not None and self.cutter.cut, None
        if not level_results:
            return MeasuredLevel([], None, cut)
        # Wall time from the first request sent to the last byte received, for aggregate tokens/s.
        sent = [r.started_perf_s for r in level_results if r.sent_s is not None]
        ends = [r.started_perf_s + r.e2e_s for r in level_results if r.e2e_s is not None]
        wall_s = (max(ends) - min(sent)) if ends and sent else time.perf_counter() - t0
        if rate is not None:  # open loop: the most requests in flight at once, summed over workers
            peaks: dict[int, int] = {}
            for r in level_results:
                peaks[r.worker] = max(peaks.get(r.worker, 0), r.concurrency)
            concurrency = sum(peaks.values())
        summary = stats.summarize_level(concurrency, level_results, wall_s)
        summary.rate = rate
        summary.server = self._server_snapshot(backend)
        if self.opts.slo is not None:
            g = level_goodput(level_results, self.opts.slo, wall_s)
            summary.goodput = {"requests_per_s": g.requests_per_s, "output_tokens_per_s": g.output_tokens_per_s,
                               "attainment": g.attainment, "cut_short": cut}  # fmt: skip
        with self.lock:
            self.report.levels.append(summary)
        return MeasuredLevel(level_results, wall_s, cut)

    def _keep_metrics(self, result: dict[str, Any]) -> None:
        """Add one level's server samples to the run's series (times are from the run's start)."""
        self.metrics_source = self.metrics_source or result.get("source")
        self.metrics_note = self.metrics_note or result.get("note")
        self.samples.extend(result.get("samples") or [])

    def _worker_entries(self) -> list[dict[str, Any]]:
        """Each worker's id, host, pid, requests and its own schedule lag over the run."""
        out = []
        for info in self.executor.infos():
            mine = [r for r in self.report.results if r.worker == info["id"] and r.sent_s is not None]
            lag = stats.percentiles([r.sent_s - r.due_s for r in mine if r.due_s is not None and r.sent_s is not None])
            out.append(info | {"schedule_lag_s": {"p50": lag.p50, "p99": lag.p99}})
        return out

    def _server_snapshot(self, backend: Any) -> dict[str, Any]:
        """What the server says right after a level: memory in use (Ollama) or queue gauges (vLLM)."""
        try:
            if backend.name == "ollama":
                return backend.loaded(self.session(), self.ep, self.report.model)
            return backend.metrics(self.session(), self.ep)
        except Exception:  # noqa: BLE001 - a snapshot is optional
            return {}


@dataclass
class Discovery:
    """What a URL serves: its backend and model names (the page's model picker)."""

    base_url: str
    backend: str
    models: list[str]


def discover(
    url: str,
    backend: str = "auto",
    api_key: str | None = None,
    allowed: AllowedHosts | None = None,
    timeout_s: float = 5.0,
) -> Discovery:
    """Detect the backend and list models. Raises ProbeInputError (bad input) or ProbeError (endpoint fault)."""
    if backend not in ("auto", "ollama", "openai"):
        raise ProbeInputError(f"unknown backend {backend!r}; choose ollama, openai or auto")
    try:
        base = prepare(url, allowed)
    except HostLookupFailed as e:
        raise ProbeError(R.DNS, str(e)) from None
    ep = Endpoint(base, api_key, timeout_s, timeout_s)
    with StopSignal().session() as s:  # the same no-proxy session a run uses
        name = detect_backend(s, ep) if backend == "auto" else backend
        return Discovery(public_endpoint(base), name, get_backend(name).list_models(s, ep))
