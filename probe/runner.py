"""The load runner: warm-up, a ladder of concurrency levels, statistics; faults become errors, never exceptions."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from probe import results as R
from probe import stats
from probe.clients import Endpoint, ProbeError, StopSignal, detect_backend, get_backend
from probe.guard import (
    MAX_CONCURRENCY,
    MAX_OUTPUT_TOKENS,
    MAX_PROMPT_TOKENS,
    MAX_REQUESTS_PER_LEVEL,
    MAX_TOTAL_REQUESTS,
    MAX_WARMUP_REQUESTS,
    AllowedHosts,
    HostLookupFailed,
    ProbeInputError,
    host_and_port,
    normalize_base_url,
    public_endpoint,
    scrub,
)
from probe.prompt import build_prompt
from probe.results import RequestResult
from probe.summary import Knee, LevelSummary


@dataclass
class ProbeSettings:
    """What a run does; validated before anything is sent."""

    concurrency: list[int] = field(default_factory=lambda: [1])
    requests_per_level: int = 8  # a level sends max(this, its concurrency) requests
    prompt_tokens: int = 128
    max_tokens: int = 64
    warmup_requests: int = 1
    temperature: float = 0.0
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 60.0
    deadline_s: float = 600.0  # the whole run, warm-up included

    def validate(self) -> None:
        """Raise ProbeInputError with a one-line reason when a setting is out of range."""
        if not self.concurrency:
            raise ProbeInputError("at least one concurrency level is required")
        for c in self.concurrency:
            if not 1 <= c <= MAX_CONCURRENCY:
                raise ProbeInputError(f"concurrency {c} is outside 1..{MAX_CONCURRENCY}")
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

    def requests_at(self, concurrency: int) -> int:
        """Requests sent at one level: enough to keep every worker busy at least once."""
        return max(self.requests_per_level, concurrency)

    def total_requests(self) -> int:
        """Requests of the whole run, warm-up included."""
        return self.warmup_requests + sum(self.requests_at(c) for c in self.concurrency)


@dataclass
class Progress:
    """Passed to the progress callback after every finished request."""

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
        }


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
) -> RunReport:
    """Run the ladder. Raises ProbeInputError for bad input only; every endpoint fault lands in the report."""
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
    ep = Endpoint(base, api_key, settings.connect_timeout_s, settings.read_timeout_s)
    stop = stop or StopSignal()
    runner = _Runner(report, ep, settings, on_result, on_progress, stop)
    return runner.run(backend)


def _is_fatal(kind: str) -> bool:
    """Faults that every further request would repeat (wrong URL, key, model, host)."""
    return kind in (R.REFUSED, R.DNS, R.BAD_STREAM) or (kind.startswith(R.HTTP) and kind[len(R.HTTP) :].startswith("4"))


class _Runner:
    """State of one run; worker threads report into it."""

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
        self.sessions: list[requests.Session] = []
        # Idle sessions (each one kept-alive connection), reused across warm-up and levels so that only
        # the first request of each extra worker pays a TCP connect inside its TTFT.
        self.idle: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()

    def session(self) -> requests.Session:
        """The session for metadata calls (the first one created)."""
        if not self.sessions:
            self.idle.put(self._new_session())
        return self.sessions[0]

    def _new_session(self) -> requests.Session:
        s = self.stop.session()
        with self.lock:
            self.sessions.append(s)
        return s

    def _borrow(self) -> requests.Session:
        try:
            return self.idle.get_nowait()
        except queue.Empty:
            return self._new_session()

    def _run_error(self, kind: str, message: str) -> None:
        with self.lock:
            self.report.errors.append({"kind": kind, "message": message})

    def _emit(self, result: RequestResult) -> None:
        """Hand one finished request to the callbacks; their failures never stop the run."""
        with self.lock:
            self.report.results.append(result)
            self.done += 1
            done = self.done
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

    def _one(self, backend: Any, concurrency: int, index: int, warmup: bool) -> RequestResult | None:
        if self.stop.is_set():
            return None  # never sent: not a measurement, not an error of the endpoint
        result = RequestResult(concurrency=concurrency, warmup=warmup, index=index)
        # Distinct seeds per request keep prompts from sharing a prefix the server could cache.
        prompt = build_prompt(self.s.prompt_tokens, seed=concurrency * 1_000_003 + index * 2 + int(warmup))
        session = self._borrow()
        try:
            backend.stream(
                session,
                self.ep,
                self.report.model,
                prompt,
                self.s.max_tokens,
                result,
                self.stop,
                self.s.temperature,
            )
        except Exception as e:  # noqa: BLE001 - the last line of defence: a bug must not lose the run
            result.fail(R.CONNECTION, scrub(f"unexpected {type(e).__name__}: {e}", self.ep.api_key)[:250])
        if result.ok and result.output_tokens is None and hasattr(backend, "count_tokens"):
            # The server streamed no usage (llama-cpp-python ignores include_usage): ask its tokenizer.
            try:
                n = backend.count_tokens(session, self.ep, self.report.model, result.text)
            except Exception:  # noqa: BLE001 - a recount is a bonus; without it tokens stay unknown
                n = None
            if n is not None:
                result.output_tokens, result.output_tokens_source = n, "retokenized"
        self.idle.put(session)
        stats.mark_cold_starts([result])
        self._emit(result)
        result.text = ""  # callbacks may read the text; the report does not keep it
        return result

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
            warm = [self._one(backend, 1, i, True) for i in range(self.s.warmup_requests)]
            warm_results = [r for r in warm if r is not None]
            fatal = [r for r in warm_results if r.error_kind and _is_fatal(r.error_kind)]
            if warm_results and len(fatal) == len(warm_results):
                # The ladder would only repeat the same failure hundreds of times; stop here.
                report.status = "failed"
                first = fatal[0]
                self._run_error(first.error_kind or R.CONNECTION, f"warm-up failed: {first.error_message}")
                return report
            for c in self.s.concurrency:
                if self.stop.is_set():
                    break
                self._level(backend, c)
            measured = [r for r in report.results if not r.warmup]
            report.cold_start = stats.detect_cold_start(warm_results, measured)
            report.knee = stats.find_knee(report.levels, backend_name, report.server)
            report.status = self.stop.reason if self.stop.is_set() else "complete"
        finally:
            deadline.cancel()
            for s in self.sessions:
                s.close()
        return report

    def _level(self, backend: Any, concurrency: int) -> None:
        n = self.s.requests_at(concurrency)
        t0 = time.perf_counter()
        with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix=f"probe-c{concurrency}") as pool:
            futures = [pool.submit(self._one, backend, concurrency, i, False) for i in range(n)]
            level_results = [r for f in futures if (r := f.result()) is not None]
        if not level_results:
            return
        # Wall time from the first request sent to the last byte received, for aggregate tokens/s.
        ends = [r.started_perf_s + r.e2e_s for r in level_results if r.e2e_s is not None]
        wall_s = (max(ends) - min(r.started_perf_s for r in level_results)) if ends else time.perf_counter() - t0
        summary = stats.summarize_level(concurrency, level_results, wall_s)
        summary.server = self._server_snapshot(backend)
        with self.lock:
            self.report.levels.append(summary)

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
