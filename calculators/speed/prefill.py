"""Prefill time: compute-bound prompt processing with matmul saturation at small batches."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass
from calculators.speed.device import SERVER_ENGINES
from calculators.speed.params import ClassParams, SharedParams
from calculators.speed.setup import _Setup
from calculators.speed.step import attention_flops


def matmul_saturation(tokens_per_matrix: float, half_tokens: float) -> float:
    """Share of the class's prefill efficiency reached when each weight matrix is applied to this many tokens."""
    if tokens_per_matrix <= 0:
        return 1.0
    return tokens_per_matrix / (tokens_per_matrix + half_tokens)


def prefill_s(
    *,
    dense_flops: float,
    expert_flops: float,
    tokens: int,
    experts: int,
    experts_active: int,
    fp16_flops_per_s: float,
    cls: ClassParams,
    shared: SharedParams,
    ubatch: int = 512,
) -> float:
    """Seconds to process `tokens` prompt tokens: dense part (incl. attention) + routed experts, at the class's
    prefill efficiency, slowed where few tokens share a weight matrix (small ubatch, routed experts)."""
    per_batch = min(tokens, ubatch) if ubatch else tokens
    s_dense = matmul_saturation(per_batch, shared.prefill_half_tokens)
    t = dense_flops / s_dense
    if expert_flops:
        s_exp = matmul_saturation(per_batch * experts_active / max(experts, 1), shared.prefill_half_tokens)
        t += expert_flops / s_exp
    return t / (fp16_flops_per_s * cls.prefill_efficiency)


def prefill_time(s: _Setup, prompt_tokens: int, depth_tokens: int = 0, sequences: int = 1) -> float:
    """Seconds to process `sequences` prompts of `prompt_tokens` each (after `depth_tokens` already cached)."""
    g = s.geo
    if prompt_tokens <= 0 or sequences <= 0:
        return 0.0
    attn = sequences * attention_flops(g.q_dim, g.full_layers, g.sliding_layers, g.window, prompt_tokens, depth_tokens)
    total = prompt_tokens * sequences
    expert = 2 * g.expert_compute_params * total
    dense = 2 * (g.compute_params - g.expert_compute_params) * total + attn
    q = s.shared.kquant_compute_factor if g.kquant and s.cls_name == "apple" else 1.0
    tp = s.gpus if s.engine in SERVER_ENGINES else 1
    if s.server:  # large batched GEMMs: the serving class's arithmetic efficiency, as in the fit
        return (dense + expert) / (s.fp16 * tp * s.cls.prefill_efficiency)
    ubatch = 512 if s.engine in ("llama.cpp", "ollama") else 8192
    t = prefill_s(
        dense_flops=dense * q,
        expert_flops=expert * q,
        tokens=total,
        experts=g.experts,
        experts_active=g.experts_active,
        fp16_flops_per_s=s.fp16 * tp,
        cls=s.cls,
        shared=s.shared,
        ubatch=ubatch,
    )
    # Weights are streamed once per ubatch even when the prompt is short.
    n_ub = math.ceil(total / ubatch)
    stream = n_ub * g.total_weight_bytes / (s.dev.bandwidth_bytes_per_s * s.cls.bandwidth_efficiency * tp)
    return max(t, stream)
