"""The one place the serving package reaches into the speed model (calculators.speed).

When the speed model's public names move, repoint these imports; nothing else in calculators/serving imports it.
Like the speed model, the serving package takes ModelSpec and Hardware/Device objects, never catalog ids: the caller
(a page's view, the CLI, a test, the bench) resolves ids against the catalog it holds."""

from __future__ import annotations

from calculators.cpu import decode_step as cpu_decode_step
from calculators.memory import device_memory_bytes, kv_bytes_per_token_at
from calculators.speed import (  # objects only: an id raises TypeError
    MAX_EFFICIENCY_OVERRIDE,
    SERVER_STEP_OVERHEAD_S,
    Device,
    SpeedForecast,
    custom_device,
    forecast,
    link_of,
    matmul_saturation,
    mean_depth_tokens,
    moe_expert_fraction,
    prefill_time,
    resolve_device,
    resolve_model,
    setup_for,
    step_time,
    tp_comm_s,
)

__all__ = [
    "MAX_EFFICIENCY_OVERRIDE",
    "SERVER_STEP_OVERHEAD_S",
    "Device",
    "SpeedForecast",
    "cpu_decode_step",
    "custom_device",
    "device_memory_bytes",
    "forecast",
    "kv_bytes_per_token_at",
    "link_of",
    "matmul_saturation",
    "mean_depth_tokens",
    "moe_expert_fraction",
    "prefill_time",
    "resolve_device",
    "resolve_model",
    "setup",
    "step_time",
    "tp_comm_s",
]


# The speed model's resolved setup (device class, fitted parameters, geometry) for one scenario.
setup = setup_for
