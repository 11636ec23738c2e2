"""Memory page, "Bring your own model": a GGUF path or URL, a Hugging Face id, or an upload, sized from the file.

The pure part (`from_gguf`, `from_hub`, `from_upload`, `tensor_table`) builds the view-model: the model the header
or config.json describes, the exact weights when the artifact fixes them, and the per-tensor table against the
default recipe. `render` draws the inputs and the table; every failure is one notice, never a traceback.
The dashboard's server makes these reads for whoever opens the page, so each goes through the FetchGuard
(model_specs/fetch_guard.py): URLs only to allowed hosts, paths only under MODEL_DIR; uploads always work.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from calculators.gguf_file import file_weights, recipe_diff
from calculators.memory import WeightBreakdown
from calculators.safetensors_file import SAFETENSORS_ENGINES, safetensors_weights
from model_specs import hf_hub
from model_specs.fetch_guard import ENV_ALLOWED_HOSTS, ENV_MODEL_DIR, FetchGuard
from model_specs.gguf_arch import model_from_gguf
from model_specs.gguf_header import BytesSource, GGUFFile, read_shards
from model_specs.hf_hub import HubModel
from model_specs.hf_import import model_from_hf_json
from model_specs.schema import ModelSpec

GiB = 1 << 30


@dataclass(frozen=True)
class ByoModel:
    """What the page sizes instead of the sidebar's catalog model."""

    model: ModelSpec
    weights: WeightBreakdown | None  # exact bytes of the artifact; None: the calculator's recipe for the quant
    summary: str  # one line: what was read and how much of it
    table: pd.DataFrame | None = None  # per-tensor rows (GGUF only)
    notes: tuple[str, ...] = ()
    gguf_choices: tuple[str, ...] = ()  # hf:// locations of the repo's GGUF files


def tensor_table(f: GGUFFile, model: ModelSpec) -> tuple[pd.DataFrame, str]:
    """Every tensor with its type and bytes beside the default recipe's; the differing ones first; and a summary."""
    diff = recipe_diff(f, model)
    df = pd.DataFrame(
        [
            {
                "tensor": r.name,
                "shape": " x ".join(map(str, r.shape)),
                "type": r.ggml_type,
                "default type": r.default_type or "",
                "bytes": r.n_bytes,
                "default bytes": r.default_bytes,
                "differs": r.differs,
            }
            for r in diff.rows
        ]
    )
    df = df.sort_values("differs", ascending=False, kind="stable").reset_index(drop=True)
    line = f"{len(diff.differing)} of {len(diff.rows)} tensors differ from the default {diff.ftype} recipe"
    if diff.default_bytes:
        delta = (diff.file_bytes - diff.default_bytes) / diff.default_bytes
        line += f"; file {diff.file_bytes / GiB:.3f} GiB vs recipe {diff.default_bytes / GiB:.3f} GiB ({delta:+.1%})"
    return df, (diff.note or line)


def from_gguf(f: GGUFFile, engine: str, mmproj: GGUFFile | None = None, text_only: bool = False) -> ByoModel:
    """The model and exact weights of a GGUF file; ValueError (one line) when it cannot be sized on `engine`."""
    model = model_from_gguf(f, mmproj)
    wb = file_weights(f, model, engine, mmproj=mmproj, text_only=text_only)
    df, line = tensor_table(f, model)
    read = f"{f.bytes_read / 2**20:.2f} MiB read" + (f" of {f.file_bytes / GiB:.2f} GiB" if f.file_bytes else "")
    summary = (
        f"{model.name}: {f.arch}, {f.file_type or 'unstated type'}, {len(f.tensors)} tensors in "
        f"{len(f.shards)} file(s), {f.tensor_bytes / GiB:.3f} GiB of weights ({read})"
    )
    notes = tuple(n for n in (line, model.notes) if n)
    return ByoModel(model, wb, summary, df, notes)


