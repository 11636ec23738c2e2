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
