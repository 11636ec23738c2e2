"""Binds a model, device, quant and engine to the fitted parameters the step-time model uses."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from calculators.memory import ENGINES

if TYPE_CHECKING:
    from calculators.memory import WeightBreakdown
    from model_specs.schema import ModelSpec
from calculators.speed.calibration import CLASSES, SERVER, SHARED
from calculators.speed.device import (
    CALIBRATED_ENGINES,
    FP8_CAPABLE_TFLOPS,
    FP8_QUANTS,
    HBM_BANDWIDTH_GBS,
    SERVER_ENGINES,
    Device,
    _fp16,
    class_of,
)
from calculators.speed.geometry import ModelGeometry, geometry
from calculators.speed.params import ClassParams, SharedParams


@dataclass(frozen=True)
class _Setup:
    """Everything resolved once per forecast."""

    model: ModelSpec
    geo: ModelGeometry
    dev: Device
    cls_name: str
    cls: ClassParams
    shared: SharedParams
    engine: str
    kv_dtype: str
    gpus: int
    fp16: float
    host_fraction: float  # share of the weights read from host RAM (llama.cpp partial offload)
    efficiency_source: str
    notes: tuple[str, ...]
    server: bool  # vLLM / transformers: serving-engine parameters (paged KV, no per-layer launch cost)
    kv_read_ratio: float


def _setup(
    model: ModelSpec,
    quant: str,
    dev: Device,
    engine: str,
    kv_dtype: str,
    gpus: int,
    efficiency_override: float | None,
    host_fraction: float,
    notes: list[str],
    weights_override: WeightBreakdown | None = None,
) -> _Setup:
    """Resolve the device class, its fitted (or overridden) parameters and the model geometry; appends notes."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (one of {', '.join(ENGINES)})")
    if gpus < 1:
        raise ValueError("gpus must be at least 1")
    cls_name = class_of(dev)
    cls = CLASSES[cls_name]
    if dev.kind == "mobile":
        notes.append("phones: no published calibration points; CPU-class efficiencies used")
    if dev.id == "custom" and dev.kind == "nvidia":
        notes.append(
            f"custom NVIDIA device taken as {'an HBM datacenter part' if dev.hbm else 'a GDDR/LPDDR part'} "
            f"(bandwidth {'>=' if dev.hbm else '<'} {HBM_BANDWIDTH_GBS:g} GB/s)"
        )
    server = engine in SERVER_ENGINES and dev.kind in ("nvidia", "amd", "intel")
    if server:
        sp = SERVER
        cls_name = "server-gpu"
        cls = ClassParams(
            bandwidth_efficiency=sp.bandwidth_efficiency,
            layer_overhead_s=0.0,
            compute_efficiency=sp.compute_efficiency,
            prefill_efficiency=sp.compute_efficiency,
            decode_rel_low=sp.rel_low,
            decode_rel_high=sp.rel_high,
            prefill_rel_low=-0.3,
            prefill_rel_high=0.3,
            n_decode_points=sp.n_points,
        )
        notes.append(
            f"{engine}: serving-engine parameters fitted to TensorRT-LLM throughput on H100 (vLLM is usually somewhat "
            "slower); no published single-stream vLLM points"
        )
        if not (dev.kind == "nvidia" and dev.hbm):
            notes.append("serving parameters come from NVIDIA HBM parts only")
    elif engine not in CALIBRATED_ENGINES:
        notes.append(f"no published {engine} points for {dev.kind} devices: llama.cpp-fitted efficiencies used")
    if not server and cls.n_decode_points < 10:
        notes.append(f"device class '{cls_name}' rests on {cls.n_decode_points} published points: wide range")
    if cls_name == "cpu":
        notes.append(
            "CPU decode: the catalog gives the DRAM peak, which many-core servers and some SoCs reach only in part "
            f"(core count and sustained bandwidth are not in the catalog), so the range goes down to "
            f"{1 + cls.decode_rel_low:.0%} of the forecast"
        )
    source = "fitted"
    if efficiency_override is not None:
        if not (0 < efficiency_override <= 1.5) or not math.isfinite(efficiency_override):
            raise ValueError("efficiency override must be in (0, 1.5]")
        cls = replace(cls, bandwidth_efficiency=efficiency_override, decode_rel_low=-0.08, decode_rel_high=0.08)
        source = "override"
        notes.append(f"bandwidth efficiency {efficiency_override:.3f} taken from a measurement instead of the fit")
    geo = geometry(model, quant, engine, weights_override)
    fp16 = _fp16(dev, notes)
    if server and dev.kind == "nvidia" and fp16 >= FP8_CAPABLE_TFLOPS * 1e12 and geo.quant.upper() in FP8_QUANTS:
        fp16 *= 2  # FP8 tensor cores (Hopper and later) run twice the FP16 rate
        notes.append(f"{geo.quant} on FP8 tensor cores: arithmetic peak taken as twice the FP16 figure")
    return _Setup(
        model=model,
        geo=geo,
        dev=dev,
        cls_name=cls_name,
        cls=cls,
        shared=SHARED,
        engine=engine,
        kv_dtype=kv_dtype,
        gpus=gpus,
        fp16=fp16,
        host_fraction=host_fraction,
        efficiency_source=source,
        notes=tuple(notes),
        server=server,
        kv_read_ratio=1.0 if server else SHARED.kv_read_ratio,
    )
