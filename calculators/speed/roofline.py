"""Roofline view and implied efficiency of a measured speed against the model's bounds."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from calculators.memory import WeightBreakdown
    from model_specs.schema import Hardware, ModelSpec
from calculators.speed.device import Device, resolve_device
from calculators.speed.geometry import resolve_model
from calculators.speed.setup import _setup
from calculators.speed.step import attention_flops, step_time


def roofline(
    model: ModelSpec,
    quant: str,
    hardware: Hardware | Device,
    engine: str = "llama.cpp",
    batches: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256),
    depth_tokens: int = 1024,
    kv_dtype: str = "f16",
    efficiency_override: float | None = None,
    threads: int | None = None,  # CPU devices: llama.cpp -t (CPU hook)
    weights_override: WeightBreakdown | None = None,  # an actual file's exact weights
) -> dict:
    """Arithmetic intensity (FLOP/byte) and achieved FLOP/s of decode at several batch sizes, with the roofs."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    s = _setup(model, quant, dev, engine, kv_dtype, 1, efficiency_override, 0.0, [], threads, weights_override)
    g = s.geo
    flops_tok = 2 * g.compute_params + attention_flops(
        g.q_dim, g.full_layers, g.sliding_layers, g.window, 1, depth_tokens
    )
    points = []
    for b in batches:
        st = step_time(s, b, depth_tokens)
        byts = st.weight_bytes + st.kv_bytes
        points.append(
            {
                "batch": b,
                "intensity_flop_per_byte": b * flops_tok / byts,
                "achieved_flops_per_s": b * flops_tok / st.total_s,
                "bound": st.bound,
            }
        )
    return {
        "peak_bandwidth_bytes_per_s": dev.bandwidth_bytes_per_s,
        "effective_bandwidth_bytes_per_s": dev.bandwidth_bytes_per_s * s.cls.bandwidth_efficiency,
        "peak_flops_per_s": s.fp16,
        "effective_flops_per_s": s.fp16 * s.cls.compute_efficiency,
        "ridge_flop_per_byte": s.fp16
        * s.cls.compute_efficiency
        / (dev.bandwidth_bytes_per_s * s.cls.bandwidth_efficiency),
        "points": points,
        "notes": list(s.notes),
    }


def implied_efficiency(
    model: ModelSpec,
    quant: str,
    hardware: Hardware | Device,
    measured_decode_tokens_per_s: float,
    engine: str = "llama.cpp",
    depth_tokens: int = 0,
    kv_dtype: str = "f16",
    gpus: int = 1,
    weights_override: WeightBreakdown | None = None,  # an actual file's exact weights
) -> float:
    """The bandwidth efficiency that makes the model reproduce a measured single-stream decode speed.

    Feed it back as `efficiency_override` to forecast other settings from your own measurement."""
    if not measured_decode_tokens_per_s or measured_decode_tokens_per_s <= 0:
        raise ValueError("measured decode speed must be positive")
    model = resolve_model(model)
    dev = resolve_device(hardware)
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, 1.0, 0.0, [], None, weights_override)
    st = step_time(s, 1, depth_tokens)
    rest = st.overhead_s + st.compute_s + st.comm_s
    t = 1.0 / measured_decode_tokens_per_s
    if t <= rest:
        raise ValueError("measured speed is faster than the fixed costs alone allow: check model, quant and device")
    return st.memory_s / (t - rest)  # memory_s was computed at efficiency 1
