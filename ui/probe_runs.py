"""Stored probe runs and measurements as pages use them: pages never import the store or SQLAlchemy."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from probe.record import MeasuredSpeed, measured_decode_tokens_per_s, run_and_save
from probe.report import USE_MEASUREMENT_KEY
from probe.store import STORE_ERRORS, ProbeStore, database_url
from probe.summary import Knee, LevelSummary, levels_from_json

__all__ = [
    "STORE_ERRORS",
    "USE_MEASUREMENT_KEY",
    "MeasuredEfficiency",
    "MeasuredSpeed",
    "StoredRun",
    "compare_runs",
    "database_url",
    "get_run",
    "list_runs",
    "list_runs_if_stored",
    "measured_speed",
    "run_and_save",
    "with_store",
]


def with_store(use: Callable[[ProbeStore], Any], url: str | None = None) -> Any:
    """Open the result store, use it and close it; STORE_ERRORS reach the caller."""
    store = ProbeStore(url)
    try:
        return use(store)
    finally:
        store.close()


def _store_exists(url: str | None) -> bool:
    """False for a SQLite file that does not exist yet (reading must not create an empty database)."""
    parsed = make_url(database_url(url))
    db = parsed.database
    return not (parsed.get_backend_name() == "sqlite" and db and db != ":memory:" and not Path(db).exists())


def list_runs(limit: int = 100, url: str | None = None) -> list[dict[str, Any]]:
    """Newest stored runs first (no samples); the store is created when missing, so a bad location is an error."""
    return with_store(lambda s: s.list_runs(limit=limit), url)


def list_runs_if_stored(limit: int = 100, url: str | None = None) -> list[dict[str, Any]]:
    """As list_runs, but empty (no file created) when there is no store yet: for pages that only read."""
    return list_runs(limit, url) if _store_exists(url) else []


def compare_runs(run_ids: list[str], url: str | None = None) -> list[dict[str, Any]]:
    """One row per (run, level) with headline figures."""
    return with_store(lambda s: s.compare(run_ids), url)


@dataclass(frozen=True)
class StoredRun:
    """A stored run as the page shows it: the JSON summary, its typed levels and knee, and every sample."""

    summary: dict[str, Any]
    levels: list[LevelSummary]
    knee: Knee | None
    samples: list[dict[str, Any]]
    created_at: dt.datetime | None


def typed_summary(summary: dict[str, Any]) -> tuple[list[LevelSummary], Knee | None]:
    """Typed levels and knee of a run summary (live or stored JSON)."""
    knee = summary.get("knee")
    return levels_from_json(summary.get("runs")), Knee.model_validate(knee) if knee else None


def get_run(run_id: str, url: str | None = None) -> StoredRun | None:
    """A stored run by id, None when there is none."""
    run = with_store(lambda s: s.get_run(run_id), url)
    if run is None:
        return None
    summary = dict(run["summary"])
    summary.setdefault("run_id", run_id)
    summary.setdefault("settings", run["settings"])  # a summary rebuilt from samples has none
    summary["status"] = run["status"]
    levels, knee = typed_summary(summary)
    return StoredRun(summary, levels, knee, run["samples"], run.get("created_at"))


def measured_speed(model: str, concurrency: int = 1, url: str | None = None) -> MeasuredSpeed | None:
    """The newest stored single-user decode speed of a served model name; STORE_ERRORS reach the caller."""
    return measured_decode_tokens_per_s(model, concurrency=concurrency, url=url)


@dataclass(frozen=True)
class MeasuredEfficiency:
    """'Use my measurement': a probe's decode speed turned into the bandwidth efficiency a forecast uses."""

    model_id: str
    quant: str
    hardware_id: str
    engine: str
    run_id: str | None
    decode_tokens_per_s: float
    bandwidth_efficiency: float  # fraction of the device's memory bandwidth the measurement implies

    def to_session(self) -> dict[str, Any]:
        """The plain dict kept in session state and read by calculators (cost.measured_forecast_factory)."""
        return {
            "model": self.model_id,
            "quant": self.quant,
            "hw": self.hardware_id,
            "engine": self.engine,
            "run_id": self.run_id,
            "decode_tokens_per_s": self.decode_tokens_per_s,
            "efficiency_override": self.bandwidth_efficiency,
        }

    @classmethod
    def from_session(cls, d: dict[str, Any] | None) -> MeasuredEfficiency | None:
        """Back from session state; None when absent or incomplete."""
        try:
            return cls(
                d["model"], d["quant"], d["hw"], d["engine"], d.get("run_id"),
                float(d["decode_tokens_per_s"]), float(d["efficiency_override"]),
            )  # fmt: skip
        except (KeyError, TypeError, ValueError):
            return None
