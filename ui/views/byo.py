"""Bring your own model: the model a GGUF file, a Hugging Face id or an upload describes, for the Memory view.

The Scenario carries every location (`gguf`, `mmproj`, `hf`, `hf_file`), so a link reopens the same model; an
upload is the one input a link cannot carry. `resolve_byo` reads them through the FetchGuard
(model_specs/fetch_guard.py: URLs only to allowed hosts, paths only under MODEL_DIR), because the dashboard's server
makes these reads for whoever opens the link. Reads are cached for a few minutes per location and guard.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from calculators.gguf_file import file_weights, recipe_diff
from calculators.memory import WeightBreakdown
from calculators.safetensors_file import SAFETENSORS_ENGINES, safetensors_weights
from calculators.tensors import param_counts
from model_specs import hf_hub
from model_specs.fetch_guard import FetchGuard
from model_specs.gguf_arch import model_from_gguf
from model_specs.gguf_header import BytesSource, GGUFFile, read_shards
from model_specs.hf_hub import HubModel
from model_specs.hf_import import model_from_hf_json
from model_specs.schema import ModelSpec
from ui.scenario import Scenario

GiB = 1 << 30
READ_TTL_S = 600.0  # a header read is reused this long (a file behind a URL can change)


@dataclass(frozen=True)
class ByoModel:
    """What the page sizes instead of the sidebar's catalog model."""

    model: ModelSpec
    weights: WeightBreakdown | None  # exact bytes of the artifact; None: the calculator's recipe for the quant
    summary: str  # one line: what was read and how much of it
    table: pd.DataFrame | None = None  # per-tensor rows (GGUF only)
    notes: tuple[str, ...] = ()
    kind: str = "gguf"  # "gguf" | "hub" | "config"


@dataclass(frozen=True)
class Upload:
    """A file uploaded on the page (not in the link)."""

    name: str
    data: bytes


@dataclass(frozen=True)
class ByoResult:
    """The bring-your-own model of a scenario, or why it could not be read (then the catalog model is sized)."""

    byo: ByoModel | None = None
    error: str | None = None  # one line
    label: str | None = None  # what was asked for: a location, a Hub id or an upload's name
    hub_files: tuple[str, ...] = ()  # GGUF files of the scenario's Hub repo (the page offers them)


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
    return ByoModel(model, wb, summary, df, (line,), "gguf")


def from_hub(repo: HubModel, engine: str, text_only: bool = False) -> ByoModel:
    """A Hub model: exact safetensors bytes on vLLM / transformers, else the recipe for the sidebar's quant."""
    if repo.model is None:
        raise ValueError(f"{repo.repo_id} has no config.json; pick one of its GGUF files" if repo.gguf_files else
                         f"{repo.repo_id} has neither config.json nor GGUF files")  # fmt: skip
    wb = None
    note = "sized with the calculator's recipe for the sidebar's quantization"
    if repo.tensors and engine in SAFETENSORS_ENGINES:
        wb = safetensors_weights(repo, engine, text_only=text_only)
        note = f"exact stored bytes ({repo.stored_dtype}) from the safetensors headers"
    total = sum(t.n_bytes for t in repo.tensors)
    summary = f"{repo.repo_id}: config.json, {len(repo.tensors)} safetensors tensors ({total / GiB:.3f} GiB); {note}"
    return ByoModel(repo.model, wb, summary, None, (), "hub")


def from_upload(data: bytes, name: str, engine: str, text_only: bool = False) -> ByoModel:
    """An uploaded .gguf (its header) or config.json."""
    if name.lower().endswith(".gguf"):
        return from_gguf(read_shards([BytesSource(data, name)]), engine, text_only=text_only)
    model = model_from_hf_json(data, model_id=name.removesuffix(".json"))
    t = model.text
    summary = (
        f"Sizing the uploaded model: {t.num_layers} layers, hidden {t.hidden_size}, "
        f"{param_counts(model).text_params / 1e9:.2f} B text parameters ({name}; weights by the calculator's recipe "
        "for the sidebar's quantization)."
    )
    return ByoModel(model, None, summary, None, (), "config")


_READS: dict[tuple, tuple[float, Any]] = {}
_LOCK = threading.Lock()


def _cached(key: tuple, read: Callable[[], Any]) -> Any:
    """`read()` reused for READ_TTL_S per key (failures are not kept: the next run tries again)."""
    now = time.monotonic()
    with _LOCK:
        hit = _READS.get(key)
    if hit is not None and now - hit[0] < READ_TTL_S:
        return hit[1]
    value = read()
    with _LOCK:
        if len(_READS) >= 32:
            _READS.clear()
        _READS[key] = (now, value)
    return value


def _gguf(location: str, guard: FetchGuard) -> GGUFFile:
    return _cached(("gguf", location, repr(guard)), lambda: hf_hub.open_location(location, guard=guard))


def _hub(repo_id: str, guard: FetchGuard) -> HubModel:
    return _cached(("hub", repo_id, repr(guard)), lambda: hf_hub.inspect_repo(repo_id, guard=guard))


def _one_line(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else ""
    return text if isinstance(e, ValueError) else f"{type(e).__name__}: {text}"


def _resolve(s: Scenario, upload: Upload | None, guard: FetchGuard, files: list[str]) -> ByoModel | None:
    mmproj = _gguf(s.mmproj, guard) if s.mmproj else None
    if s.gguf:
        return from_gguf(_gguf(s.gguf, guard), s.engine, mmproj, s.text_only)
    if s.hf:
        repo = _hub(s.hf, guard)
        files += repo.gguf_files
        if s.hf_file:
            if s.hf_file not in repo.gguf_files:
                raise ValueError(f"{s.hf_file} is not one of {repo.repo_id}'s GGUF files")
            return from_gguf(_gguf(repo.gguf_uri(s.hf_file), guard), s.engine, mmproj, s.text_only)
        return from_hub(repo, s.engine, s.text_only)
    if upload is not None:
        return from_upload(upload.data, upload.name, s.engine, s.text_only)
    return None


def resolve_byo(s: Scenario, upload: Upload | None = None, guard: FetchGuard | None = None) -> ByoResult:
    """The scenario's own model (its GGUF location, else its Hub id, else the upload); errors as one line."""
    if not (s.gguf or s.hf or s.mmproj or upload):
        return ByoResult()
    guard = guard or FetchGuard.from_env()
    label = s.gguf or (s.hf and (f"{s.hf} / {s.hf_file}" if s.hf_file else s.hf)) or (upload and upload.name)
    files: list[str] = []
    try:
        if s.mmproj and not (s.gguf or (s.hf and s.hf_file)):
            raise ValueError("an mmproj file goes with a GGUF file")
        return ByoResult(_resolve(s, upload, guard, files), None, label, tuple(files))
    except Exception as e:  # untrusted input must never reach the page as a traceback: one line instead
        return ByoResult(None, _one_line(e), label or s.mmproj, tuple(files))
