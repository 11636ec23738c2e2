"""Result store (SQLAlchemy Core): SQLite under ./data by default, DATABASE_URL for PostgreSQL.

Samples are written as requests finish, so a run killed mid-way keeps what it measured (its status
stays 'running'; summaries are then rebuilt from the samples).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from probe import results as R
from probe import stats
from probe.guard import ProbeInputError, normalize_base_url, public_endpoint
from probe.results import RequestResult
from probe.runner import ProbeSettings, RunReport, run_probe

DEFAULT_SQLITE_PATH = Path("data") / "probe.sqlite"
ENV_DATABASE_URL = "DATABASE_URL"
# What opening or using the store can raise: a bad DATABASE_URL (ArgumentError, or ValueError for a bad port),
# a missing driver (ImportError), an unreachable or broken database (OperationalError), an unwritable folder.
STORE_ERRORS = (SQLAlchemyError, ValueError, ImportError, OSError)

metadata = MetaData()

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("endpoint", String(500), nullable=False),  # never with credentials or a query string
    Column("backend", String(20)),
    Column("model", String(300), nullable=False),
    Column("settings", JSON, nullable=False),
    Column("summary", JSON),  # RunReport.to_json() once the run ends
    Column("status", String(20), nullable=False),  # running | complete | cancelled | deadline | failed
    Index("ix_runs_created_at", "created_at"),
    Index("ix_runs_model", "model"),
)

samples = Table(
    "samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("idx", Integer, nullable=False),
    Column("warmup", Boolean, nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("started_s", Float),  # seconds after the run started
    Column("ttft_s", Float),
    Column("e2e_s", Float),
    Column("tpot_s", Float),
    Column("itl_s", JSON),
    Column("output_tokens", Integer),
    Column("prompt_tokens", Integer),
    Column("content_messages", Integer),
    Column("load_s", Float),
    Column("prompt_eval_s", Float),
    Column("eval_s", Float),
    Column("total_s", Float),
    Column("cold_start", Boolean, nullable=False),
    Column("error_kind", String(40)),
    Column("error_message", String(500)),
    Index("ix_samples_run_id", "run_id"),
)

_SAMPLE_FIELDS = (
    "concurrency", "warmup", "ok", "ttft_s", "e2e_s", "itl_s", "output_tokens", "prompt_tokens",
    "content_messages", "load_s", "prompt_eval_s", "eval_s", "total_s", "cold_start", "error_kind", "error_message",
)  # fmt: skip


def database_url(url: str | None = None) -> str:
    """The URL to use: the argument, else DATABASE_URL, else SQLite under ./data."""
    url = url or os.environ.get(ENV_DATABASE_URL)
    if url:
        if url.startswith("postgres://"):  # Heroku-style scheme; SQLAlchemy wants a driver name
            url = "postgresql+psycopg://" + url[len("postgres://") :]
        return url
    return f"sqlite:///{DEFAULT_SQLITE_PATH}"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ProbeStore:
    """Runs and their samples in one database; safe to call from the runner's worker threads."""

    def __init__(self, url: str | None = None, create: bool = True) -> None:
        self.url = database_url(url)
        parsed = make_url(self.url)
        kwargs: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            db = parsed.database
            if db and db != ":memory:":
                Path(db).parent.mkdir(parents=True, exist_ok=True)
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
        self.engine: Engine = create_engine(self.url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._lock = threading.Lock()  # SQLite allows one writer; serialise ours instead of retrying
        if create:
            metadata.create_all(self.engine)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    # -- writing
    def start_run(self, endpoint: str, backend: str | None, model: str, settings: dict[str, Any]) -> str:
        """Insert a run with status 'running'; returns its id (random, so ids cannot be guessed)."""
        run_id = secrets.token_hex(6)
        with self._lock, self.engine.begin() as conn:
            conn.execute(
                insert(runs).values(
                    id=run_id,
                    created_at=_now(),
                    endpoint=public_endpoint(endpoint),
                    backend=backend,
                    model=model,
                    settings=settings,
                    status="running",
                )
            )
        return run_id

    def add_sample(self, run_id: str, result: RequestResult, run_started_perf_s: float | None = None) -> None:
        """Store one finished request at once (so a killed run keeps it)."""
        row = {f: getattr(result, f) for f in _SAMPLE_FIELDS}
        row.update(run_id=run_id, idx=result.index, tpot_s=result.tpot_s)
        if run_started_perf_s is not None and result.started_perf_s:
            row["started_s"] = result.started_perf_s - run_started_perf_s
        with self._lock, self.engine.begin() as conn:
            conn.execute(insert(samples).values(**row))

    def finish_run(self, run_id: str, summary: dict[str, Any], status: str, backend: str | None = None) -> None:
        """Record the summary and final status."""
        values: dict[str, Any] = {"summary": summary, "status": status, "finished_at": _now()}
        if backend:
            values["backend"] = backend
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(runs).where(runs.c.id == run_id).values(**values))

    def delete_run(self, run_id: str) -> None:
        """Remove a run and its samples."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(delete(samples).where(samples.c.run_id == run_id))
            conn.execute(delete(runs).where(runs.c.id == run_id))

    # -- reading
    def list_runs(self, limit: int = 50, model: str | None = None) -> list[dict[str, Any]]:
        """Newest runs first, without samples; each with its sample count."""
        counts = select(samples.c.run_id, func.count().label("n_samples")).group_by(samples.c.run_id).subquery()
        q = (
            select(runs, func.coalesce(counts.c.n_samples, 0).label("n_samples"))
            .select_from(runs.outerjoin(counts, counts.c.run_id == runs.c.id))
            .order_by(runs.c.created_at.desc())
            .limit(limit)
        )
        if model:
            q = q.where(runs.c.model == model)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        """A run with its samples; summaries are rebuilt from samples when the run never finished."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                return None
            rows = conn.execute(select(samples).where(samples.c.run_id == run_id).order_by(samples.c.id)).all()
        run = dict(row._mapping)
        run["samples"] = [dict(r._mapping) for r in rows]
        if not run.get("summary"):
            run["summary"] = {
                "backend": run["backend"],
                "model": run["model"],
                "run_id": run_id,
                "endpoint": run["endpoint"],
                "status": run["status"],
                "runs": summaries_from_samples(run["samples"]),
                "rebuilt_from_samples": True,
            }
        return run

    def compare(self, run_ids: list[str]) -> list[dict[str, Any]]:
        """One row per (run, concurrency level) with the headline figures, for side-by-side tables."""
        out: list[dict[str, Any]] = []
        for run_id in run_ids:
            run = self.get_run(run_id)
            if run is None:
                continue
            for lv in run["summary"].get("runs", []):
                out.append(
                    {
                        "run_id": run_id,
                        "model": run["model"],
                        "backend": run["backend"],
                        "created_at": run["created_at"],
                        "concurrency": lv["concurrency"],
                        "ok": lv["ok"],
                        "requests": lv["requests"],
                        "ttft_p50_s": lv["ttft_s"]["p50"],
                        "ttft_p99_s": lv["ttft_s"]["p99"],
                        "itl_p50_s": lv["itl_s"]["p50"],
                        "tpot_p50_s": lv["tpot_s"]["p50"],
                        "e2e_p50_s": lv["e2e_s"]["p50"],
                        "output_tokens_per_s": lv["output_tokens_per_s"],
                    }
                )
        return out


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets the page read while a run writes."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def result_from_row(row: dict[str, Any]) -> RequestResult:
    """Rebuild a RequestResult from a stored sample."""
    r = RequestResult(**{f: row.get(f) for f in _SAMPLE_FIELDS if f != "itl_s"})
    r.itl_s = list(row.get("itl_s") or [])
    r.index = row.get("idx") or 0
    r.cold_start = bool(row.get("cold_start"))
    r.content_messages = row.get("content_messages") or 0
    return r


