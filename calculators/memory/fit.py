"""The fit matrix: every variant x device x quant x context at once (the Memory page's heatmap)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from calculators.engines import engine as engine_record
from calculators.memory.accounting import _overhead, _split, _unified_device, block_kv_need_bytes, fit_usable_bytes
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


def _cell_kv_bytes(req: MemoryRequest, ctx: int, n_seq: int) -> int:
    return kv_cache_bytes(req.model, ctx, req.kv_dtype, req.engine, n_seq, n_ubatch=req.n_ubatch)


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

    GPU-resident weights + KV (the engine's cell rules) + overhead against the device's usable memory (vLLM:
    gpu_memory_utilization of it, KV in whole blocks); unified memory counts the host-side tensors too. The
    accounting is `estimate`'s (calculators/memory/accounting.py: `_need`, `fit_usable_bytes`), vectorised over
    devices; contexts beyond a model's maximum never fit. ValueError if the engine has no `kv_dtype` cache."""
    ctx = np.asarray(contexts, dtype=np.int64)
    M, Q, H, C = len(models), len(quants), len(hardware), len(ctx)
    rec = engine_record(engine)
    usable = np.array([fit_usable_bytes(engine, usable_memory_bytes(h, gpus)[0]) for h in hardware], dtype=np.int64)
    unified = np.array([_unified_device(h) for h in hardware], dtype=bool)
    apple = np.array([h.kind == "apple" for h in hardware], dtype=bool)
    need = np.full((M, Q, H, C), -1, dtype=np.int64)
    supported = np.zeros((M, Q), dtype=bool)
    for mi, m in enumerate(models):
        req = MemoryRequest(model=m, engine=engine, kv_dtype=kv_dtype, batch=batch, text_only=text_only, gpus=gpus)
        # KV + overhead per context as `estimate` counts them without a device (discrete-GPU reserve included).
        kv = block_kv_need_bytes if rec.takes_memory_fraction else _cell_kv_bytes
        kv_over = np.array(
            [kv(req, c, batch) + _overhead(req, c, batch) for c in (min(int(c), m.context_tokens) for c in ctx)],
            dtype=np.int64,
        )
        for qi, q in enumerate(quants):
            try:
                wb = weights(m, q, engine, text_only)
            except ValueError:
                continue
            supported[mi, qi] = True
            if rec.takes_memory_fraction:  # everything on the GPU, whatever the device
                need[mi, qi, :, :] = (wb.total_bytes + kv_over)[None, :]
                continue
            gpu_w, host_w = _split(req, wb, 0)
            gpu_need = gpu_w + kv_over
            need[mi, qi, :, :] = np.where(unified[:, None], (gpu_need + host_w)[None, :], gpu_need[None, :])
            if wb.tied_output_duplicate_bytes:
                need[mi, qi, apple, :] -= wb.tied_output_duplicate_bytes  # Metal maps one copy
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
