"""Weights of an actual GGUF file (from its header) for the memory and speed calculators, and its recipe diff.

`file_weights` turns the exact per-tensor inventory into the calculator's WeightBreakdown: component bytes are
sums of the listed tensors (token_embd -> embedding, output -> output, per_layer_token_embd -> ple, the rest of
the text decoder -> text, an mmproj's tensors -> vision / audio), so `weights_bytes` is the file's tensor data
exactly. `recipe_diff` lines every tensor up with the type the default llama-quantize recipe for the file's
nominal type would give (calculators/gguf.py), which is how custom recipes (unsloth dynamic quants, imatrix IQ
mixes, a Q4_K token embedding) show where they differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from calculators import gguf
from calculators.memory import WeightBreakdown
from model_specs.gguf_arch import is_audio_tensor
from model_specs.gguf_header import GGUFFile, GGUFTensor
from model_specs.schema import ModelSpec

GGUF_ENGINES = ("llama.cpp", "ollama")


def text_component(name: str) -> str:
    """The memory component a text-model tensor counts towards."""
    if name.startswith("token_embd."):
        return "embedding"
    if name.startswith("output."):
        return "output"
    if name.startswith("per_layer_token_embd."):
        return "ple"
    return "text"


def _lookup_row_bytes(t: GGUFTensor) -> int:
    """Bytes of one vocabulary row of a lookup table (read once per token)."""
    rows = t.shape[1] if len(t.shape) > 1 else 1
    return t.n_bytes // rows


def file_weights(
    f: GGUFFile,
    model: ModelSpec,
    engine: str = "llama.cpp",
    *,
    mmproj: GGUFFile | None = None,
    text_only: bool = False,
) -> WeightBreakdown:
    """The file's weights as the memory calculator counts them; ValueError for an engine that cannot load GGUF."""
    if engine not in GGUF_ENGINES:
        raise ValueError(f"a GGUF file runs on llama.cpp or ollama, not {engine}")
    comp = {"text": 0, "embedding": 0, "output": 0, "ple": 0, "vision": 0, "audio": 0}
    routed = lookup = rows = 0
    tied = model.text.tie_word_embeddings
    for t in f.tensors:
        c = text_component(t.name)
        comp[c] += t.n_bytes
        if "_exps." in t.name:
            routed += t.n_bytes
        if c == "ple" or (c == "embedding" and not tied):
            lookup += t.n_bytes
            rows += _lookup_row_bytes(t)
    notes = [f"weights from the GGUF header: {len(f.tensors)} tensors, {comp_sum(comp):,} bytes of tensor data"]
    if mmproj is not None and not text_only:
        for t in mmproj.tensors:
            comp["audio" if is_audio_tensor(t.name) else "vision"] += t.n_bytes
        notes.append(f"encoders from the mmproj header: {len(mmproj.tensors)} tensors")
    moe = model.text.moe
    active_routed = routed * moe.experts_per_token // moe.num_experts if moe else 0
    text_bytes = comp["text"] + comp["embedding"] + comp["output"] + comp["ple"]
    return WeightBreakdown(
        model_id=model.id,
        quant=f.file_type or "GGUF",
        engine=engine,
        component_bytes=comp,
        total_bytes=comp_sum(comp),
        active_bytes_per_token=text_bytes - routed + active_routed - lookup + rows,
        routed_expert_bytes=routed,
        tied_output_duplicate_bytes=comp["embedding"] if tied else 0,
        notes=tuple(notes),
    )


def comp_sum(comp: dict[str, int]) -> int:
    """Total of a component dict."""
    return sum(comp.values())


@dataclass(frozen=True)
class TensorRow:
    """One tensor of the file beside the default recipe's choice for it."""

    name: str
    shape: tuple[int, ...]
    ggml_type: str
    n_bytes: int
    default_type: str | None  # None: the default inventory has no such tensor (or no nominal type to compare)
    default_bytes: int | None

    @property
    def differs(self) -> bool:
        return self.default_type is not None and self.default_type != self.ggml_type


@dataclass(frozen=True)
class RecipeDiff:
    """The file's tensors against the default recipe for its nominal type."""

    ftype: str | None
    rows: tuple[TensorRow, ...]
    file_bytes: int  # tensor data in the file
    default_bytes: int | None  # the default recipe's total for the same inventory (None without a nominal type)
    missing_from_file: tuple[str, ...]  # tensors the default inventory has and the file does not
    note: str | None = None

    @property
    def differing(self) -> tuple[TensorRow, ...]:
        return tuple(r for r in self.rows if r.differs)


def _src_type(f: GGUFFile) -> str:
    """The 16-bit type the converter wrote unquantised matrices in (BF16 unless the file only has F16)."""
    types = {t.ggml_type for t in f.tensors if len(t.shape) >= 2}
    return "F16" if "F16" in types and "BF16" not in types else "BF16"


def recipe_diff(f: GGUFFile, model: ModelSpec) -> RecipeDiff:
    """Every tensor of the file with the default recipe's type and bytes for the file's nominal type."""
    ftype = f.file_type
    default: dict[str, tuple[str, int]] = {}
    note = None
    if ftype is not None and gguf.is_gguf_ftype(ftype):
        imatrix = any(k.startswith("quantize.imatrix") for k in f.metadata)
        size = gguf.gguf_size(model, ftype, imatrix=imatrix, src_type=_src_type(f))
        default = {name: (gt, b) for name, gt, b in size.tensor_types}
    else:
        note = f"no default recipe to compare with (file type {ftype or 'not stated'})"
    rows = tuple(
        TensorRow(t.name, t.shape, t.ggml_type, t.n_bytes, *default.get(t.name, (None, None))) for t in f.tensors
    )
    names = {t.name for t in f.tensors}
    missing = tuple(n for n in default if n not in names)
    default_total = sum(b for _, b in default.values()) if default else None
    return RecipeDiff(ftype, rows, f.tensor_bytes, default_total, missing, note)
