"""KV cache: per-layer geometry, the cells each engine allocates, and bytes per token or per context."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from calculators.memory.weights import ENGINES, KV_DTYPES
from calculators.tensors import cached_per_model
from model_specs.schema import ModelSpec

# KV cache element cost: (values per block, bytes per block).
_KV_BLOCK = {"f16": (1, 2), "bf16": (1, 2), "fp8": (1, 1), "q8_0": (32, 34), "q4_0": (32, 18), "f32": (1, 4)}
# Which KV dtypes each engine can allocate (llama.cpp --cache-type-k/v; Ollama OLLAMA_KV_CACHE_TYPE;
# vLLM --kv-cache-dtype auto|fp8; transformers DynamicCache in the model dtype).
ENGINE_KV_DTYPES: dict[str, set[str]] = {
    "llama.cpp": {"f16", "bf16", "q8_0", "q4_0", "f32"},
    "ollama": {"f16", "q8_0", "q4_0"},
    "vllm": {"f16", "bf16", "fp8"},
    "transformers": {"f16", "bf16", "f32"},
}


# ------------------------------------------------------------------------------------------------ KV cache


@dataclass(frozen=True)
class KVGeometry:
    """Per layer type: how many layers own a cache, and the K+V values per token of one such layer."""

    sliding_layers: int
    full_layers: int
    sliding_kv_values: int  # K + V values per token of one sliding layer
    full_kv_values: int
    window: int
    sliding_layers_all: int  # including KV-shared layers (they read the cache)
    full_layers_all: int


@cached_per_model()  # read by every KV call of the max-context / max-concurrency searches
def kv_geometry(model: ModelSpec) -> KVGeometry:
    """Cache-owning layers per type (KV-shared layers own none) and their K+V values per token."""
    att = model.text.attention
    n_own = len(att.layer_types) - att.kv_shared_layers
    own = att.layer_types[:n_own]
    s_vals = 2 * att.sliding.kv_heads * att.sliding.head_dim if att.sliding else 0
    f_vals = 2 * att.full.kv_heads * att.full.head_dim
    return KVGeometry(
        sliding_layers=own.count("S"),
        full_layers=own.count("F"),
        sliding_kv_values=s_vals,
        full_kv_values=f_vals,
        window=att.sliding_window_tokens or 0,
        sliding_layers_all=att.layer_types.count("S"),
        full_layers_all=att.layer_types.count("F"),
    )


def kv_values_bytes(values: int, kv_dtype: str) -> int:
    """Bytes of `values` cache entries (one K or V row is a multiple of the block) in `kv_dtype`."""
    try:
        blk, size = _KV_BLOCK[kv_dtype]
    except KeyError:
        raise ValueError(f"unknown KV dtype '{kv_dtype}' (known: {', '.join(KV_DTYPES)})") from None
    return values // blk * size if values % blk == 0 else math.ceil(values / blk) * size


def _row_bytes(g: KVGeometry, kv_dtype: str) -> tuple[int, int]:
    """K+V bytes per token of one full and one sliding layer (K and V rows are sized separately: block padding)."""
    full = kv_values_bytes(g.full_kv_values // 2, kv_dtype) * 2
    swa = kv_values_bytes(g.sliding_kv_values // 2, kv_dtype) * 2 if g.sliding_kv_values else 0
    return full, swa


def _pad(x: int, n: int) -> int:
    return (x + n - 1) // n * n


@dataclass(frozen=True)
class KVCells:
    """Cells (token slots) per layer type that an engine allocates."""

    full_cells: int
    sliding_cells: int


def kv_cells(
    model: ModelSpec,
    context_tokens: int,
    engine: str = "llama.cpp",
    n_seq: int = 1,
    *,
    n_ubatch: int = 512,
    swa_full: bool = False,
    max_num_batched_tokens: int = 8192,
    block_tokens: int = 16,
) -> KVCells:
    """Token slots per full / sliding layer for `n_seq` sequences of `context_tokens` each."""
    if context_tokens < 1 or n_seq < 1:
        raise ValueError("context and batch must be positive")
    g = kv_geometry(model)
    w = g.window
    if engine == "llama.cpp":
        full = _pad(context_tokens * n_seq, 256)
        swa = full if swa_full or not w else _pad(min(full, w * n_seq + n_ubatch), 256)
        return KVCells(full, min(swa, full))
    if engine == "ollama":
        full = _pad(context_tokens * n_seq, 256)
        if not w:
            return KVCells(full, full)
        mem = w + 1 if n_seq > 1 else w
        swa = full if mem >= context_tokens else _pad(n_seq * mem + n_ubatch, 256)
        return KVCells(full, min(swa, full))
    if engine == "vllm":
        full_blocks = -(-context_tokens // block_tokens)
        swa_blocks = -(-min(w - 1 + max_num_batched_tokens, context_tokens) // block_tokens) + 1 if w else full_blocks
        return KVCells(full_blocks * block_tokens * n_seq, min(swa_blocks, full_blocks) * block_tokens * n_seq)
    if engine == "transformers":
        return KVCells(context_tokens * n_seq, min(context_tokens, w or context_tokens) * n_seq)
    raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")


def kv_cache_bytes(
    model: ModelSpec,
    context_tokens: int,
    kv_dtype: str = "f16",
    engine: str = "llama.cpp",
    n_seq: int = 1,
    **options,
) -> int:
    """Bytes of KV cache the engine allocates for n_seq sequences of context_tokens (see module docstring)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")
    if kv_dtype not in ENGINE_KV_DTYPES[engine]:
        supported = ", ".join(sorted(ENGINE_KV_DTYPES[engine]))
        raise ValueError(f"{engine} has no '{kv_dtype}' KV cache (supported: {supported})")
    g = kv_geometry(model)
    cells = kv_cells(model, context_tokens, engine, n_seq, **options)
    full_row, swa_row = _row_bytes(g, kv_dtype)
    return g.full_layers * cells.full_cells * full_row + g.sliding_layers * cells.sliding_cells * swa_row


