"""Parameter records of the speed model (fitted values live in calculators/speed/calibration.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class ClassParams:
    """Fitted parameters of one device class."""

    bandwidth_efficiency: float  # share of peak bandwidth reached while streaming weights
    layer_overhead_s: float  # fixed cost per layer per decode step (kernel launches, syncs)
    compute_efficiency: float  # share of dense FP16 peak for the per-token arithmetic of decode
    prefill_efficiency: float  # share of dense FP16 peak reached by prompt processing
    # Spread of measured / predicted - 1 on the calibration points (quantiles), for low / high ranges.
    decode_rel_low: float = -0.15
    decode_rel_high: float = 0.15
    prefill_rel_low: float = -0.3
    prefill_rel_high: float = 0.3
    n_decode_points: int = 0
    n_prefill_points: int = 0


@dataclass(frozen=True)
class SharedParams:
    """Parameters shared by every class."""

    kv_read_ratio: float  # KV-cache reads reach this share of the weight-read efficiency
    moe_overhead_factor: float  # a MoE layer costs this many dense layers of fixed overhead
    # K-quant / i-quant weights need this many times the arithmetic per weight of the legacy formats (dequantisation).
    kquant_compute_factor: float = 1.0
    # Extra fixed time per generated token when Ollama serves the model (its runner and sampler on top of llama.cpp).
    ollama_token_overhead_s: float = 0.0
    # Prompt processing: a weight matrix used by m tokens at once runs at m / (m + prefill_half_tokens) of the class
    # efficiency. Dense matrices see the whole ubatch; a routed expert sees only tokens x active / experts of it.
    prefill_half_tokens: float = 0.0


# ------------------------------------------------------------------------------------------------ serving engines
# vLLM / transformers (and TensorRT-LLM, whose published throughput calibrates them) run paged attention, CUDA graphs
# and fused kernels: no per-layer launch cost and KV reads at the weight-read efficiency. One scheduler step costs
# SERVER_STEP_OVERHEAD_S on top (scheduling + sampling; an assumption, not fitted). Under continuous load every step
# also prefills the prompts of the requests that replace finished ones: batch x prompt / output tokens per step.
SERVER_STEP_OVERHEAD_S = 1.5e-3
SERVER_MAX_BATCH = 2048  # scheduler cap on concurrent sequences (assumption, TensorRT-LLM / vLLM order of magnitude)
SERVER_KV_MEMORY_FRACTION = 0.9  # share of the memory left after weights that becomes KV blocks


@dataclass(frozen=True)
class ServerParams:
    """Fitted parameters of the serving-engine class (NVIDIA HBM parts)."""

    bandwidth_efficiency: float
    compute_efficiency: float  # of the tensor peak (FP8 counts twice the FP16 peak on FP8-capable parts)
    rel_low: float = -0.2
    rel_high: float = 0.2
    n_points: int = 0
