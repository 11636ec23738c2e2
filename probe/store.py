"""Result store (SQLAlchemy Core): SQLite under ./data by default, DATABASE_URL for PostgreSQL. Persistence only.

Samples are written as requests finish, so a run killed mid-way keeps what it measured (its status
stays 'running'; probe.record rebuilds its summaries from the samples). Schema changes are additive only: new
tables (create_all) and new nullable columns (ALTER TABLE ADD COLUMN), so a database of an older version opens.
"""

from __future__ import annotations

import datetime as dt
import importlib
import os
import secrets
import sqlite3
import threading
import time
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
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from probe.guard import public_endpoint
from probe.results import RequestResult

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
    # Added for open-loop levels and worker processes (issue 11); nullable, added to older databases on open.
    Column("rate", Float),  # the level's requests/s; None in a closed loop
    Column("worker", Integer),  # which worker process or Ray actor sent the request
    Index("ix_samples_run_id", "run_id"),
)

SAMPLE_FIELDS = (
    "concurrency", "warmup", "ok", "ttft_s", "e2e_s", "itl_s", "output_tokens", "prompt_tokens",
    "content_messages", "load_s", "prompt_eval_s", "eval_s", "total_s", "cold_start", "error_kind", "error_message",
)  # fmt: skip

# A capacity search (issue 12): its SLO and search settings, then the capacity object once it ends.
capacity_runs = Table(
    "capacity_runs",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("search", String(20), nullable=False),  # concurrency | rate
    Column("search_max", Float, nullable=False),
    Column("slo", JSON, nullable=False),  # probe.goodput.Slo.to_json(): targets in seconds and the attainment
    Column("capacity", JSON),  # probe.search.search_capacity()'s object, once the search ends
)

# The search path, one row per level as it is measured (a killed search keeps the levels it finished).
capacity_levels = Table(
    "capacity_levels",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("step", Integer, nullable=False),
    Column("value", Float, nullable=False),  # concurrency (users) or rate (requests/s)
    Column("attainment", Float),
    Column("passed", Boolean, nullable=False),
    Column("level", JSON, nullable=False),  # the whole path entry (goodput, cut_short, reused)
    UniqueConstraint("run_id", "step", name="uq_capacity_levels_run_step"),
)

