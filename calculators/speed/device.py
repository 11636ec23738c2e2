"""Devices as the speed model sees them: bandwidth, compute, memory, class; from the catalog or custom figures."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_specs.schema import Hardware

# ================================================================================================ forecasts
# Everything below turns a catalog model + quantisation + device into the inputs of the model above, using the
# memory calculator's byte counts (calculators/memory.py), and reports speeds with ranges.

GB = 1e9
GiB = 2**30
HBM_BANDWIDTH_GBS = 1900.0  # custom NVIDIA devices at or above this bandwidth are taken to be HBM parts
# FP16 TFLOPS per GB/s when a device lists no compute figure (fallbacks, reported in the notes): Apple M-series
# GPUs run ~0.034 (M2 Max 13.6 TF / 400 GB/s, M4 Max 18.4 / 546); CPUs ~0.01 (AVX2/AVX-512 or NEON FMA at
# all cores); discrete GPUs ~0.15.
TFLOPS_PER_GBS_FALLBACK = {"apple": 0.034, "cpu": 0.01, "mobile": 0.01}
TFLOPS_PER_GBS_FALLBACK_GPU = 0.15
HOST_BANDWIDTH_GBS = 64.0  # host RAM read by llama.cpp for layers left on the CPU (dual-channel DDR5, assumption)
DISK_READ_GBS = 2.0  # cold start: weights read from an NVMe SSD (assumption)
PIPELINE_HOP_S = 20e-6  # llama.cpp layer split: one activation hand-over per GPU boundary per token
CALIBRATED_ENGINES = ("llama.cpp", "ollama")
SERVER_ENGINES = ("vllm", "transformers")
FP8_QUANTS = ("FP8", "W8A8", "FP8-DYNAMIC")
FP8_CAPABLE_TFLOPS = 500.0  # dense FP16 at or above this: a Hopper/Blackwell-class part with FP8 tensor cores


@dataclass(frozen=True)
class Device:
    """What the speed model needs to know about a device (a catalog entry or a custom one)."""

    id: str
    name: str
    kind: str
    bandwidth_bytes_per_s: float
    fp16_flops_per_s: float | None  # dense FP16 peak as published; None = not published
    memory_bytes: int | None
    unified_memory: bool
    hbm: bool
    hardware: Hardware | None = None


def device_from_hardware(hw: Hardware) -> Device:
    """A catalog hardware entry as a Device (ValueError when it has no bandwidth)."""
    if not hw.memory_bandwidth_gbs:
        raise ValueError(f"hardware '{hw.id}' has no memory bandwidth in the catalog")
    label = f"{hw.memory_label} {hw.name}".upper()
    return Device(
        id=hw.id,
        name=hw.name,
        kind=hw.kind,
        bandwidth_bytes_per_s=hw.memory_bandwidth_gbs * GB,
        fp16_flops_per_s=hw.fp16_tflops_dense * 1e12 if hw.fp16_tflops_dense else None,
        memory_bytes=int(hw.memory_gib * GiB),
        unified_memory=hw.unified_memory,
        hbm="HBM" in label,
        hardware=hw,
    )


def custom_device(
    kind: str,
    memory_bandwidth_gbs: float,
    fp16_tflops: float | None,
    memory_gib: float | None = None,
    name: str = "custom device",
) -> Device:
    """A device described only by kind, bandwidth (GB/s), dense FP16 TFLOPS and (optionally) memory (GiB)."""
    if kind not in ("nvidia", "amd", "apple", "intel", "cpu", "mobile"):
        raise ValueError(f"unknown hardware kind '{kind}' (nvidia, amd, apple, intel, cpu)")
    if not memory_bandwidth_gbs or memory_bandwidth_gbs <= 0 or not math.isfinite(memory_bandwidth_gbs):
        raise ValueError("memory bandwidth must be a positive number of GB/s")
    if fp16_tflops is not None and (fp16_tflops <= 0 or not math.isfinite(fp16_tflops)):
        raise ValueError("FP16 TFLOPS must be positive")
    if memory_gib is not None and (memory_gib <= 0 or not math.isfinite(memory_gib)):
        raise ValueError("memory must be a positive number of GiB")
    hbm = kind == "nvidia" and memory_bandwidth_gbs >= HBM_BANDWIDTH_GBS
    return Device(
        id="custom",
        name=name,
        kind=kind,
        bandwidth_bytes_per_s=memory_bandwidth_gbs * GB,
        fp16_flops_per_s=fp16_tflops * 1e12 if fp16_tflops else None,
        memory_bytes=int(memory_gib * GiB) if memory_gib else None,
        unified_memory=kind in ("apple", "cpu", "mobile"),
        hbm=hbm,
    )


def class_of(dev: Device) -> str:
    """The fitted device class a device belongs to."""
    if dev.kind == "nvidia":
        return "nvidia-hbm" if dev.hbm else "nvidia"
    if dev.kind == "mobile":
        return "cpu"
    return dev.kind


def _fp16(dev: Device, notes: list[str]) -> float:
    """The device's dense FP16 FLOP/s, or an estimate from its bandwidth (noted) when none is published."""
    if dev.fp16_flops_per_s:
        return dev.fp16_flops_per_s
    per = TFLOPS_PER_GBS_FALLBACK.get(dev.kind, TFLOPS_PER_GBS_FALLBACK_GPU)
    est = per * dev.bandwidth_bytes_per_s / GB * 1e12
    notes.append(
        f"{dev.name} lists no FP16 TFLOPS: assumed {est / 1e12:.1f} TFLOPS ({per} per GB/s of bandwidth) "
        "for prefill and batching"
    )
    return est


def resolve_device(hardware: Hardware | Device | str) -> Device:
    """A Device from a Device, a catalog Hardware entry or a catalog id."""
    if isinstance(hardware, Device):
        return hardware
    if isinstance(hardware, str):
        from model_specs import load_catalog

        try:
            return device_from_hardware(load_catalog().device(hardware))
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return device_from_hardware(hardware)
