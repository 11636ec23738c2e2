"""Capacity search: the largest load whose SLO attainment meets the target (bracket by doubling, then bisect).

Pure over a `measure(value) -> LevelOutcome` callable: the probe plugs in its level runner (probe/capacity.py), the
forecast the scheduler simulator (calculators/serving/metrics.py), tests a stand-in; all return one `capacity` object.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

SEARCH_KINDS = ("concurrency", "rate")
RATE_TOLERANCE = 0.05  # a rate search stops when the failing bound is within 5 % of the passing one
DEFAULT_MAX_LEVELS = 12  # measured levels per search (reused ones are free)
MAX_HALVINGS = 6  # a rate search below its start goes down at most 2^6 = 64 times


@dataclass(frozen=True)
class LevelOutcome:
    """What one measured load level tells the search."""

    value: float  # concurrency (users) or rate (requests/s)
    attainment: float | None  # share of the level's requests that met the SLO; None: nothing counted
    goodput_requests_per_s: float | None = None
    goodput_output_tokens_per_s: float | None = None
    cut_short: bool = False  # the runner stopped the level once it could no longer pass

    def passes(self, target: float) -> bool:
        """True when the level met the attainment target."""
        return self.attainment is not None and self.attainment >= target


def validate_search(kind: str, search_max: float, max_concurrency: int | None = None) -> None:
    """Raise ValueError (one line) for an unknown kind or a maximum out of range (`max_concurrency`: a cap on it)."""
    if kind not in SEARCH_KINDS:
        raise ValueError(f"--search must be one of {', '.join(SEARCH_KINDS)}, got {kind!r}")
    if not (search_max >= 1 and math.isfinite(search_max)):
        raise ValueError(f"--search-max must be at least 1, got {search_max!r}")
    top = max_concurrency or math.inf
    if kind == "concurrency" and (search_max != int(search_max) or search_max > top):
        raise ValueError(f"--search-max for a concurrency search must be a whole number 1..{max_concurrency}")


def _norm(kind: str, value: float) -> float:
    """Concurrency is whole users; rates keep 4 significant digits so reuse can match them."""
    if kind == "concurrency":
        return int(round(value))
    return float(f"{value:.4g}")


def _close(kind: str, lo: float, hi: float) -> bool:
    return hi - lo <= 1 if kind == "concurrency" else hi <= lo * (1 + RATE_TOLERANCE)


def _mid(kind: str, lo: float, hi: float) -> float:
    # Geometric midpoint for rates: the tolerance is relative, so halve the ratio, not the gap.
    return (lo + hi) // 2 if kind == "concurrency" else math.sqrt(lo * hi)


class _Search:
    """State of one search: measured outcomes, the path, the passing and failing bounds."""

    def __init__(self, measure: Callable[[float], LevelOutcome], kind: str, target: float, max_levels: int,
                 known: Mapping[float, LevelOutcome] | None, on_level: Callable[[dict[str, Any]], None] | None) -> None:  # fmt: skip
        self.measure, self.kind, self.target, self.max_levels = measure, kind, target, max_levels
        self.on_level = on_level
        self.outcomes = {_norm(kind, v): o for v, o in (known or {}).items()}
        self.path: list[dict[str, Any]] = []
        self.measured = 0
        self.lo: float | None = None  # largest passing value
        self.hi: float | None = None  # smallest failing value
        self.budget_spent = False

    def probe(self, v: float) -> bool | None:
        """Measure (or reuse) one level; None when the level budget is spent."""
        reused = v in self.outcomes
        if not reused:
            if self.measured >= self.max_levels:
                self.budget_spent = True
                return None
            self.outcomes[v] = self.measure(v)
            self.measured += 1
        ok = self._record(v, reused)
        if ok and (self.lo is None or v > self.lo):
            self.lo = v
        if not ok and (self.hi is None or v < self.hi):
            self.hi = v
        return ok

    def _record(self, v: float, reused: bool) -> bool:
        """Append a step to the path (and tell the caller); returns whether it passed."""
        o = self.outcomes[v]
        ok = o.passes(self.target)
        step = {"step": len(self.path) + 1, **asdict(o), "value": v, "passed": ok, "reused": reused}
        self.path.append(step)
        if self.on_level is not None:
            self.on_level(step)
        return ok

    def seed_from_known(self) -> None:
        """Bounds from levels measured before the search (a passing level above a failing one is ignored)."""
        for v in sorted(self.outcomes):
            self._record(v, reused=True)
        fails = [v for v, o in self.outcomes.items() if not o.passes(self.target)]
        self.hi = min(fails) if fails else None
        passes = [v for v, o in self.outcomes.items() if o.passes(self.target) and (self.hi is None or v < self.hi)]
        self.lo = max(passes) if passes else None


def search_capacity(
    measure: Callable[[float], LevelOutcome],
    kind: str,
    search_max: float,
    target: float,
    *,
    start: float | None = None,
    known: Mapping[float, LevelOutcome] | None = None,
    max_levels: int = DEFAULT_MAX_LEVELS,
    on_level: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """The `capacity` object: the largest load in [start, search_max] meeting `target`, with the search path."""
    validate_search(kind, search_max)
    s = _Search(measure, kind, target, max_levels, known, on_level)
    s.seed_from_known()
    top = search_max  # exact: rounding a rate maximum up could pass a level the user capped
    # A rate search starts halfway: one doubling reaches the maximum, halving covers rates far below it.
    first = start or (1 if kind == "concurrency" else search_max / 2)
    v = min(_norm(kind, first), top)
    if s.lo is None and s.hi is None:
        _bracket_from(s, v, top)
    elif s.hi is None:
        _double_up(s, s.lo, top)  # type: ignore[arg-type]
    elif s.lo is None:
        _bracket_from(s, min(v, s.hi), top)
    while s.lo is not None and s.hi is not None and not _close(kind, s.lo, s.hi):
        if s.probe(_norm(kind, _mid(kind, s.lo, s.hi))) is None:
            break
    return _capacity(s, top)


def _double_up(s: _Search, v: float, top: float) -> None:
    while v < top:
        v = min(_norm(s.kind, v * 2), top)
        if s.hi is not None and v >= s.hi:
            return  # a known failing level already closes the bracket
        if not s.probe(v):
            return


def _bracket_from(s: _Search, v: float, top: float) -> None:
    ok = s.probe(v)
    if ok:
        _double_up(s, v, top)
    elif ok is False and s.kind == "rate":  # a rate above capacity: halve down until one passes
        for _ in range(MAX_HALVINGS):
            v = _norm(s.kind, v / 2)
            ok = s.probe(v)
            if ok or ok is None:
                return
    elif ok is False and v > 1:  # a concurrency search told to start high: fall back to one user
        _bracket_from(s, 1, top)


def _capacity(s: _Search, top: float) -> dict[str, Any]:
    lo_o = s.outcomes.get(s.lo) if s.lo is not None else None
    hi_o = s.outcomes.get(s.hi) if s.hi is not None else None
    if s.lo is None:
        tried = min((p["value"] for p in s.path), default=None)
        note = f"even the smallest load tried ({s.kind} {tried}) missed the SLO attainment target"
    elif s.hi is None and s.lo >= top:
        note = f"at least {s.lo}: the search maximum passed; raise --search-max to find the limit"
    elif s.hi is None:
        note = f"level budget spent: at least {s.lo}; no level failed yet"
    elif not _close(s.kind, s.lo, s.hi):
        note = f"level budget spent: capacity is between {s.lo} and {s.hi}"
    else:
        note = None
    return {
        "search": s.kind,
        "value": s.lo,
        "at_least": s.lo is not None and s.hi is None,
        "target_attainment": s.target,
        "attainment": lo_o.attainment if lo_o else None,
        "goodput_requests_per_s": lo_o.goodput_requests_per_s if lo_o else None,
        "goodput_output_tokens_per_s": lo_o.goodput_output_tokens_per_s if lo_o else None,
        "first_failing_value": s.hi,
        "first_failing_attainment": hi_o.attainment if hi_o else None,
        "levels_measured": s.measured,
        "note": note,
        "levels": s.path,
    }
