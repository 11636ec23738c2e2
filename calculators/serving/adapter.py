"""The one place the serving package reaches into today's speed model (calculators/throughput.py).

When the speed model moves (calculators/speed/...), repoint these imports; nothing else in calculators/serving
imports it."""

from __future__ import annotations

from calculators.memory import kv_bytes_per_token_at
from calculators.throughput import (
    ALLREDUCE_LATENCY_S,
    LINK_GBS,
    SERVER_ENGINES,
    SERVER_STEP_OVERHEAD_S,
    Device,
    custom_device,
    forecast,
    matmul_saturation,
    moe_expert_fraction,
    prefill_time,
    resolve_device,
    resolve_model,
    step_time,
)
from calculators.throughput import _link as link_of
from calculators.throughput import _setup as _throughput_setup

__all__ = [
    "ALLREDUCE_LATENCY_S",
    "LINK_GBS",
    "SERVER_ENGINES",
    "SERVER_STEP_OVERHEAD_S",
    "Device",
    "custom_device",
    "forecast",
    "kv_bytes_per_token_at",
    "link_of",
    "matmul_saturation",
    "moe_expert_fraction",
    "prefill_time",
    "resolve_device",
    "resolve_model",
    "setup",
    "step_time",
]


def setup(model, quant: str, device, engine: str, gpus: int = 1, kv_dtype: str = "f16"):
    """Today's resolved speed-model setup (device class, fitted parameters, geometry) for one scenario."""
    notes: list[str] = []
    return _throughput_setup(
        resolve_model(model), quant, resolve_device(device), engine, kv_dtype, gpus, None, 0.0, notes
    )