def summaries_from_samples(sample_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-level summaries from stored samples (warm-up excluded); wall time from the start offsets."""
    by_level: dict[int, list[dict[str, Any]]] = {}
    for row in sample_rows:
        if not row.get("warmup"):
            by_level.setdefault(row["concurrency"], []).append(row)
    out = []
    for c in sorted(by_level):
        rows = by_level[c]
        ends = [r["started_s"] + r["e2e_s"] for r in rows if r.get("started_s") is not None and r.get("e2e_s")]
        starts = [r["started_s"] for r in rows if r.get("started_s") is not None]
        wall = (max(ends) - min(starts)) if ends and starts else None
        out.append(stats.summarize_level(c, [result_from_row(r) for r in rows], wall).to_json())
    return out


@dataclass(frozen=True)
class MeasuredSpeed:
    """A stored single-user decode measurement the speed and cost pages can use instead of a forecast."""

    decode_tokens_per_s: float  # 1 / TPOT p50 at the given concurrency
    run_id: str
    model: str
    backend: str | None
    endpoint: str
    created_at: dt.datetime
    concurrency: int
    ttft_p50_s: float | None
    server_decode_tokens_per_s: float | None  # Ollama's eval_count / eval_duration, when reported


def measured_decode_tokens_per_s(
    model_name: str, concurrency: int = 1, url: str | None = None, endpoint: str | None = None
) -> MeasuredSpeed | None:
    """The newest stored run of a model with a successful level at `concurrency`; None when there is none."""
    db_url = database_url(url)
    parsed = make_url(db_url)
    is_file_db = parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:"
    if is_file_db and not Path(str(parsed.database)).exists():
        return None  # reading must not create an empty database
    store = ProbeStore(db_url)
    try:
        for run in store.list_runs(limit=200, model=model_name):
            if endpoint and run["endpoint"] != public_endpoint(endpoint):
                continue
            summary = run.get("summary") or {}
            for lv in summary.get("runs", []):
                tpot = lv.get("tpot_s", {}).get("p50")
                if lv.get("concurrency") == concurrency and lv.get("ok") and tpot:
                    created = run["created_at"]
                    return MeasuredSpeed(
                        decode_tokens_per_s=1.0 / tpot,
                        run_id=run["id"],
                        model=run["model"],
                        backend=run["backend"],
                        endpoint=run["endpoint"],
                        created_at=created,
                        concurrency=concurrency,
                        ttft_p50_s=lv.get("ttft_s", {}).get("p50"),
                        server_decode_tokens_per_s=(lv.get("ttft_breakdown_s") or {}).get(
                            "server_decode_tokens_per_s_mean"
                        ),
                    )
    finally:
        store.close()
    return None


def run_and_save(store: ProbeStore, url: str, model: str, backend: str = "auto", **kwargs: Any) -> RunReport:
    """run_probe with every sample stored as it finishes; returns the RunReport with its run_id set."""
    settings = kwargs.pop("settings", None) or ProbeSettings()
    settings.validate()  # bad input raises before a row exists
    endpoint = normalize_base_url(url)
    run_id = store.start_run(endpoint, None if backend == "auto" else backend, model.strip(), asdict(settings))
    t0 = time.perf_counter()
    user_on_result = kwargs.pop("on_result", None)

    def on_result(result: RequestResult) -> None:
        store.add_sample(run_id, result, t0)
        if user_on_result is not None:
            user_on_result(result)

    try:
        report = run_probe(url, model, backend, settings=settings, on_result=on_result, **kwargs)
    except ProbeInputError:
        store.delete_run(run_id)  # nothing was sent (e.g. host not allowed): leave no empty run behind
        raise
    report.run_id = run_id
    try:
        store.finish_run(run_id, report.to_json(), report.status, report.backend)
    except STORE_ERRORS as e:  # the samples are stored already; the caller still gets every figure
        report.errors.append({"kind": R.STORE_ERROR, "message": f"could not store the summary: {type(e).__name__}"})
    return report
