"""What a session knows beyond its link: stored probe measurements and the probe page's "use my measurement" choice.

Gathered once per rerun by `ui.measurements.session_facts`; the page views, Home and the report take the same
object, so their figures agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from probe.record import MeasuredSpeed


@dataclass(frozen=True)
class SessionFacts:
    """Measurements this session can use instead of forecasts."""

    stored_speed: MeasuredSpeed | None = None  # newest stored run at concurrency 1 for the served model name
    store_error: str | None = None  # why the store could not be read
    probe_choice: dict[str, Any] | None = None  # "use my measurement" from the probe page (USE_MEASUREMENT_KEY)
    rate_levels: tuple[dict[str, Any], ...] = field(default=())  # stored (run, concurrency) output rates, for Costs
    # Stored capacity searches (probe capacity runs), newest first: {id, created_at, endpoint, backend, model,
    # settings, capacity}.
    capacity_runs: tuple[dict[str, Any], ...] = field(default=())


def run_request(run: dict[str, Any]) -> tuple[int, int, int] | None:
    """(prompt, output, shared-prefix) tokens of the requests a stored probe run sent (mean lengths; the prompt
    includes the shared system prompt), or None when unknown: not recorded, or a chat file or several turns."""
    s = run.get("settings") or {}
    p, o, w = s.get("prompt_tokens"), s.get("max_tokens"), s.get("workload") or {}
    if not (isinstance(p, int) and isinstance(o, int) and o >= 1 and p >= 0):
        return None
    if w.get("workload_file") or (w.get("turns") or 1) > 1:
        return None
    prefix = int(w.get("shared_prefix_tokens") or 0)
    return p + prefix, o, prefix


def capacity_run(
    facts: SessionFacts, run_id: str | None, model_names: tuple[str, ...] = ()
) -> tuple[dict[str, Any] | None, str | None]:
    """(the stored capacity run `run_id`, or without one the newest for any of `model_names`; a notice or None).

    A run id that is not stored is ignored with a notice. Model names match the served name exactly or contain the
    model's size tag (as the probe-run picker does), case-insensitively."""
    if run_id:
        run = next((r for r in facts.capacity_runs if r["id"] == run_id), None)
        return run, None if run else f"ignored cap_run={run_id!r}: no stored capacity run with that id"
    names = [n.lower() for n in model_names if n]
    for r in facts.capacity_runs:
        served = str(r["model"]).lower()
        if any(n == served or n.split("-")[-1] in served for n in names):
            return r, None
    return None, None
