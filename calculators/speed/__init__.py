"""Speed forecasts: a small physical model fitted to published measurements.

One decode step of a batch of B sequences takes

    t = (weights read + KV read / kv_read_ratio) / (bandwidth x e_bw)      memory
      + layers x layer_overhead_s x (moe_overhead_factor if MoE)          fixed launch/sync cost
      + B x 2 x active params x q / (FP16 peak x e_compute)               arithmetic (q > 1 for K-/i-quants)

and a prompt of N tokens takes  FLOPs(N) / (FP16 peak x e_prefill).  The efficiencies and the overhead belong to a
device class (hardware kind x memory type x engine); the two shared numbers are fitted once for all classes.
Everything is in base units: bytes, seconds, FLOP, bytes/s."""

from calculators.speed.device import (
    DISK_READ_GBS,
    FP8_CAPABLE_TFLOPS,
    FP8_QUANTS,
    GB,
    HBM_BANDWIDTH_GBS,
    HOST_BANDWIDTH_GBS,
    PIPELINE_HOP_S,
    TFLOPS_PER_GBS_FALLBACK,
    TFLOPS_PER_GBS_FALLBACK_GPU,
    Device,
    GiB,
    class_of,
    custom_device,
    device_from_hardware,
    resolve_device,
)
from calculators.speed.forecast import (
    ConcurrencyPoint,
    SpeedForecast,
    concurrency_curve,
    decode_vs_depth,
    forecast,
    mean_depth_tokens,
)
from calculators.speed.geometry import ModelGeometry, geometry, is_kquant, resolve_model
from calculators.speed.params import (
    SERVER_KV_MEMORY_FRACTION,
    SERVER_MAX_BATCH,
    SERVER_STEP_OVERHEAD_S,
    ClassParams,
    ServerParams,
    SharedParams,
    server_class,
)
from calculators.speed.prefill import matmul_saturation, prefill_s, prefill_time
from calculators.speed.roofline import roofline
from calculators.speed.setup import MAX_EFFICIENCY_OVERRIDE, setup_for
from calculators.speed.step import (
    ALLREDUCE_LATENCY_S,
    LINK_GBS,
    StepTime,
    attention_flops,
    decode_step_parts,
    decode_step_s,
    decode_terms,
    link_of,
    moe_expert_fraction,
    server_step_s,
    step_time,
    tp_comm_s,
)

__all__ = [
    "MAX_EFFICIENCY_OVERRIDE",
    "ALLREDUCE_LATENCY_S",
    "ClassParams",
    "ConcurrencyPoint",
    "DISK_READ_GBS",
    "Device",
    "FP8_CAPABLE_TFLOPS",
    "FP8_QUANTS",
    "GB",
    "GiB",
    "HBM_BANDWIDTH_GBS",
    "HOST_BANDWIDTH_GBS",
    "LINK_GBS",
    "ModelGeometry",
    "PIPELINE_HOP_S",
    "SERVER_KV_MEMORY_FRACTION",
    "SERVER_MAX_BATCH",
    "SERVER_STEP_OVERHEAD_S",
    "ServerParams",
    "SharedParams",
    "SpeedForecast",
    "StepTime",
    "TFLOPS_PER_GBS_FALLBACK",
    "TFLOPS_PER_GBS_FALLBACK_GPU",
    "attention_flops",
    "class_of",
    "concurrency_curve",
    "custom_device",
    "decode_step_parts",
    "decode_step_s",
    "decode_terms",
    "decode_vs_depth",
    "device_from_hardware",
    "forecast",
    "geometry",
    "is_kquant",
    "link_of",
    "matmul_saturation",
    "mean_depth_tokens",
    "moe_expert_fraction",
    "prefill_s",
    "prefill_time",
    "resolve_device",
    "resolve_model",
    "roofline",
    "server_class",
    "server_step_s",
    "setup_for",
    "step_time",
    "tp_comm_s",
]
