"""This session's facts beyond the link (stored probe runs, the probe page's choice), gathered in one place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import streamlit as st
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from probe.record import MeasuredSpeed, measured_decode_tokens_per_s
from probe.report import USE_MEASUREMENT_KEY
from probe.store import STORE_ERRORS, ProbeStore, database_url
from ui.cost_charts import rate_levels
from ui.scenario import Scenario
from ui.views.facts import SessionFacts


@st.cache_data(show_spinner=False, max_entries=64, ttl=30)
def _probe_point(probe_model: str, concurrency: int, database: str) -> tuple[MeasuredSpeed | None, str | None]:
    """(the probe's newest measured decode speed for this served model name or None, why the store is unreadable)."""
    try:
        return measured_decode_tokens_per_s(probe_model, concurrency=concurrency, url=database), None
    except STORE_ERRORS as e:  # an unreachable or broken store must not break the forecast
        return None, f"{type(e).__name__}: {e}".splitlines()[0][:200]


@st.cache_data(show_spinner=False, max_entries=16, ttl=30)
def _stored_levels(model_hint: str, url: str) -> tuple[list[dict[str, Any]], str | None]:
    """(run, concurrency) levels of stored probe runs with an output rate, and why the store is unreadable."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
            return [], None  # reading must not create an empty database
        store = ProbeStore(url)
        try:
            runs = store.list_runs(limit=100)
        finally:
            store.close()
    except (SQLAlchemyError, ValueError, ImportError, OSError) as e:
        # A bad DATABASE_URL, a missing driver, an unreachable or broken database: a caption, not a broken page.
        return [], str(e)
    return rate_levels(runs, model_hint), None


@st.cache_data(show_spinner=False, max_entries=16, ttl=30)
def _stored_capacities(url: str) -> tuple[list[dict[str, Any]], str | None]:
    """Finished capacity searches in the store, newest first, and why the store is unreadable."""
    try:
        parsed = make_url(url)
        if parsed.get_backend_name() == "sqlite" and parsed.database and not Path(parsed.database).exists():
            return [], None  # reading must not create an empty database
        store = ProbeStore(url)
        try:
            return [r for r in store.list_capacities(limit=100) if r.get("capacity")], None
        finally:
            store.close()
    except STORE_ERRORS as e:
        return [], str(e).splitlines()[0][:200]


def session_facts(s: Scenario, with_levels: bool = False) -> SessionFacts:
    """The stored run for the served model name, the probe page's choice, (Costs) the stored output rates and the
    stored capacity searches."""
    url = database_url()
    stored, error = _probe_point(s.served or s.model, 1, url)
    levels, levels_error = _stored_levels(s.model.split("-")[-1], url) if with_levels else ([], None)
    capacities, capacities_error = _stored_capacities(url)
    choice = st.session_state.get(USE_MEASUREMENT_KEY)
    return SessionFacts(stored, error or levels_error or capacities_error, choice, tuple(levels), tuple(capacities))
