"""The Speed page's request inputs (and those only some hardware has), bound to the Scenario."""

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


def request_inputs(v: SpeedView) -> None:
    """One row: prompt, output and cached-prefix tokens of a request, cold start and, on CPUs, threads."""
    s, ctx, prompt = v.scenario, v.context_tokens, v.prompt_tokens
    shown = ((s.prompt, prompt), (s.out_tok, v.output_tokens), (s.pfx, v.cached_prefix_tokens))
    if any(asked is not None and asked != got for asked, got in shown):
        cached = f", {v.cached_prefix_tokens:,} of them cached," if s.pfx else ""
        st.info(
            f"A request must fit the context: showing {prompt:,} prompt{cached} and {v.output_tokens:,} output tokens."
        )
    c1, c2, c3, c4, *c5 = st.columns(4 if v.default_threads is None else 5)
    with c1:
        bind("prompt", st.number_input, "Prompt tokens", key="speed_prompt", min_value=0, max_value=max(0, ctx - 1),
             step=128, from_value=lambda _: prompt)  # fmt: skip
    with c2:
        bind("out_tok", st.number_input, "Output tokens", key="speed_output", min_value=1,
             max_value=max(1, ctx - prompt), step=64, from_value=lambda _: v.output_tokens)  # fmt: skip
    with c3:
        bind(
            "pfx",
            st.number_input,
            "Of which cached prefix",
            key="speed_prefix",
            min_value=0,
            max_value=max(0, prompt),
            step=64,
            from_value=lambda _: v.cached_prefix_tokens,
            help=(
                "Leading prompt tokens every request shares and the engine keeps in its prefix cache (a system "
                "prompt, earlier turns of a chat): vLLM and SGLang reuse them in whole KV blocks, llama-server per "
                "slot. They take no prefill time but still fill the KV cache."
            ),
        )
    with c4:
        bind("cold", st.toggle, "Cold start (load weights from disk)", key="speed_cold")
    threads_input(v, c5)
