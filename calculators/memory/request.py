"""The memory request and its result records."""

from __future__ import annotations

from dataclasses import dataclass, field

from calculators.memory.vllm import VllmCapacity
from calculators.memory.weights import WeightBreakdown
from model_specs.schema import Hardware, ModelSpec


@dataclass(frozen=True)
class MemoryRequest:
    """Inputs of one memory estimate."""

    model: ModelSpec
    quant: str = "Q4_K_M"
    context_tokens: int = 8192
    batch: int = 1  # concurrent sequences (llama.cpp -np / Ollama num_parallel / vLLM requests)
    kv_dtype: str = "f16"
    engine: str = "llama.cpp"
    text_only: bool = False
    hardware: Hardware | None = None
    memory_bytes: int | None = None  # explicit device memory (overrides the hardware entry's)
    gpus: int = 1
    offload_ple: bool | None = None  # None: the engine default (llama.cpp/Ollama keep the PLE table on the host)
    offload_experts: bool = False  # llama.cpp --cpu-moe: routed experts in host memory
    gpu_layers: int | None = None  # llama.cpp -ngl: layers on the GPU (None = all)
    n_ubatch: int = 512
    flash_attn: bool = True
    gpu_memory_utilization: float = 0.9
    max_num_batched_tokens: int = 8192
    # Exact weights of an actual file (calculators/gguf_file.py, from its header) instead of the recipe's estimate.
    weights_override: WeightBreakdown | None = None


@dataclass(frozen=True)
class Placement:
    """Where the bytes live."""

    gpu_bytes: int  # all GPUs together
    host_bytes: int
    per_gpu_bytes: int


@dataclass(frozen=True)
class MemoryEstimate:
    """Result of `estimate`: bytes by kind, placement, and the fit against a device."""

    weights_bytes: int
    kv_cache_bytes: int
    overhead_bytes: int
    total_bytes: int
    components: dict[str, int]
    placement: Placement
    weights: WeightBreakdown
    fits: bool | None = None
    margin_bytes: int | None = None
    usable_bytes: int | None = None
    max_context_tokens: int | None = None
    max_concurrency: int | None = None
    vllm: VllmCapacity | None = None
    need_bytes: int | None = None  # with a device: what the fit compares with fit_usable_bytes (as fit_matrix)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        """JSON-ready summary (the CLI's output)."""
        d = {
            "model": self.weights.model_id,
            "quant": self.weights.quant,
            "engine": self.weights.engine,
            "weights_bytes": self.weights_bytes,
            "kv_cache_bytes": self.kv_cache_bytes,
            "overhead_bytes": self.overhead_bytes,
            "total_bytes": self.total_bytes,
            "components": dict(self.components),
            "placement": {
                "gpu_bytes": self.placement.gpu_bytes,
                "host_bytes": self.placement.host_bytes,
                "per_gpu_bytes": self.placement.per_gpu_bytes,
            },
            "active_bytes_per_token": self.weights.active_bytes_per_token,
            "notes": list(self.notes),
        }
        if self.fits is not None:
            d.update(
                fits=self.fits,
                margin_bytes=self.margin_bytes,
                usable_bytes=self.usable_bytes,
                max_context_tokens=self.max_context_tokens,
                max_concurrency=self.max_concurrency,
            )
        if self.vllm is not None:
            d["vllm"] = {
                "kv_budget_bytes": self.vllm.kv_budget_bytes,
                "num_blocks": self.vllm.num_blocks,
                "max_concurrency": round(self.vllm.max_concurrency, 2),
                "kv_cache_tokens": self.vllm.kv_cache_tokens,
            }
        return d
