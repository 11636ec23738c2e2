"""The one place the serving package reaches into the speed model (calculators.speed).

When the speed model's public names move, repoint these imports; nothing else in calculators/serving imports it.
Catalog ids (the bench and tests name models and devices by id) are resolved here, against the packaged catalog,
so the speed model is always handed objects (branch `calc` makes it refuse ids)."""

from __future__ import annotations

from calculators.cpu import decode_step as cpu_decode_step
from calculators.memory import kv_bytes_per_token_at
from calculators.speed import (
    ALLREDUCE_LATENCY_S,
    LINK_GBS,
    SERVER_STEP_OVERHEAD_S,
    Device,
    SpeedForecast,
    custom_device,
    link_of,
    matmul_saturation,
    moe_expert_fraction,
    prefill_time,
    setup_for,
    step_time,
)
from calculators.speed import forecast as _forecast
from calculators.speed import resolve_device as _resolve_device
from calculators.speed import resolve_model as _resolve_model
from model_specs import load_catalog

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


def resolve_model(model):
    """A ModelSpec from a ModelSpec or a packaged-catalog id or alias (ValueError for an unknown id)."""
    if isinstance(model, str):
        try:
            return load_catalog().model(model)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return _resolve_model(model)


def resolve_device(hardware) -> Device:
    """A Device from a Device, a catalog Hardware entry or a packaged-catalog id (ValueError for an unknown id)."""
    if isinstance(hardware, str):
        try:
            hardware = load_catalog().device(hardware)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return _resolve_device(hardware)


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


def forecast(model, quant: str, hardware, *args, **kwargs):
    """calculators.speed.forecast with catalog ids resolved first."""
    return _forecast(resolve_model(model), quant, resolve_device(hardware), *args, **kwargs)
