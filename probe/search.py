"""The probe's capacity search: calculators/serving/search.py (shared with the forecast), inputs checked against the
probe's own limits."""

from __future__ import annotations

from calculators.serving.search import DEFAULT_MAX_LEVELS, SEARCH_KINDS, LevelOutcome, search_capacity
from calculators.serving.search import validate_search as _validate
from probe.guard import MAX_CONCURRENCY, ProbeInputError

__all__ = ["DEFAULT_MAX_LEVELS", "SEARCH_KINDS", "LevelOutcome", "search_capacity", "validate_search"]


def validate_search(kind: str, search_max: float) -> None:
    """Raise ProbeInputError (one line) for an unknown kind or a maximum beyond what the probe may send."""
    try:
        _validate(kind, search_max, MAX_CONCURRENCY)
    except ValueError as e:
        raise ProbeInputError(str(e)) from None
