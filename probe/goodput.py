"""Goodput under a per-request SLO (as vLLM bench serve's --goodput): parse the targets, score a level."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from probe.guard import ProbeInputError
from probe.results import RequestResult

DEFAULT_ATTAINMENT = 0.95
_KEYS = {"ttft": "ttft_s", "tpot": "tpot_s", "e2e": "e2e_s"}
MS_PER_S = 1e3


@dataclass(frozen=True)
class Slo:
    """Per-request targets in seconds (None: no target) and the share of requests that must meet all of them."""

    ttft_s: float | None = None
    tpot_s: float | None = None
    e2e_s: float | None = None
    attainment: float = DEFAULT_ATTAINMENT

    def met_by(self, r: RequestResult) -> bool:
        """True when the request succeeded and meets every target."""
        if not r.ok:
            return False
        if self.ttft_s is not None and (r.ttft_s is None or r.ttft_s > self.ttft_s):
            return False
        if self.e2e_s is not None and (r.e2e_s is None or r.e2e_s > self.e2e_s):
            return False
        # One output token has no decode time: vLLM bench counts its TPOT as 0 (meets any target).
        tpot = r.tpot_s or 0.0
        return self.tpot_s is None or tpot <= self.tpot_s

    def to_json(self) -> dict[str, Any]:
        """Plain dict (seconds) for JSON and the store."""
        return asdict(self)


def parse_attainment(value: float | str) -> float:
    """The attainment target as a float in (0, 1]; ProbeInputError otherwise."""
    try:
        a = float(value)
    except (TypeError, ValueError):
        raise ProbeInputError(f"--slo-attainment must be a number in (0, 1], got {value!r}") from None
    if not (0.0 < a <= 1.0) or math.isnan(a):
        raise ProbeInputError(f"--slo-attainment must be in (0, 1], got {value!r}")
    return a


def parse_goodput(spec: str | Sequence[str], attainment: float | str = DEFAULT_ATTAINMENT) -> Slo:
    """Parse 'ttft:MS tpot:MS e2e:MS' (any subset, milliseconds, space or comma separated) into an Slo."""
    texts = [spec] if isinstance(spec, str) else list(spec)
    parts = [p for text in texts for p in text.replace(",", " ").split()]
    if not parts:
        raise ProbeInputError("--goodput needs at least one target, e.g. ttft:500 tpot:50")
    targets: dict[str, float] = {}
    for part in parts:
        key, sep, raw = part.partition(":")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            raise ProbeInputError(f"bad --goodput target {part!r}; use ttft:MS, tpot:MS or e2e:MS")
        if _KEYS[key] in targets:
            raise ProbeInputError(f"--goodput target {key!r} given twice")
        try:
            ms = float(raw)
        except ValueError:
            raise ProbeInputError(f"bad --goodput value in {part!r}; milliseconds expected") from None
        if not (ms > 0 and math.isfinite(ms)):
            raise ProbeInputError(f"--goodput {key} must be a positive number of milliseconds, got {raw!r}")
        targets[_KEYS[key]] = ms / MS_PER_S
    return Slo(**targets, attainment=parse_attainment(attainment))


@dataclass(frozen=True)
class Goodput:
    """A level's requests and output tokens per second that met the SLO, and the share that did."""

    requests_per_s: float | None
    output_tokens_per_s: float | None
    attainment: float | None  # None when the level had no counted request
    met: int
    counted: int  # non-warm-up requests, failures included

    def to_json(self) -> dict[str, Any]:
        """Plain dict for the level's JSON."""
        return asdict(self)


def level_goodput(results: Iterable[RequestResult], slo: Slo, wall_s: float | None) -> Goodput:
    """Score one level: failures count as misses, warm-up requests are excluded; rates over the level's wall time."""
    counted = [r for r in results if not r.warmup]
    good = [r for r in counted if slo.met_by(r)]
    attainment = len(good) / len(counted) if counted else None
    if not wall_s or wall_s <= 0:
        return Goodput(None, None, attainment, len(good), len(counted))
    tokens = sum(r.output_tokens or 0 for r in good)
    return Goodput(len(good) / wall_s, tokens / wall_s, attainment, len(good), len(counted))


def clearly_failing(done: int, missed: int, planned: int, attainment: float) -> bool:
    """True once the level cannot reach the target even if every request still to come meets the SLO."""
    if planned <= 0:
        return False
    missed = min(missed, done, planned)
    best_possible = (planned - missed) / planned
    return best_possible < attainment
