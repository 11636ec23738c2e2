"""The result store: round trip, compare, a run killed mid-way keeps its samples, PostgreSQL DDL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateTable

from probe.record import measured_decode_tokens_per_s, run_and_save
from probe.runner import ProbeSettings
from probe.store import ProbeStore, database_url, runs, samples
from tests.probe.servers import ScheduledSource

ROOT = Path(__file__).resolve().parents[2]


def test_default_url_is_sqlite_under_data(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL")
    assert database_url() == "sqlite:///data/probe.sqlite"
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db/probe")
    assert database_url() == "postgresql+psycopg://u:p@db/probe"


def test_store_creates_its_folder(tmp_path: Path) -> None:
    store = ProbeStore(f"sqlite:///{tmp_path / 'a' / 'b' / 'probe.sqlite'}")
    assert (tmp_path / "a" / "b" / "probe.sqlite").exists()
    store.close()


def test_schema_compiles_for_postgresql() -> None:
    # psycopg is not installed here; the DDL must still be valid PostgreSQL (JSON, BOOLEAN, TIMESTAMP WITH TIME ZONE).
    ddl = str(CreateTable(runs).compile(dialect=postgresql.dialect())) + str(
        CreateTable(samples).compile(dialect=postgresql.dialect())
    )
    assert "TIMESTAMP WITH TIME ZONE" in ddl and "JSON" in ddl and "BOOLEAN" in ddl and "SERIAL" in ddl


def test_run_and_save_round_trip_and_compare(fake_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(num_parallel=2)
    store = ProbeStore()
    settings = ProbeSettings(concurrency=[1, 2], requests_per_level=2, max_tokens=5, prompt_tokens=16)
    report = run_and_save(store, srv.url, "tiny", "ollama", settings=settings, api_key=None)
    rows = store.list_runs()
    assert [r["id"] for r in rows] == [report.run_id] and rows[0]["status"] == "complete"
    assert rows[0]["n_samples"] == 1 + 2 + 2  # warm-up included, flagged
    run = store.get_run(report.run_id)
    assert run["endpoint"] == srv.url and run["backend"] == "ollama" and run["settings"]["max_tokens"] == 5
    assert sum(s["warmup"] for s in run["samples"]) == 1
    assert run["summary"]["runs"] == report.to_json()["runs"]
    cmp = store.compare([report.run_id, "nope"])
    assert [(c["run_id"], c["concurrency"]) for c in cmp] == [(report.run_id, 1), (report.run_id, 2)]
    speed = measured_decode_tokens_per_s("tiny")
    assert speed is not None and speed.run_id == report.run_id
    assert speed.decode_tokens_per_s == pytest.approx(1 / report.levels[0].to_json()["tpot_s"]["p50"])
    assert measured_decode_tokens_per_s("other-model") is None
    store.close()


def test_reading_a_missing_database_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'none.sqlite'}")
    assert measured_decode_tokens_per_s("tiny") is None
    assert not (tmp_path / "none.sqlite").exists()


def test_summary_that_cannot_be_stored_loses_no_measurement(fake_server, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server()
    store = ProbeStore()

    def locked(*_a: object, **_k: object) -> None:
        raise OperationalError("UPDATE runs", {}, Exception("database is locked"))

    monkeypatch.setattr(store, "finish_run", locked)
    settings = ProbeSettings(concurrency=[1], requests_per_level=2, max_tokens=3, prompt_tokens=8)
    report = run_and_save(store, srv.url, "tiny", "ollama", settings=settings)
    assert report.levels[0].to_json()["ok"] == 2 and report.run_id is not None  # the caller still gets every figure
    assert report.errors == [{"kind": "store_error", "message": "could not store the summary: OperationalError"}]
    assert len(store.get_run(report.run_id)["samples"]) == 3  # and the samples are in the database
    store.close()


KILLED_CHILD = textwrap.dedent(
    """
    import sys
    from probe.runner import ProbeSettings
    from probe.record import run_and_save
    from probe.store import ProbeStore
    settings = ProbeSettings(concurrency=[1], requests_per_level=50, max_tokens=4, warmup_requests=0)
    run_and_save(ProbeStore(), sys.argv[1], "tiny", "ollama", settings=settings)
    """
)


def test_samples_survive_sigkill_mid_run(fake_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    srv = fake_server(source=ScheduledSource(first_delay_s=0.05, gap_s=0.01))  # ~0.1 s per request, 50 requests
    db = os.environ["DATABASE_URL"]
    proc = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, srv.url], cwd=ROOT, env=dict(os.environ))
    store = ProbeStore(db)
    deadline = time.monotonic() + 30
    try:
        while True:
            listed = store.list_runs() if Path(db.removeprefix("sqlite:///")).exists() else []
            if listed and listed[0]["n_samples"] >= 3:
                break
            assert proc.poll() is None, "the child finished or crashed before it could be killed"
            assert time.monotonic() < deadline, "no samples stored within 30 s"
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    run = store.get_run(listed[0]["id"])
    assert run["status"] == "running" and run["finished_at"] is None  # never finished
    n = len(run["samples"])
    assert 3 <= n < 50
    level = run["summary"]["runs"][0]
    assert run["summary"]["rebuilt_from_samples"] and level["ok"] == n and level["output_tokens_total"] == 4 * n
    assert 0.05 <= level["ttft_s"]["p50"] < 1.0  # the server's 50 ms first-token delay is a floor
    store.close()
