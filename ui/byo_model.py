"""Memory page, "Bring your own model": its inputs and what was read (the view-model is ui/views/byo.py).

Every input but the upload is a Scenario field (`gguf`, `mmproj`, `hf`, `hf_file`), so the link reopens the same
model; the Memory view reads it (through the FetchGuard) and sizes it instead of the sidebar's. A failure is one
notice under the section, never a traceback, and the sidebar's model is sized instead.
"""

from __future__ import annotations

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from model_specs.fetch_guard import ENV_ALLOWED_HOSTS, ENV_MODEL_DIR, FetchGuard
from ui.scenario import Scenario
from ui.state import bind
from ui.views.byo import Upload
from ui.views.memory import MemoryView

NO_FILE = "(none)"


def fetch_rule(guard: FetchGuard) -> str:
    """One line: what this server reads for the page, and the variables that widen it."""
    paths = (
        "paths under MODEL_DIR"
        if guard.model_dir
        else f"no paths on this server (set {ENV_MODEL_DIR} to a folder of model files to enable them)"
    )
    hosts = "any public host" if guard.allowed.any_host else "the Hugging Face Hub"
    extra = "" if guard.allowed.any_host else f" and hosts listed in {ENV_ALLOWED_HOSTS}"
    return f"This server reads URLs from {hosts}{extra}; {paths}. Uploads always work."


def _text(field: str, label: str, key: str, placeholder: str, resets: tuple[str, ...] = ()) -> None:
    """A text input bound to an optional Scenario field (blank = None)."""
    bind(field, st.text_input, label, key=key, to_value=lambda v: v.strip() or None,
         from_value=lambda v: v or "", resets=resets, placeholder=placeholder)  # fmt: skip


def inputs(s: Scenario) -> tuple[DeltaGenerator, Upload | None]:
    """The section and its inputs: a GGUF location (+ mmproj), a Hub id, or an upload (returned: not in the link)."""
    box = st.expander(
        "Bring your own model: a GGUF file, a Hugging Face id or an upload", expanded=bool(s.gguf or s.hf)
    )
    with box:
        tab_file, tab_hub, tab_up = st.tabs(["GGUF path or URL", "Hugging Face id", "Upload"])
        with tab_file:
            _text("gguf", "GGUF file", "byo_gguf", "/models/x.gguf, https://..., hf://org/name/x.gguf")
            _text("mmproj", "mmproj (optional)", "byo_mmproj", "vision/audio projector GGUF")
            st.caption(fetch_rule(FetchGuard.from_env()))
        with tab_hub:
            _text("hf", "Model id", "byo_hub", "google/gemma-4-E4B-it[@revision]", resets=("hf_file",))
        with tab_up:
            up = st.file_uploader("A .gguf (small files) or a config.json", type=["gguf", "json"], key="byo_upload")
    return box, (Upload(up.name, up.getvalue()) if up is not None else None)


def _config_details(v: MemoryView) -> str:
    """What was read from an uploaded config.json."""
    m, t = v.model, v.model.text
    types = t.attention.layer_types
    return (
        f"- Layers {t.num_layers} ({types.count('S')} sliding, {types.count('F')} global, "
        f"{t.attention.kv_shared_layers} KV-shared), hidden {t.hidden_size}, vocabulary {t.vocab_size:,}, "
        f"{t.attention.num_heads} query heads, tied embeddings: {t.tie_word_embeddings}; maximum context "
        f"{m.context_tokens:,} tokens (`max_position_embeddings`, 4096 if absent).\n"
        "- Parameters are counted from the tensors llama.cpp's converter would write for this layout "
        "(calculators/tensors.py); encoder sizes from `vision_config` / `audio_config` are approximate "
        "(layers x (4 h² + 2 h x ffn)).\n"
        "- Conversion rules: model_specs/hf_import.py."
    )


def show(box: DeltaGenerator, v: MemoryView, sidebar_model_name: str) -> None:
    """What was read: the Hub repo's GGUF files to pick from, the summary and per-tensor table, or one notice."""
    r = v.byo
    with box:
        if r.hub_files:
            bind("hf_file", st.selectbox, "Or size one of its GGUF files", key="byo_hf_file",
                 options=[NO_FILE, *r.hub_files], to_value=lambda f: None if f == NO_FILE else f,
                 from_value=lambda f: f or NO_FILE)  # fmt: skip
        if r.byo is None:
            st.caption("Only the header is read (HTTP range requests for URLs); the weights are the file's exactly.")
        else:
            st.success(r.byo.summary)
            for n in r.byo.notes:
                st.caption(n)
            if r.byo.kind == "config":
                st.markdown(_config_details(v))
            if r.byo.table is not None:
                st.dataframe(r.byo.table, hide_index=True, height=300, key="byo_table")
    if r.error:
        st.warning(f"{r.label} cannot be sized: {r.error}. Showing {sidebar_model_name} from the sidebar instead.")
    elif r.byo is not None and r.byo.model.notes:  # e.g. an architecture read with a generic layout
        st.warning(f"Approximate: {r.byo.model.notes}.")
