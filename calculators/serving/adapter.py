"""The one place the serving package reaches into the speed model (calculators.speed).

When the speed model's public names move, repoint these imports; nothing else in calculators/serving imports it.
Like the speed model, the serving package takes ModelSpec and Hardware/Device objects, never catalog ids: the caller
(a page's view, the CLI, a test, the bench) resolves ids against the catalog it holds."""

from __future__ import annotations

from calculators.cpu import decode_step as cpu_decode_step
from calculators.memory import kv_bytes_per_token_at
from calculators.speed import (  # objects only: an id raises TypeError
    ALLREDUCE_LATENCY_S,
    LINK_GBS,
    SERVER_STEP_OVERHEAD_S,
    Device,
    SpeedForecast,
    custom_device,
    forecast,
    link_of,
    matmul_saturation,
    moe_expert_fraction,
    prefill_time,
    resolve_device,
    resolve_model,
    setup_for,
    step_time,
)

__all__ = [
    "ALLREDUCE_LATENCY_S",
    "LINK_GBS",
    "SERVER_STEP_OVERHEAD_S",
    "Device",
    "SpeedForecast",
    "cpu_decode_step",
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


def setup(
    model,
    quant: str,
    device,
    engine: str,
    gpus: int = 1,
    kv_dtype: str = "f16",
    weights_override=None,
    efficiency_override: float | None = None,
    threads: int | None = None,
):
    """The speed model's resolved setup (device class, fitted parameters, geometry) for one scenario
    (`weights_override`: an actual file's exact weights; `efficiency_override`: a measured bandwidth efficiency)."""
    dev = resolve_device(device)
    m, wo = resolve_model(model), weights_override
    return setup_for(m, quant, dev, engine, gpus, kv_dtype, wo, efficiency_override, threads)
