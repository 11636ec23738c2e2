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