def from_hub(repo: HubModel, engine: str, text_only: bool = False) -> ByoModel:
    """A Hub model: exact safetensors bytes on vLLM / transformers, else the recipe for the sidebar's quant."""
    choices = tuple(repo.gguf_uri(g) for g in repo.gguf_files)
    if repo.model is None:
        raise ValueError(f"{repo.repo_id} has no config.json; pick one of its GGUF files below" if choices else
                         f"{repo.repo_id} has neither config.json nor GGUF files")  # fmt: skip
    wb = None
    note = "sized with the calculator's recipe for the sidebar's quantization"
    if repo.tensors and engine in SAFETENSORS_ENGINES:
        wb = safetensors_weights(repo, engine, text_only=text_only)
        note = f"exact stored bytes ({repo.stored_dtype}) from the safetensors headers"
    total = sum(t.n_bytes for t in repo.tensors)
    summary = f"{repo.repo_id}: config.json, {len(repo.tensors)} safetensors tensors ({total / GiB:.3f} GiB); {note}"
    return ByoModel(repo.model, wb, summary, None, tuple(n for n in (repo.model.notes,) if n), choices)


def from_upload(data: bytes, name: str, engine: str, text_only: bool = False) -> ByoModel:
    """An uploaded .gguf (its header) or config.json."""
    if name.lower().endswith(".gguf"):
        return from_gguf(read_shards([BytesSource(data, name)]), engine, text_only=text_only)
    model = model_from_hf_json(data, model_id=name.removesuffix(".json"))
    return ByoModel(model, None, f"{name}: config.json, sized with the recipe for the sidebar's quantization")


# The server reads what a visitor types, so every read goes through the FetchGuard (hosts, MODEL_DIR); the guard's
# repr is part of the cache key, so a result read under a wider rule is not served after the rule is narrowed.
@st.cache_data(ttl=600, show_spinner="Reading the GGUF header...")
def _load_gguf(location: str, _guard: FetchGuard, guard_key: str) -> GGUFFile:
    return hf_hub.open_location(location, guard=_guard)


@st.cache_data(ttl=600, show_spinner="Asking the Hugging Face Hub...")
def _load_hub(repo_id: str, _guard: FetchGuard, guard_key: str) -> HubModel:
    return hf_hub.inspect_repo(repo_id, guard=_guard)


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


def _inputs(engine: str, text_only: bool) -> ByoModel | None:
    guard = FetchGuard.from_env()
    tab_file, tab_hub, tab_up = st.tabs(["GGUF path or URL", "Hugging Face id", "Upload"])
    with tab_file:
        loc = st.text_input(
            "GGUF file", key="byo_gguf", placeholder="/models/x.gguf, https://..., hf://org/name/x.gguf"
        )
        proj = st.text_input("mmproj (optional)", key="byo_mmproj", placeholder="vision/audio projector GGUF")
        st.caption(fetch_rule(guard))
    with tab_hub:
        repo_id = st.text_input("Model id", key="byo_hub", placeholder="google/gemma-4-E4B-it[@revision]")
    with tab_up:
        up = st.file_uploader("A .gguf (small files) or a config.json", type=["gguf", "json"], key="byo_upload")
    key = repr(guard)
    if loc.strip():
        mmproj = _load_gguf(proj.strip(), guard, key) if proj.strip() else None
        return from_gguf(_load_gguf(loc.strip(), guard, key), engine, mmproj, text_only)
    if repo_id.strip():
        byo = from_hub(_load_hub(repo_id.strip(), guard, key), engine, text_only)
        if byo.gguf_choices:
            pick = st.selectbox("Or size one of its GGUF files", ["(none)", *byo.gguf_choices], key="byo_hub_gguf")
            if pick != "(none)":
                return from_gguf(_load_gguf(pick, guard, key), engine, text_only=text_only)
        return byo
    if up is not None:
        return from_upload(up.getvalue(), up.name, engine, text_only)
    return None


def render(engine: str, text_only: bool = False) -> ByoModel | None:
    """The "Bring your own model" inputs and table; the model to size, or None to keep the sidebar's."""
    with st.expander("Bring your own model: a GGUF file, a Hugging Face id or an upload", expanded=False):
        try:
            byo = _inputs(engine, text_only)
        except ValueError as e:  # GGUFError / HubError / importer errors: one line each
            st.warning(str(e).splitlines()[0])
            return None
        except Exception as e:  # untrusted input must never reach the page as a traceback
            st.warning(f"could not read it: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            return None
        if byo is None:
            st.caption("Only the header is read (HTTP range requests for URLs); the weights are the file's exactly.")
            return None
        st.success(byo.summary)
        for n in byo.notes:
            st.caption(n)
        if byo.table is not None:
            st.dataframe(byo.table, hide_index=True, height=300, key="byo_table")
    return byo
