"""What one decode step reads and computes: weight bytes, active parameters, KV bytes per token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from calculators.memory import weights
from calculators.tensors import param_counts

if TYPE_CHECKING:
    from calculators.memory import WeightBreakdown
    from model_specs.schema import ModelSpec


def is_kquant(quant: str) -> bool:
    """K-quants (Q2_K..Q6_K, Q4_K_M, ...) and i-quants (IQ*) unpack through more arithmetic than Q4_0/Q8_0/F16."""
    q = quant.upper()
    return q.startswith("IQ") or "_K" in q


@dataclass(frozen=True)
class ModelGeometry:
    """Per-token bytes and FLOPs of one model variant on one engine (from the memory calculator)."""

    model_id: str
    quant: str
    layers: int
    moe: bool
    experts: int
    experts_active: int
    active_weight_bytes: int  # read per decoded token (top-k experts only)
    routed_expert_bytes: int  # all routed experts
    total_weight_bytes: int
    compute_params: float  # multiply-accumulate weights per token (lookups excluded)
    expert_compute_params: float  # routed-expert part of compute_params (top-k)
    q_dim: int
    full_layers: int
    sliding_layers: int
    window: int | None
    kquant: bool


_GEOMETRY_CACHE: dict[tuple, tuple[ModelSpec, ModelGeometry]] = {}


def wo_key(wo: WeightBreakdown | None) -> tuple | None:
    """Cache key of a weights override, by value (the id of a short-lived object can be reused)."""
    if wo is None:
        return None
    return (wo.quant, wo.total_bytes, wo.active_bytes_per_token, wo.routed_expert_bytes, *wo.component_bytes.values())


def geometry(
    model: ModelSpec, quant: str, engine: str = "llama.cpp", weights_override: WeightBreakdown | None = None
) -> ModelGeometry:
    """Bytes and FLOPs per token for `model` in `quant` on `engine` (ValueError for an unknown format); cached.

    `weights_override`: an actual file's exact weights (calculators/gguf_file.py) instead of the recipe's."""
    key = (id(model), quant, engine, wo_key(weights_override))
    hit = _GEOMETRY_CACHE.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    geo = _geometry(model, quant, engine, weights_override)
    if len(_GEOMETRY_CACHE) > 4096:
        _GEOMETRY_CACHE.clear()
    _GEOMETRY_CACHE[key] = (model, geo)
    return geo


def _geometry(model: ModelSpec, quant: str, engine: str, weights_override: WeightBreakdown | None) -> ModelGeometry:
    wb = weights_override or weights(model, quant, engine, text_only=True)
    pc = param_counts(model)
    t = model.text
    moe = t.moe
    att = t.attention
    n_full = att.layer_types.count("F")
    lookup = pc.ple_params + (pc.embedding_params if not t.tie_word_embeddings else 0)
    expert_active = pc.routed_expert_params * moe.experts_per_token / moe.num_experts if moe else 0.0
    compute = pc.text_params - lookup - (pc.routed_expert_params - expert_active)
    return ModelGeometry(
        model_id=model.id,
        quant=wb.quant,
        layers=t.num_layers,
        moe=moe is not None,
        experts=moe.num_experts if moe else 0,
        experts_active=moe.experts_per_token if moe else 0,
        active_weight_bytes=wb.active_bytes_per_token,
        routed_expert_bytes=wb.routed_expert_bytes,
        total_weight_bytes=wb.text_decoder_bytes,
        compute_params=float(compute),
        expert_compute_params=float(expert_active),
        q_dim=att.num_heads * att.full.head_dim,
        full_layers=n_full,
        sliding_layers=t.num_layers - n_full,
        window=att.sliding_window_tokens,
        kquant=is_kquant(wb.quant),
    )


def resolve_model(model: ModelSpec) -> ModelSpec:
    """The model itself; TypeError for an id (the caller looks ids up in the catalog it loaded, once)."""
    if isinstance(model, str):
        raise TypeError(f"pass a ModelSpec, not the id '{model}': look it up in the caller's catalog")
    return model
