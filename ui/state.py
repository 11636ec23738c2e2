"""Session state for the shared Scenario: URL -> Scenario on first run, widgets bound to it, Scenario -> URL."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

import streamlit as st
from pydantic import ValidationError

from model_specs import Catalog, load_catalog
from ui.scenario import Scenario, scenario_from_query, scenario_to_query

SCENARIO_KEY = "scenario"
NOTICES_KEY = "url_notices"
# Query keys that are not part of the Scenario but a page may own (kept in the URL while present).
EXTRA_QUERY_KEYS = ("run", "print")


@st.cache_resource
def catalog() -> Catalog:
    """The spec database, shared by every session."""
    return load_catalog()


def _leave_legacy_page_mode() -> None:
    """Rerun through app.py when Streamlit ran a pages/ file on its own.

    A server process whose first request is a deep link (/memory) runs pages/memory.py directly in Streamlit's
    legacy multipage mode (no sidebar, no st.navigation) until app.py has once called st.navigation; switching the
    flag off and rerunning makes this run, and all later ones, go through app.py.
    """
    from streamlit.runtime import Runtime
    from streamlit.runtime.pages_manager import PagesManager

    # AppTest (whose runtime is a mock) resets the flag before every run and resolves pages by file, not by
    # name, so the rerun would land on the home page there: leave its legacy runs alone.
    if type(Runtime.instance()).__module__ == "unittest.mock":
        return
    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


def init_scenario() -> None:
    """Create the session's Scenario from the URL once; later reruns keep the session's copy."""
    _leave_legacy_page_mode()
    if SCENARIO_KEY in st.session_state:
        return
    params = {k: st.query_params.get_all(k) for k in st.query_params}
    scenario, notices = scenario_from_query(params, catalog())
    st.session_state[SCENARIO_KEY] = scenario
    st.session_state[NOTICES_KEY] = notices


def get_scenario() -> Scenario:
    """The current Scenario."""
    init_scenario()
    return st.session_state[SCENARIO_KEY]


def update_scenario(**changes: Any) -> Scenario:
    """Replace fields of the Scenario (validated); invalid values raise ValueError."""
    s = get_scenario()
    new = Scenario.model_validate({**s.model_dump(), **changes})
    st.session_state[SCENARIO_KEY] = new
    return new


def sync_url() -> None:
    """Write the Scenario (and any page-owned extra keys) into the address bar."""
    query = scenario_to_query(get_scenario())
    for k in EXTRA_QUERY_KEYS:
        if k in st.query_params:
            query[k] = st.query_params[k]
    if dict(st.query_params) != query:
        st.query_params.from_dict(query)


def share_url() -> str:
    """The full link (this page + the scenario's query) that reproduces what the user sees."""
    page = (st.context.url or "").split("?", 1)[0]
    query = urlencode(scenario_to_query(get_scenario()))
    return f"{page}?{query}" if query else page


def bind(
    field: str,
    widget: Callable[..., Any],
    label: str,
    *,
    key_prefix: str = "w",
    key: str | None = None,
    options: Sequence[Any] | None = None,
    to_value: Callable[[Any], Any] = lambda v: v,
    from_value: Callable[[Any], Any] = lambda v: v,
    resets: Sequence[str] = (),
    **kwargs: Any,
) -> Any:
    """A widget showing Scenario.<field>; changing it updates the Scenario (and puts `resets` back to their
    defaults: fields that only mean something for the old value). Returns the scenario value."""
    key = key or f"{key_prefix}_{field}"
    current = from_value(getattr(get_scenario(), field))
    if options is not None and current not in options:
        current = options[0]
    st.session_state[key] = current  # seed from the scenario every run so all bound widgets agree

    def _changed() -> None:
        try:
            defaults = {r: Scenario.model_fields[r].default for r in resets}
            update_scenario(**defaults, **{field: to_value(st.session_state[key])})
        except ValueError as e:
            why = e.errors()[0]["msg"] if isinstance(e, ValidationError) else ""
            st.session_state[NOTICES_KEY] = [f"{label}: value not accepted" + (f" ({why})" if why else "")]

    if options is not None:
        widget(label, options, key=key, on_change=_changed, **kwargs)
    else:
        widget(label, key=key, on_change=_changed, **kwargs)
    return getattr(get_scenario(), field)


def show_notices() -> None:
    """Show (once) what the URL carried that was ignored."""
    notices = st.session_state.get(NOTICES_KEY) or []
    if notices:
        st.warning(
            "Some link values were ignored and defaults used instead:\n\n" + "\n".join(f"- {n}" for n in notices)
        )
        st.session_state[NOTICES_KEY] = []