# Server metrics sampled while a level ran: one row per sample, its gauges as one JSON object.
metric_samples = Table(
    "metric_samples",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("level", Float),  # the level's concurrency or rate; None outside a level
    Column("t_s", Float, nullable=False),  # seconds after the run started
    Column("source", String(40), nullable=False),  # vllm | llama.cpp | ollama
    Column("metrics", JSON, nullable=False),  # {name: value}
    Index("ix_metric_samples_run_id", "run_id"),
)


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
            _create_schema(self.engine)

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
        row = {f: getattr(result, f) for f in SAMPLE_FIELDS}
        row.update(run_id=run_id, idx=result.index, tpot_s=result.tpot_s)
        row.update(rate=getattr(result, "rate", None), worker=getattr(result, "worker", None))  # open-loop fields
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
        """Remove a run and everything stored with it."""
        with self._lock, self.engine.begin() as conn:
            for table in (samples, capacity_levels, capacity_runs, metric_samples):
                conn.execute(delete(table).where(table.c.run_id == run_id))
            conn.execute(delete(runs).where(runs.c.id == run_id))

    def start_capacity(self, run_id: str, search: str, search_max: float, slo: dict[str, Any]) -> None:
        """Record that a run is a capacity search, with its SLO (before the first level)."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(insert(capacity_runs).values(run_id=run_id, search=search, search_max=search_max, slo=slo))

    def add_capacity_level(self, run_id: str, level: dict[str, Any]) -> None:
        """Store one step of the search path as soon as it is known (a path entry of probe.search)."""
        row = {"run_id": run_id, "step": level["step"], "value": level["value"], "passed": bool(level["passed"])}
        with self._lock, self.engine.begin() as conn:
            conn.execute(insert(capacity_levels).values(**row, attainment=level.get("attainment"), level=level))

    def finish_capacity(self, run_id: str, capacity: dict[str, Any]) -> None:
        """Store the search's capacity object."""
        with self._lock, self.engine.begin() as conn:
            conn.execute(update(capacity_runs).where(capacity_runs.c.run_id == run_id).values(capacity=capacity))

    def add_metric_samples(
        self, run_id: str, source: str, points: list[dict[str, Any]], level: float | None = None
    ) -> None:
        """Store server-metric samples ({"t_s", "metrics"}) in one transaction."""
        if not points:
            return
        rows = [
            {"run_id": run_id, "level": level, "t_s": p["t_s"], "source": source, "metrics": p["metrics"]}
            for p in points
        ]
        with self._lock, self.engine.begin() as conn:
            conn.execute(insert(metric_samples), rows)

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

    def get_run(self, run_id: str, rebuild: bool = True) -> dict[str, Any] | None:
        """A run with its samples; None when there is no such run."""
        with self.engine.connect() as conn:
            row = conn.execute(select(runs).where(runs.c.id == run_id)).first()
            if row is None:
                return None
            rows = conn.execute(select(samples).where(samples.c.run_id == run_id).order_by(samples.c.id)).all()
        run = dict(row._mapping)
        run["samples"] = [dict(r._mapping) for r in rows]
        if rebuild and not run.get("summary"):
            # Compatibility: pages/probe.py and compare() expect a summary for runs that never finished. The
            # rebuilding is run logic and lives in probe.record; imported lazily so the store depends on nothing.
            run["summary"] = importlib.import_module("probe.record").rebuilt_summary(run)
        return run

    def get_capacity(self, run_id: str) -> dict[str, Any] | None:
        """A capacity search: its SLO and settings, the stored path so far, the capacity object when it ended."""
        with self.engine.connect() as conn:
            row = conn.execute(select(capacity_runs).where(capacity_runs.c.run_id == run_id)).first()
            if row is None:
                return None
            q = select(capacity_levels.c.level).where(capacity_levels.c.run_id == run_id)
            levels = [r.level for r in conn.execute(q.order_by(capacity_levels.c.step))]
        return dict(row._mapping) | {"levels": levels}

    def list_capacities(self, limit: int = 50) -> list[dict[str, Any]]:
        """Finished capacity searches, newest first: the run's endpoint, model, date and settings with the capacity
        object."""
        cols = (runs.c.id, runs.c.created_at, runs.c.endpoint, runs.c.backend, runs.c.model, runs.c.settings,
                capacity_runs.c.capacity)  # fmt: skip
        q = (
            select(*cols)
            .select_from(runs.join(capacity_runs, capacity_runs.c.run_id == runs.c.id))
            .where(capacity_runs.c.capacity.is_not(None))
            .order_by(runs.c.created_at.desc())
            .limit(limit)
        )
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def metric_series(self, run_id: str) -> list[dict[str, Any]]:
        """A run's server-metric samples in time order: {"level", "t_s", "source", "metrics"}."""
        cols = (metric_samples.c.level, metric_samples.c.t_s, metric_samples.c.source, metric_samples.c.metrics)
        q = select(*cols).where(metric_samples.c.run_id == run_id).order_by(metric_samples.c.t_s, metric_samples.c.id)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

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


def _create_schema(engine: Engine) -> None:
    """Create missing tables and add missing nullable columns; safe when several processes open one database."""
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})  # one at a time
            metadata.create_all(conn)
            _add_missing_columns(conn)
        return
    with engine.connect() as conn:  # SQLite: take the write lock first, so a second process waits, then sees it all
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        metadata.create_all(conn)
        _add_missing_columns(conn)
        conn.commit()


_SCHEMA_LOCK_KEY = 0x70726F6265  # "probe": the advisory lock serialising schema changes on PostgreSQL


def _add_missing_columns(conn: Connection) -> None:
    """ALTER TABLE ADD COLUMN for columns newer than the database; only nullable columns may be added later."""
    insp = inspect(conn)
    for table in metadata.sorted_tables:
        have = {c["name"] for c in insp.get_columns(table.name)}
        for col in table.columns:
            if col.name in have:
                continue
            if not col.nullable:
                raise RuntimeError(f"{table.name}.{col.name} is NOT NULL: a later column must be nullable")
            type_sql = col.type.compile(dialect=conn.dialect)
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {col.name} {type_sql}"))


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """WAL lets the page read while a run writes."""
    cur = dbapi_conn.cursor()
    # Switching to WAL needs an exclusive lock and SQLite answers "database is locked" at once, without its busy
    # timeout, while another process creates the schema: retry for as long as that timeout would have waited.
    deadline = time.monotonic() + 30
    while True:
        try:
            cur.execute("PRAGMA journal_mode=WAL")
            break
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
