"""The store on SQLite and on a real PostgreSQL: round trip, the capacity and metric tables, an old SQLite file,
concurrent writer processes (probe workers and two dashboards) and a writer killed mid-run."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect

from probe.record import load_run
from probe.results import RequestResult
from probe.store import ProbeStore

ROOT = Path(__file__).resolve().parents[2]
V1_SCHEMA = Path(__file__).parent / "data" / "store_v1_sqlite.sql"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each kind."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return request.getfixturevalue("postgres_server").new_database()


def sample(i: int, worker: int = 1) -> RequestResult:
    return RequestResult(ok=True, ttft_s=0.01 * i, e2e_s=0.1 + 0.01 * i, output_tokens=8, index=i, concurrency=worker)


def test_round_trip_with_capacity_and_metrics(store_url: str) -> None:
    store = ProbeStore(store_url)
    run_id = store.start_run("http://u:secret@127.0.0.1:8000/v1?key=x", "openai", "tiny", {"search": "concurrency"})
    for i in range(3):
        store.add_sample(run_id, sample(i))
    slo = {"ttft_s": 0.5, "tpot_s": None, "e2e_s": None, "attainment": 0.95}
    store.start_capacity(run_id, "concurrency", 64, slo)
    path = [{"step": s, "value": v, "passed": p, "attainment": a, "cut_short": not p}
            for s, v, p, a in ((1, 1, True, 1.0), (2, 2, True, 0.97), (3, 4, False, 0.5))]  # fmt: skip
    for lv in path:
        store.add_capacity_level(run_id, lv)
    store.add_metric_samples(run_id, "vllm", [{"t_s": 0.5, "metrics": {"vllm:num_requests_running": 2.0}},
                                              {"t_s": 1.0, "metrics": {"vllm:num_requests_waiting": 1.0}}], level=2)  # fmt: skip
    half = store.get_capacity(run_id)
    assert half["capacity"] is None and [lv["value"] for lv in half["levels"]] == [1, 2, 4]
    assert store.list_capacities() == []  # a search still running has no capacity to price
    capacity = {"search": "concurrency", "value": 2, "levels": path}
    store.finish_capacity(run_id, capacity)
    store.finish_run(run_id, {"runs": []}, "complete")
    got = store.get_capacity(run_id)
    assert got["slo"] == slo and got["search"] == "concurrency" and got["search_max"] == 64
    assert got["capacity"] == capacity and got["levels"] == path
    listed = store.list_capacities()
    assert [(r["id"], r["model"], r["endpoint"], r["capacity"]) for r in listed] == [
        (run_id, "tiny", "http://127.0.0.1:8000/v1", capacity)
    ]
    series = store.metric_series(run_id)
    assert [(m["t_s"], m["level"], m["source"]) for m in series] == [(0.5, 2.0, "vllm"), (1.0, 2.0, "vllm")]
    assert series[0]["metrics"] == {"vllm:num_requests_running": 2.0}
    run = store.get_run(run_id)
    assert run["endpoint"] == "http://127.0.0.1:8000/v1" and "secret" not in str(run) and run["status"] == "complete"
    assert [s["idx"] for s in run["samples"]] == [0, 1, 2] and run["samples"][2]["ttft_s"] == pytest.approx(0.02)
    store.delete_run(run_id)
    assert store.get_run(run_id) is None and store.get_capacity(run_id) is None and store.metric_series(run_id) == []
    store.close()


def test_sqlite_file_of_the_previous_version_still_opens(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    con = sqlite3.connect(db)
    con.executescript(V1_SCHEMA.read_text())
    con.execute(
        "INSERT INTO runs (id, created_at, endpoint, model, settings, summary, status) VALUES "
        "('abc123', '2026-11-01 10:00:00.000000', 'http://127.0.0.1:11434', 'tiny', '{}', '{\"runs\": []}', 'complete')"
    )
    con.execute(
        "INSERT INTO samples (run_id, concurrency, idx, warmup, ok, ttft_s, e2e_s, cold_start) "
        "VALUES ('abc123', 1, 0, 0, 1, 0.05, 0.2, 0)"
    )
    con.commit()
    con.close()
    store = ProbeStore(f"sqlite:///{db}")
    assert {"capacity_runs", "capacity_levels", "metric_samples"} <= set(inspect(store.engine).get_table_names())
    assert [r["id"] for r in store.list_runs()] == ["abc123"]
    old_sample = store.get_run("abc123")["samples"][0]
    assert old_sample["ttft_s"] == 0.05 and old_sample["rate"] is None and old_sample["worker"] is None  # added
    run_id = store.start_run("http://127.0.0.1:11434", "ollama", "tiny", {})
    store.start_capacity(run_id, "rate", 8.0, {"ttft_s": 1.0, "attainment": 0.9})
    assert store.get_capacity(run_id)["search_max"] == 8.0
    store.close()


WRITER = textwrap.dedent(
    """
    import os, sys, time
    from probe.results import RequestResult
    from probe.store import ProbeStore
    url, role, wid, n, go, shared = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
    store = ProbeStore(url)
    while not os.path.exists(go):  # start together, so the writes overlap
        time.sleep(0.005)
    def sample(i):
        return RequestResult(ok=True, ttft_s=0.01, e2e_s=0.1, output_tokens=4, index=i, concurrency=wid)
    if role == "worker":  # a probe worker: its share of one run's requests and metric samples
        for i in range(n):
            store.add_sample(shared, sample(i))
            store.add_metric_samples(shared, "vllm", [{"t_s": wid + i / 1000, "metrics": {"w": wid, "i": i}}], level=wid)
    else:  # a dashboard: runs of its own, each started, filled and finished
        ids = []
        for r in range(5):
            run_id = store.start_run("http://127.0.0.1:1", "openai", f"dash{wid}", {"r": r})
            ids.append(run_id)
            for i in range(n // 5):
                store.add_sample(run_id, sample(i))
            store.finish_run(run_id, {"runs": []}, "complete")
        print(" ".join(ids))
    store.close()
    """
)


def test_concurrent_writers_lose_nothing(store_url: str, tmp_path: Path) -> None:
    store = ProbeStore(store_url)
    shared = store.start_run("http://127.0.0.1:1", "openai", "shared", {})
    go, n = tmp_path / "go", 40
    roles = [("worker", w) for w in range(1, 5)] + [("dashboard", d) for d in (1, 2)]
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, store_url, role, str(w), str(n), str(go), shared],
                         cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for role, w in roles
    ]  # fmt: skip
    time.sleep(1.0)  # let every process import and connect
    go.touch()
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * len(procs), [err[-2000:] for _, err in outs]
    run = store.get_run(shared)
    got = sorted((s["concurrency"], s["idx"]) for s in run["samples"])
    assert got == sorted((w, i) for w in range(1, 5) for i in range(n))  # every worker's every sample, once
    series = store.metric_series(shared)
    assert sorted((m["metrics"]["w"], m["metrics"]["i"]) for m in series) == got
    dash_ids = [i for out, _ in outs[4:] for i in out.split()]
    assert len(dash_ids) == 10 and len(set(dash_ids) | {shared}) == 11  # no duplicate run ids
    listed = {r["id"]: r for r in store.list_runs(limit=100)}
    assert set(listed) == set(dash_ids) | {shared}
    assert all(listed[i]["n_samples"] == n // 5 and listed[i]["status"] == "complete" for i in dash_ids)
    store.close()


KILLED = textwrap.dedent(
    """
    import sys, time
    from probe.results import RequestResult
    from probe.store import ProbeStore
    store = ProbeStore(sys.argv[1])
    run_id = store.start_run("http://127.0.0.1:1", "openai", "tiny", {"search": "concurrency"})
    store.start_capacity(run_id, "concurrency", 64, {"ttft_s": 0.5, "attainment": 0.9})
    print(run_id, flush=True)
    for i in range(100000):
        store.add_sample(run_id, RequestResult(ok=True, ttft_s=0.05, e2e_s=0.2, output_tokens=4, index=i))
        store.add_metric_samples(run_id, "vllm", [{"t_s": i * 0.01, "metrics": {"vllm:num_requests_running": 1.0}}], 1)
        if i % 5 == 4:
            store.add_capacity_level(run_id, {"step": i // 5 + 1, "value": i // 5 + 1, "passed": True, "attainment": 1.0})
        time.sleep(0.01)
    """
)


def test_writer_killed_mid_run_leaves_a_readable_run(store_url: str) -> None:
    proc = subprocess.Popen([sys.executable, "-c", KILLED, store_url], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    run_id = proc.stdout.readline().strip()  # type: ignore[union-attr]
    store = ProbeStore(store_url)
    deadline = time.monotonic() + 60
    try:
        while len(store.get_run(run_id, rebuild=False)["samples"]) < 12:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    run = load_run(store, run_id)
    assert run["status"] == "running" and run["finished_at"] is None
    n = len(run["samples"])
    assert n >= 12 and run["summary"]["rebuilt_from_samples"] and run["summary"]["runs"][0]["ok"] == n
    series = store.metric_series(run_id)
    assert n - 1 <= len(series) <= n + 1  # written right after each sample
    cap = store.get_capacity(run_id)
    assert (
        cap["capacity"] is None
        and len(cap["levels"]) >= 2
        and [lv["step"] for lv in cap["levels"]] == list(range(1, len(cap["levels"]) + 1))
    )
    store.close()


OPENER = textwrap.dedent(
    """
    import os, sys, time
    from probe.store import ProbeStore
    while not os.path.exists(sys.argv[2]):
        time.sleep(0.002)
    store = ProbeStore(sys.argv[1])
    print(store.start_run("http://127.0.0.1:1", None, "m", {}))
    store.close()
    """
)


def test_processes_creating_the_schema_at_once(store_url: str, tmp_path: Path) -> None:
    go = tmp_path / "go"
    procs = [
        subprocess.Popen([sys.executable, "-c", OPENER, store_url, str(go)], cwd=ROOT, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]  # fmt: skip
    time.sleep(1.0)
    go.touch()  # all four open an empty database together
    outs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err[-1500:] for _, err in outs]
    store = ProbeStore(store_url)
    assert sorted(r["id"] for r in store.list_runs()) == sorted(out.strip() for out, _ in outs)
    cols = {c["name"] for c in inspect(store.engine).get_columns("samples")}
    assert {"rate", "worker"} <= cols
    store.close()


def test_missing_postgres_skips_locally_and_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.probe.pg import ENV_REQUIRE, _unavailable

    monkeypatch.delenv(ENV_REQUIRE, raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        _unavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
    monkeypatch.setenv(ENV_REQUIRE, "1")
    with pytest.raises(pytest.fail.Exception, match="PROBE_REQUIRE_POSTGRES=1 requires"):
        _unavailable("PostgreSQL server binaries not found (apt-get install postgresql)")
