"""The Speed page's inputs that only some hardware has, bound to the Scenario."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from ui.state import bind
from ui.views.speed import SpeedView


def threads_input(v: SpeedView, cols: Sequence[Any]) -> None:
    """CPU threads (llama.cpp -t) in the first of `cols`, on a CPU with a catalog `cpu` block only.

    With no thread count in the link the engine's default shows; choosing that default again leaves `thr` out of
    the link, so a later change of hardware or engine gets that device's default."""
    if v.default_threads is None or not cols:
        return
    with cols[0]:
        bind(
            "thr",
            st.number_input,
            "CPU threads (llama.cpp -t)",
            key="speed_threads",
            min_value=1,
            max_value=1024,
            step=1,
            from_value=lambda t: t or v.default_threads,
            to_value=lambda t: None if t == v.default_threads else int(t),
            help=(
                f"{v.cpu.cores} cores, {v.cpu.threads} hardware threads; {v.scenario.engine} takes "
                f"{v.default_threads} by itself. More threads than the memory bandwidth needs only add barrier cost."
            ),
        )