def kv_bytes_per_token_at(model: ModelSpec, depth_tokens: int, kv_dtype: str = "f16") -> int:
    """Bytes of KV read to decode one token at `depth_tokens` of context (every layer reads its type's cache,
    KV-shared layers included; sliding layers read at most `window` positions)."""
    g = kv_geometry(model)
    d = max(0, int(depth_tokens))
    full_row, swa_row = _row_bytes(g, kv_dtype)
    return g.full_layers_all * d * full_row + g.sliding_layers_all * min(d, g.window or d) * swa_row


def kv_bytes_per_token(model: ModelSpec, kv_dtype: str = "f16") -> tuple[int, int]:
    """(full-layer bytes, sliding-layer bytes) of K+V per cached token, summed over cache-owning layers."""
    g = kv_geometry(model)
    full_row, swa_row = _row_bytes(g, kv_dtype)
    return g.full_layers * full_row, g.sliding_layers * swa_row


NAIVE_KV_CURVE = "naive: every layer, full context"
SLIDING_KV_CURVE = "sliding layers (llama.cpp)"
GLOBAL_KV_CURVE = "global layers only"


def kv_curve(model: ModelSpec, contexts: Sequence[int], kv_dtype: str = "f16", n_seq: int = 1) -> dict[str, list[int]]:
    """KV bytes at each context per engine (in `kv_dtype` where the engine has it, else f16), plus three guides.

    "global layers only": what the full-attention layers hold; "sliding layers (llama.cpp)": the rest of
    llama.cpp's cache, flat past the window (the plateau); "naive": every layer, KV-shared ones included, at the
    full context, which is what a calculator without windows or KV sharing reports.
    """
    curves = {}
    for engine in ENGINES:
        dtype = kv_dtype if kv_dtype in ENGINE_KV_DTYPES[engine] else "f16"
        curves[engine] = [kv_cache_bytes(model, c, dtype, engine, n_seq) for c in contexts]
    g = kv_geometry(model)
    full_row, swa_row = _row_bytes(g, kv_dtype)
    curves[GLOBAL_KV_CURVE] = [g.full_layers * full_row * c * n_seq for c in contexts]
    curves[SLIDING_KV_CURVE] = [t - f for t, f in zip(curves["llama.cpp"], curves[GLOBAL_KV_CURVE], strict=True)]
    naive_per_token = g.full_layers_all * full_row + g.sliding_layers_all * swa_row
    curves[NAIVE_KV_CURVE] = [naive_per_token * c * n_seq for c in contexts]
    return curves
