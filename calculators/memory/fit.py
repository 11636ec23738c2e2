"""The fit matrix: every variant x device x quant x context at once (the Memory page's heatmap)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calculators.memory.accounting import _overhead, _split, _unified_device
from calculators.memory.kv import kv_cache_bytes
from calculators.memory.overhead import GPU_RUNTIME_RESERVE_BYTES, usable_memory_bytes
from calculators.memory.request import MemoryRequest
from calculators.memory.weights import weights
from model_specs.schema import Hardware, ModelSpec

# ------------------------------------------------------------------------------------------------ fit matrix

DEFAULT_CONTEXT_LADDER: tuple[int, ...] = (2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144)


@dataclass(frozen=True)
class FitMatrix:
    """fits[m, q, h, c] and need_bytes[m, q, h, c] over models x quants x hardware x contexts, and the largest
    ladder context that fits per (m, q, h) (0 = none; NaN-free: unsupported combos are 0 and flagged)."""

    model_ids: tuple[str, ...]
    quants: tuple[str, ...]
    hardware_ids: tuple[str, ...]
    contexts: tuple[int, ...]
    need_bytes: np.ndarray  # int64 [M, Q, H, C]; -1 where the combination is unsupported
    usable_bytes: np.ndarray  # int64 [H]
    fits: np.ndarray  # bool [M, Q, H, C]
    max_context_tokens: np.ndarray  # int64 [M, Q, H]
    supported: np.ndarray  # bool [M, Q]


def fit_matrix(
    models: Sequence[ModelSpec],
    hardware: Sequence[Hardware],
    quants: Sequence[str],
    contexts: Sequence[int] = DEFAULT_CONTEXT_LADDER,
    *,
    engine: str = "llama.cpp",
    kv_dtype: str = "f16",
    batch: int = 1,
    text_only: bool = False,
    gpus: int = 1,
) -> FitMatrix:
    """Fit of every model x quant x device x context for one engine, one numpy row of devices x contexts per pair.

    GPU-resident weights + KV (the engine's cell rules) + overhead against the device's usable memory (x 0.9 for
    vLLM); unified memory counts the host-side tensors too. Same accounting as `estimate`; contexts beyond a
    model's maximum never fit. ValueError if the engine has no `kv_dtype` cache."""
    ctx = np.asarray(contexts, dtype=np.int64)
    M, Q, H, C = len(models), len(quants), len(hardware), len(ctx)
    usable = np.array([usable_memory_bytes(h, gpus)[0] for h in hardware], dtype=np.int64)
    if engine == "vllm":  # vLLM only takes gpu_memory_utilization (default 0.9) of the device
        usable = (usable * 0.9).astype(np.int64)
    unified = np.array([_unified_device(h) for h in hardware], dtype=bool)
    apple = np.array([h.kind == "apple" for h in hardware], dtype=bool)
    need = np.full((M, Q, H, C), -1, dtype=np.int64)
    supported = np.zeros((M, Q), dtype=bool)
    for mi, m in enumerate(models):
        req = MemoryRequest(model=m, engine=engine, kv_dtype=kv_dtype, batch=batch, text_only=text_only, gpus=gpus)
        # KV + overhead per context as `estimate` counts them without a device (discrete-GPU reserve included).
        kv_over = np.array(
            [
                kv_cache_bytes(m, c, kv_dtype, engine, batch) + _overhead(req, c, batch)
                for c in (min(int(c), m.context_tokens) for c in ctx)
            ],
            dtype=np.int64,
        )
        for qi, q in enumerate(quants):
            try:
                wb = weights(m, q, engine, text_only)
            except ValueError:
                continue
            supported[mi, qi] = True
            gpu_w, host_w = _split(req, wb, 0)
            gpu_need = gpu_w + kv_over
            need[mi, qi, :, :] = np.where(unified[:, None], (gpu_need + host_w)[None, :], gpu_need[None, :])
            if wb.tied_output_duplicate_bytes and engine in ("llama.cpp", "ollama"):
                need[mi, qi, apple, :] -= wb.tied_output_duplicate_bytes  # Metal maps one copy
            if engine != "vllm":
                need[mi, qi, unified, :] -= GPU_RUNTIME_RESERVE_BYTES  # no discrete-GPU driver reserve
    too_long = np.array([[c > m.context_tokens for c in ctx] for m in models], dtype=bool)  # [M, C]
    fits = (need >= 0) & (need <= usable[None, None, :, None]) & ~too_long[:, None, None, :]
    idx = np.where(fits, ctx[None, None, None, :], 0)
    max_ctx = idx.max(axis=3)
    return FitMatrix(
        tuple(m.id for m in models),
        tuple(quants),
        tuple(h.id for h in hardware),
        tuple(int(c) for c in ctx),
        need,
        usable,
        fits,
        max_ctx,
        supported,
    )
