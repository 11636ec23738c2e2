"""One memory accounting shared by `estimate` and `fit_matrix`: overhead, GPU/host split, bytes needed."""

from __future__ import annotations

from calculators.memory.kv import kv_cache_bytes
from calculators.memory.overhead import (
    GPU_RUNTIME_RESERVE_BYTES,
    VLLM_NON_TORCH_BYTES,
    llama_cpp_compute_bytes,
    usable_memory_bytes,
    vllm_activation_bytes,
)
from calculators.memory.request import MemoryRequest
from calculators.memory.weights import WeightBreakdown, weights
from model_specs.schema import Hardware


def _runtime_reserve(req: MemoryRequest) -> int:
    """Driver/context reserve on a discrete GPU; unified-memory devices carry it in their OS reserve."""
    return 0 if _is_unified(req) else GPU_RUNTIME_RESERVE_BYTES


def _overhead(req: MemoryRequest, ctx: int, n_seq: int) -> int:
    if req.engine in ("llama.cpp", "ollama"):
        return llama_cpp_compute_bytes(req.model, ctx, n_seq, req.n_ubatch, req.flash_attn) + _runtime_reserve(req)
    if req.engine == "vllm":
        return (
            vllm_activation_bytes(req.model, req.max_num_batched_tokens, req.gpus) + VLLM_NON_TORCH_BYTES
        ) * req.gpus
    # transformers: forward-pass activations of the prompt (bf16) plus the f32 logits of one position.
    t = req.model.text
    return _runtime_reserve(req) + n_seq * (ctx * t.hidden_size * 2 * 4 + t.vocab_size * 4)


def _split(req: MemoryRequest, wb: WeightBreakdown, kv: int) -> tuple[int, int]:
    """(gpu, host) bytes of weights + KV for the request's offload settings."""
    comp = wb.component_bytes
    host = 0
    gpu = wb.total_bytes
    ple_host = req.offload_ple if req.offload_ple is not None else req.engine in ("llama.cpp", "ollama")
    if req.engine in ("llama.cpp", "ollama"):
        # Input token embedding lives in host memory; a tied output matrix is duplicated onto the GPU, except
        # on Apple silicon where Metal maps the mmap'd file itself (one copy serves both).
        dup = 0 if (req.hardware is not None and req.hardware.kind == "apple") else wb.tied_output_duplicate_bytes
        gpu += dup - comp["embedding"]
        host += comp["embedding"]
    if ple_host and comp["ple"]:
        gpu -= comp["ple"]
        host += comp["ple"]
    if req.offload_experts and wb.routed_expert_bytes:
        gpu -= wb.routed_expert_bytes
        host += wb.routed_expert_bytes
    kv_gpu = kv
    n_layers = req.model.text.num_layers
    if req.gpu_layers is not None and req.gpu_layers < n_layers:
        frac_cpu = (n_layers - max(0, req.gpu_layers)) / n_layers
        layer_bytes = comp["text"] - (wb.routed_expert_bytes if req.offload_experts else 0)
        moved = int(layer_bytes * frac_cpu)
        gpu -= moved
        host += moved
        kv_gpu = int(kv * (1 - frac_cpu))
        host += kv - kv_gpu
    return gpu + kv_gpu, host


def _unified_device(hw: Hardware) -> bool:
    """Whether the accelerator shares the host's memory (host-side tensors then count against it too)."""
    return bool(hw.unified_memory or hw.kind in ("apple", "cpu", "mobile"))


def _is_unified(req: MemoryRequest) -> bool:
    return req.hardware is not None and _unified_device(req.hardware)


def _usable(req: MemoryRequest) -> tuple[int | None, str]:
    if req.memory_bytes is not None:
        if req.memory_bytes <= 0:
            raise ValueError("memory must be positive")
        return req.memory_bytes * req.gpus, "memory given explicitly"
    if req.hardware is None:
        return None, ""
    return usable_memory_bytes(req.hardware, req.gpus)


def request_weights(req: MemoryRequest) -> WeightBreakdown:
    """The request's weights: an actual file's exact ones when given, else the recipe's estimate."""
    return req.weights_override or weights(req.model, req.quant, req.engine, req.text_only)


def _need(req: MemoryRequest, ctx: int, n_seq: int, unified: bool) -> int:
    wb = request_weights(req)
    kv = kv_cache_bytes(req.model, ctx, req.kv_dtype, req.engine, n_seq, n_ubatch=req.n_ubatch)
    gpu, host = _split(req, wb, kv)
    gpu += _overhead(req, ctx, n_seq)
    return gpu + host if unified else gpu
