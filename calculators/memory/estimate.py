"""Memory estimate of one scenario: total, fit, margin, largest context and concurrency."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from calculators.engines import engine as engine_record
from calculators.memory.accounting import (
    _is_unified,
    _need,
    _overhead,
    _split,
    _usable,
    fit_usable_bytes,
    request_weights,
)
from calculators.memory.kv import kv_cache_bytes
from calculators.memory.request import MemoryEstimate, MemoryRequest, Placement
from calculators.memory.vllm import vllm_capacity
from calculators.memory.weights import WeightBreakdown


def estimate(req: MemoryRequest) -> MemoryEstimate:
    """Weights + KV + overhead for a request, where they live, and (with a device) whether and how far it fits."""
    if req.context_tokens < 1:
        raise ValueError("context must be at least 1 token")
    if req.batch < 1 or req.gpus < 1:
        raise ValueError("batch and gpus must be at least 1")
    if req.context_tokens > req.model.context_tokens:
        raise ValueError(f"context {req.context_tokens} exceeds {req.model.id}'s maximum of {req.model.context_tokens}")
    wb = request_weights(req)
    notes = list(wb.notes)
    usable, rule = _usable(req)
    if engine_record(req.engine).takes_memory_fraction:
        return _estimate_vllm(req, wb, usable, rule, notes)
    kv = kv_cache_bytes(req.model, req.context_tokens, req.kv_dtype, req.engine, req.batch, n_ubatch=req.n_ubatch)
    over = _overhead(req, req.context_tokens, req.batch)
    gpu, host = _split(req, wb, kv)
    gpu += over
    total = gpu + host
    comps = dict(wb.component_bytes)
    comps["kv_cache"] = kv
    comps["overhead"] = over
    dup = gpu + host - wb.total_bytes - kv - over
    if dup:
        comps["output_copy"] = dup
    placement = Placement(gpu, host, -(-gpu // req.gpus))
    est = MemoryEstimate(wb.total_bytes, kv, over, total, comps, placement, wb, notes=tuple(notes))
    if usable is None:
        return est
    unified = _is_unified(req)
    need = gpu + host if unified else gpu
    fits = need <= usable
    max_ctx = _max_context(req, usable, unified)
    max_conc = _max_concurrency(req, usable, unified)
    notes.append(f"usable memory: {rule}")
    return replace(
        est,
        fits=fits,
        margin_bytes=usable - need,
        usable_bytes=usable,
        max_context_tokens=max_ctx,
        max_concurrency=max_conc,
        need_bytes=need,
        notes=tuple(notes),
    )


def _largest(fits: Callable[[int], bool], hi: int) -> int:
    """Largest n in 1..hi with fits(n) (0 if none), by bisection: `fits` must hold up to a point and no further."""
    if not fits(1):
        return 0
    if fits(hi):
        return hi
    lo = 1  # fits(lo) and not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _largest_context(req: MemoryRequest, fits: Callable[[int], bool]) -> int:
    """Largest context that fits: a multiple of 256 tokens, or the model's maximum (0 = not even 256)."""
    max_ctx = req.model.context_tokens
    steps = _largest(lambda k: fits(min(k * 256, max_ctx)), -(-max_ctx // 256))
    return min(steps * 256, max_ctx)


def _max_context(req: MemoryRequest, usable: int, unified: bool) -> int:
    """Largest context that fits with req.batch sequences."""
    return _largest_context(req, lambda ctx: _need(req, ctx, req.batch, unified) <= usable)


def _max_concurrency(req: MemoryRequest, usable: int, unified: bool) -> int:
    """Largest number of parallel sequences of req.context_tokens that fits (capped at 1024)."""
    return _largest(lambda n: _need(req, req.context_tokens, n, unified) <= usable, 1024)


def _estimate_vllm(
    req: MemoryRequest, wb: WeightBreakdown, usable: int | None, rule: str, notes: list[str]
) -> MemoryEstimate:
    tp = req.gpus
    over = _overhead(req, req.context_tokens, req.batch)
    per_req = kv_cache_bytes(
        req.model, req.context_tokens, req.kv_dtype, req.engine, 1, max_num_batched_tokens=req.max_num_batched_tokens
    )
    kv_need = per_req * req.batch
    comps = dict(wb.component_bytes)
    cap = None
    fits = margin = max_ctx = max_conc = need = None
    kv_alloc = kv_need
    if usable is not None:
        budget_total = int(usable * req.gpu_memory_utilization) - wb.total_bytes - over
        budget = budget_total // tp
        cap = vllm_capacity(
            req.model,
            budget,
            req.context_tokens,
            kv_dtype=req.kv_dtype,
            tp=tp,
            max_num_batched_tokens=req.max_num_batched_tokens,
        )
        # vLLM preallocates the whole budget as KV blocks.
        kv_alloc = max(0, budget_total)
        max_conc = int(cap.max_concurrency)
        # One accounting with fit_matrix: whole KV blocks against gpu_memory_utilization of the device.
        need = _need(req, req.context_tokens, req.batch, False)
        margin = fit_usable_bytes(req.engine, usable, req.gpu_memory_utilization) - need
        fits = margin >= 0
        max_ctx = _vllm_max_context(req, budget)
        notes.append(f"usable memory: {rule}; vLLM takes gpu_memory_utilization={req.gpu_memory_utilization}")
    comps["kv_cache"] = kv_alloc
    comps["overhead"] = over
    gpu = wb.total_bytes + kv_alloc + over  # vLLM keeps everything on the GPU
    return MemoryEstimate(
        wb.total_bytes,
        kv_alloc,
        over,
        gpu,
        comps,
        Placement(gpu, 0, -(-gpu // tp)),
        wb,
        fits=fits,
        margin_bytes=margin,
        usable_bytes=usable,
        max_context_tokens=max_ctx,
        max_concurrency=max_conc,
        vllm=cap,
        need_bytes=need,
        notes=tuple(notes),
    )


def _vllm_max_context(req: MemoryRequest, budget_per_gpu: int) -> int:
    """Largest max_model_len at which vLLM's KV pool holds req.batch requests."""

    def fits(ctx: int) -> bool:
        c = vllm_capacity(
            req.model,
            budget_per_gpu,
            ctx,
            kv_dtype=req.kv_dtype,
            tp=req.gpus,
            max_num_batched_tokens=req.max_num_batched_tokens,
        )
        return c.max_concurrency >= req.batch

    return _largest_context(req, fits)
