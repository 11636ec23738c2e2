"""run_capacity end to end on the known-capacity server: search, per-level metrics, everything in the store."""

from __future__ import annotations

import time
from pathlib import Path

from probe.capacity import LevelCutter, LevelMetrics, MeasuredLevel, run_capacity
from probe.goodput import Slo
from probe.results import RequestResult
from probe.store import ProbeStore
from tests.probe.capacity_server import SlotServer, measure_level


def test_level_cutter_stops_at_the_exact_bound() -> None:
    cutter = LevelCutter(Slo(ttft_s=0.1, attainment=0.9), planned=20)
    slow = RequestResult(ok=True, ttft_s=0.5, e2e_s=1.0, output_tokens=4)
    fast = RequestResult(ok=True, ttft_s=0.05, e2e_s=1.0, output_tokens=4)
    assert not cutter.add(RequestResult(ok=True, ttft_s=9.0, warmup=True))  # warm-up does not count
    assert [cutter.add(r) for r in (fast, slow, fast, slow)] == [False, False, False, False]  # 2 of 20 may miss
    assert cutter.add(slow) and cutter.add(fast)  # the third miss ends it, and it stays ended


def test_run_capacity_stores_slo_path_answer_and_metrics(tmp_path: Path) -> None:
    srv = SlotServer(k=3, ttft_s=0.05, itl_s=0.005).start()
    store = ProbeStore(f"sqlite:///{tmp_path / 'cap.sqlite'}")
    run_id = store.start_run(srv.url, "openai", "slots", {"search": "concurrency"})
    slo = Slo(ttft_s=0.1, attainment=0.9)
    t0 = time.perf_counter()
    metrics: dict[float, dict] = {}

    def run_level(c: float) -> MeasuredLevel:
        with LevelMetrics(srv.url, None, t0, c, store, run_id, interval_s=0.1) as m:
            lv = measure_level(srv.url, max(20, 5 * int(c)), slo, concurrency=int(c))
        metrics[c] = m.result
        return MeasuredLevel(lv.results, lv.wall_s, lv.cut_short)

    try:
        cap = run_capacity(run_level, slo, "concurrency", 16, store=store, run_id=run_id)
    finally:
        srv.stop()
    assert cap["value"] == 3 and cap["slo"] == slo.to_json()
    stored = store.get_capacity(run_id)
    assert stored["capacity"] == cap and stored["levels"] == cap["levels"] and stored["search_max"] == 16
    series = store.metric_series(run_id)
    assert {m["level"] for m in series} == {float(lv["value"]) for lv in cap["levels"]}
    assert len(series) == sum(len(m["samples"]) for m in metrics.values())
    assert max(m["metrics"]["vllm:num_requests_running"] for m in series) == 3  # never more than the slots
    waiting_at = {m["level"] for m in series if m["metrics"]["vllm:num_requests_waiting"] > 0}
    assert waiting_at and min(waiting_at) > 3  # a queue only above capacity
    store.close()
