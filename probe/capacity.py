"""A capacity run: the runner measures levels, this scores them against the SLO, searches, and stores each step.

What the runner on the probe branch calls (see the report in issue 12's branch):
  cutter = LevelCutter(slo, planned)            feed each finished request; True -> stop sending this level
  with LevelMetrics(url, key, t0, level, store, run_id) as m: ...   server metrics while the level runs
  run_capacity(run_level, slo, kind, search_max, store=..., run_id=...)   the whole search
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from probe.goodput import Slo, clearly_failing, level_goodput
from probe.guard import AllowedHosts
from probe.results import RequestResult
from probe.search import DEFAULT_MAX_LEVELS, LevelOutcome, search_capacity
from probe.server_metrics import DEFAULT_INTERVAL_S, MetricsSampler
from probe.store import ProbeStore


class LevelCutter:
    """Counts a level's misses as requests finish; says when the level can no longer meet the target."""

    def __init__(self, slo: Slo, planned: int) -> None:
        self.slo, self.planned = slo, planned
        self.done = self.missed = 0
        self.cut = False

    def add(self, result: RequestResult) -> bool:
        """Count one finished request (warm-up ignored); True once the level is clearly failing."""
        if not result.warmup:
            self.done += 1
            self.missed += not self.slo.met_by(result)
            self.cut = self.cut or clearly_failing(self.done, self.missed, self.planned, self.slo.attainment)
        return self.cut


@dataclass
class MeasuredLevel:
    """What the runner hands back for one level."""

    results: list[RequestResult]
    wall_s: float | None  # first send to last finish, warm-up excluded
    cut_short: bool = False


def outcome(value: float, level: MeasuredLevel, slo: Slo) -> LevelOutcome:
    """Score a measured level for the search."""
    g = level_goodput(level.results, slo, level.wall_s)
    return LevelOutcome(value, g.attainment, g.requests_per_s, g.output_tokens_per_s, level.cut_short)


def run_capacity(
    run_level: Callable[[float], MeasuredLevel],
    slo: Slo,
    kind: str,
    search_max: float,
    *,
    start: float | None = None,
    known: Mapping[float, MeasuredLevel] | None = None,
    max_levels: int = DEFAULT_MAX_LEVELS,
    store: ProbeStore | None = None,
    run_id: str | None = None,
    on_level: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Search the capacity; with a store, the SLO, every step and the answer are stored as they are known."""
    if store is not None and run_id is not None:
        store.start_capacity(run_id, kind, search_max, slo.to_json())

    def step(level: dict[str, Any]) -> None:
        if store is not None and run_id is not None:
            store.add_capacity_level(run_id, level)
        if on_level is not None:
            on_level(level)

    cap = search_capacity(
        lambda v: outcome(v, run_level(v), slo),
        kind,
        search_max,
        slo.attainment,
        start=start,
        known={v: outcome(v, lv, slo) for v, lv in (known or {}).items()},
        max_levels=max_levels,
        on_level=step,
    )
    cap["slo"] = slo.to_json()
    if store is not None and run_id is not None:
        store.finish_capacity(run_id, cap)
    return cap


class LevelMetrics:
    """Server metrics for one level, each sample stored as it arrives (so a killed run keeps them)."""

    def __init__(self, base_url: str, api_key: str | None, t0_perf_s: float, level: float | None,
                 store: ProbeStore | None = None, run_id: str | None = None,
                 interval_s: float = DEFAULT_INTERVAL_S, allowed: AllowedHosts | None = None) -> None:  # fmt: skip
        self.store, self.run_id, self.level = store, run_id, level
        self.sampler = MetricsSampler(base_url, api_key, interval_s, t0_perf_s, allowed, on_sample=self._store)
        self.result: dict[str, Any] = {}

    def _store(self, sample: dict[str, Any]) -> None:
        if self.store is not None and self.run_id is not None and self.sampler.source:
            self.store.add_metric_samples(self.run_id, self.sampler.source, [sample], self.level)

    def __enter__(self) -> LevelMetrics:
        self.sampler.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.result = self.sampler.stop()
