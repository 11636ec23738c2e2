"""Binds a model, device, quant and engine to the fitted parameters the step-time model uses."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from calculators import cpu as cpu_model
from calculators.engines import engine as engine_record

if TYPE_CHECKING:
    from calculators.memory import WeightBreakdown
    from model_specs.schema import ModelSpec
from calculators.speed.calibration import CLASSES, SERVER, SHARED
from calculators.speed.device import (
    FP8_CAPABLE_TFLOPS,
    FP8_QUANTS,
    HBM_BANDWIDTH_GBS,
    Device,
    _fp16,
    class_of,
)
from calculators.speed.geometry import ModelGeometry, geometry
from calculators.speed.params import ClassParams, SharedParams, server_class

MAX_EFFICIENCY_OVERRIDE = 1.5  # a measured bandwidth efficiency above this is a wrong device or model, not a fast run


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
    cpu: cpu_model.CpuCores | None = None  # CPU hook: cores / ISA from the catalog -> calculators/cpu.py decode model
    threads: int | None = None  # CPU hook: llama.cpp -t (None on GPUs)

    @property
    def measured_bandwidth_bytes_per_s(self) -> float | None:
        """The bandwidth a measured efficiency implies (None when the fit applies)."""
        return (
            self.dev.bandwidth_bytes_per_s * self.cls.bandwidth_efficiency
            if self.efficiency_source == "override"
            else None
        )


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
    threads: int | None = None,
    weights_override: WeightBreakdown | None = None,
) -> _Setup:
    """Resolve the device class, its fitted (or overridden) parameters and the model geometry; appends notes."""
    rec = engine_record(engine)
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
    server = rec.serving_scheduler and dev.kind in ("nvidia", "amd", "intel")
    if server:
        sp = SERVER
        cls_name = "server-gpu"
        cls = server_class(sp)
        cls = replace(cls, bandwidth_efficiency=cls.bandwidth_efficiency * rec.serving_bandwidth_factor)
        notes.append(
            f"{engine}: serving-engine parameters fitted to TensorRT-LLM throughput on H100"
            + (
                f", weight streaming at {rec.serving_bandwidth_factor:.0%} of it as fitted on published {engine} runs"
                if rec.serving_bandwidth_factor != 1
                else f" (no published {engine} serving runs: {engine} may be slower)"
            )
        )
        if not (dev.kind == "nvidia" and dev.hbm):
            notes.append("serving parameters come from NVIDIA HBM parts only")
    elif not rec.calibrated:
        notes.append(f"no published {engine} points for {dev.kind} devices: llama.cpp-fitted efficiencies used")
    if not server and cls.n_decode_points < 10:
        notes.append(f"device class '{cls_name}' rests on {cls.n_decode_points} published points: wide range")
    cpu_cores, threads, cls = _cpu_hook(dev, cls_name, cls, engine, threads, notes)
    source = "fitted"
    if efficiency_override is not None:
        if not (0 < efficiency_override <= MAX_EFFICIENCY_OVERRIDE) or not math.isfinite(efficiency_override):
            raise ValueError(f"efficiency override must be in (0, {MAX_EFFICIENCY_OVERRIDE:g}]")
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
        cpu=cpu_cores,
        threads=threads,
    )


def _cpu_hook(
    dev: Device,
    cls_name: str,
    cls: ClassParams,
    engine: str,
    threads: int | None,
    notes: list[str],
) -> tuple[cpu_model.CpuCores | None, int | None, ClassParams]:
    """CPU hook: the device's cores (None without a catalog `cpu` block), the thread count used and the class
    parameters with the CPU model's range; appends notes."""
    if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
        raise ValueError("threads must be a positive integer")
    if cls_name != "cpu":
        if threads is not None:
            raise ValueError(f"threads (llama.cpp -t) applies to CPU-only devices; {dev.name} is not one")
        return None, None, cls
    cores = cpu_model.cores_from_hardware(dev.hardware) if dev.hardware is not None else None
    why = "no core count in the catalog" if cores is None else None
    why = why or (f"{engine} on CPUs is not modelled per thread" if not engine_record(engine).calibrated else None)
    if why:
        if threads is not None:
            notes.append(f"threads ignored: {why}")
        gap = "core count and sustained bandwidth are not in the catalog"
        gap = f"the CPU decode model is not used: {why}" if cores else gap
        notes.append(
            "CPU decode: the catalog gives the DRAM peak, which many-core servers and some SoCs reach only in part "
            f"({gap}), so the range goes down to {1 + cls.decode_rel_low:.0%} of the forecast"
        )
        return None, None, cls
    n = threads or cpu_model.default_threads(cores, engine)
    p = cpu_model.CPU_PARAMS
    notes.append(
        f"CPU decode model (calculators/cpu.py): {n} threads on {cores.cores} cores"
        f"{'' if threads else f' ({engine} default)'}; fitted on {p.n_points} published runs of {p.n_devices} CPUs"
    )
    if n > cores.threads:
        notes.append(f"{n} threads exceed the {cores.threads} hardware threads: they time-share")
    # the range of a CPU forecast is the CPU model's held-out spread
    return cores, n, replace(cls, decode_rel_low=p.decode_rel_low, decode_rel_high=p.decode_rel_high)


def setup_for(
    model,
    quant: str,
    device,
    engine: str,
    gpus: int = 1,
    kv_dtype: str = "f16",
    weights_override=None,
    efficiency_override: float | None = None,
    threads: int | None = None,
) -> _Setup:
    """The resolved setup (device class, fitted parameters, geometry) of one scenario, for models built on this one;
    `weights_override`: an actual file's exact weights instead of the recipe's; `efficiency_override`: a measured
    bandwidth efficiency; `threads`: llama.cpp -t on a CPU."""
    from calculators.speed.device import resolve_device
    from calculators.speed.geometry import resolve_model

    dev = resolve_device(device)
    eff, wo = efficiency_override, weights_override
    return _setup(resolve_model(model), quant, dev, engine, kv_dtype, gpus, eff, 0.0, [], threads, wo)
