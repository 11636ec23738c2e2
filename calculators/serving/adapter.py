"""The one place the serving package reaches into the speed model (calculators.speed).

When the speed model's public names move, repoint these imports; nothing else in calculators/serving imports it."""

from __future__ import annotations

from calculators.memory import kv_bytes_per_token_at
from calculators.speed import (
    ALLREDUCE_LATENCY_S,
    LINK_GBS,
    SERVER_STEP_OVERHEAD_S,
    Device,
    custom_device,
    forecast,
    link_of,
    matmul_saturation,
    moe_expert_fraction,
    prefill_time,
    resolve_device,
    resolve_model,
    step_time,
)
from calculators.speed import setup_for as setup

# Engines that split every layer across the GPUs (tensor parallel); llama.cpp / Ollama split by layers.
# (The engine registry on branch `calc` carries this as `engine(name).tensor_parallel`.)
TENSOR_PARALLEL_ENGINES = ("vllm", "transformers")

__all__ = [
    "ALLREDUCE_LATENCY_S",
    "LINK_GBS",
    "SERVER_STEP_OVERHEAD_S",
    "TENSOR_PARALLEL_ENGINES",
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
