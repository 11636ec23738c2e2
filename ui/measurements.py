"""This session's measurements that change forecasts (stored probe runs, the probe page's choice), in one place."""

from __future__ import annotations

import streamlit as st

from probe.report import USE_MEASUREMENT_KEY
from probe.store import STORE_ERRORS, MeasuredSpeed, database_url, measured_decode_tokens_per_s
from ui.scenario import Scenario
from ui.views.speed import SpeedMeasurements


@st.cache_data(show_spinner=False, max_entries=64, ttl=30)
def _probe_point(probe_model: str, concurrency: int, database: str) -> tuple[MeasuredSpeed | None, str | None]:
    """(the probe's newest measured decode speed for this served model name or None, why the store is unreadable)."""
    try:
        return measured_decode_tokens_per_s(probe_model, concurrency=concurrency, url=database), None
    except STORE_ERRORS as e:  # an unreachable or broken store must not break the forecast
        return None, f"{type(e).__name__}: {e}".splitlines()[0][:200]


def speed_measurements(s: Scenario) -> SpeedMeasurements:
    """The stored run for the scenario's served model name and the probe page's "use my measurement" choice."""
    stored, error = _probe_point(s.served or s.model, 1, database_url())
    return SpeedMeasurements(stored, error, st.session_state.get(USE_MEASUREMENT_KEY))
