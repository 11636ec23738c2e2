"""Shared Streamlit widgets: the scenario sidebar and small formatting helpers."""

from __future__ import annotations

import streamlit as st

from ui.scenario import Scenario
from ui.state import bind, catalog, share_url

ENGINES = list(Scenario.model_fields["engine"].annotation.__args__)
KV_DTYPES = list(Scenario.model_fields["kv"].annotation.__args__)


def gib(n_bytes: float) -> str:
    """Bytes as GiB text."""
    return f"{n_bytes / 2**30:,.2f} GiB"


def scenario_sidebar() -> None:
    """The scenario inputs every page shares, bound to the Scenario."""
    cat = catalog()
    with st.sidebar:
        st.subheader("Scenario")
        bind(
            "model",
            st.selectbox,
            "Model",
            key_prefix="sb",
            options=list(cat.models),
            format_func=lambda m: cat.models[m].name,
        )
        bind("quant", st.selectbox, "Quantization", key_prefix="sb", options=cat.selectable_quants)
        bind("ctx", st.number_input, "Context (tokens)", key_prefix="sb", min_value=256, max_value=1_048_576, step=1024)
        bind("engine", st.selectbox, "Engine", key_prefix="sb", options=ENGINES)
        bind(
            "hw",
            st.selectbox,
            "Hardware",
            key_prefix="sb",
            options=list(cat.hardware),
            format_func=lambda h: cat.hardware[h].name,
        )
        bind("gpus", st.number_input, "GPUs (tensor parallel)", key_prefix="sb", min_value=1, max_value=16)
        with st.popover("Share this scenario", icon=":material/share:", width="stretch"):
            st.caption("Copy this link: it reopens every input on the current page.")
            st.code(share_url(), language=None)
