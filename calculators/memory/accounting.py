"""One memory accounting shared by `estimate` and `fit_matrix`: overhead, GPU/host split, bytes needed."""

from __future__ import annotations

from calculators.engines import engine as engine_record
from calculators.memory.kv import kv_cache_bytes
from calculators.memory.overhead import (
    GPU_RUNTIME_RESERVE_BYTES,
    VLLM_NON_TORCH_BYTES,
    llama_cpp_compute_bytes,
    usable_memory_bytes,
    vllm_activation_bytes,
)
from calculators.memory.request import MemoryRequest
from calculators.memory.vllm import vllm_layout
from calculators.memory.weights import WeightBreakdown, weights
from model_specs.schema import Hardware


def _runtime_reserve(req: MemoryRequest) -> int:
    """Driver/context reserve on a discrete GPU; unified-memory devices carry it in their OS reserve."""
    return 0 if _is_unified(req) else GPU_RUNTIME_RESERVE_BYTES


def _overhead(req: MemoryRequest, ctx: int, n_seq: int) -> int:
    """Runtime memory beyond weights and KV, by the engine's overhead rule."""
    rule = engine_record(req.engine).overhead
    if rule == "ggml_compute":
        return llama_cpp_compute_bytes(req.model, ctx, n_seq, req.n_ubatch, req.flash_attn) + _runtime_reserve(req)
    if rule == "vllm_activations":
        return (
            vllm_activation_bytes(req.model, req.max_num_batched_tokens, req.gpus) + VLLM_NON_TORCH_BYTES
        ) * req.gpus
    # prompt_activations (transformers): forward-pass activations of the prompt (bf16) plus one position's f32 logits.
    t = req.model.text
    return _runtime_reserve(req) + n_seq * (ctx * t.hidden_size * 2 * 4 + t.vocab_size * 4)


def fit_usable_bytes(engine: str, usable: int, gpu_memory_utilization: float = 0.9) -> int:
    """The part of the usable memory the engine takes (vLLM: gpu_memory_utilization of it)."""
    return int(usable * gpu_memory_utilization) if engine_record(engine).takes_memory_fraction else usable


def block_kv_need_bytes(req: MemoryRequest, ctx: int, n_seq: int) -> int:
    """KV a block-paged engine must find free for n_seq requests of ctx tokens: whole blocks, all GPUs.

    vLLM holds them when budget // tp // block_bytes >= n_seq x blocks_per_request, i.e. when the budget is at
    least tp x n_seq x blocks_per_request x block_bytes: the same test as `vllm_capacity(...).max_concurrency`."""
    lay = vllm_layout(req.model, ctx, req.kv_dtype, req.gpus, 16, req.max_num_batched_tokens)
    return req.gpus * n_seq * lay.blocks_per_request * lay.block_bytes


def _split(req: MemoryRequest, wb: WeightBreakdown, kv: int) -> tuple[int, int]:
    """(gpu, host) bytes of weights + KV for the request's offload settings."""
    comp = wb.component_bytes
    host = 0
    gpu = wb.total_bytes
    rec = engine_record(req.engine)
    ple_host = req.offload_ple if req.offload_ple is not None else rec.host_input_embeddings
    if rec.host_input_embeddings:
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
    """Bytes the request needs on the device(s) at ctx x n_seq; fits when <= fit_usable_bytes (one accounting)."""
    wb = request_weights(req)
    if engine_record(req.engine).takes_memory_fraction:  # vLLM keeps everything on the GPU, KV in whole blocks
        return wb.total_bytes + _overhead(req, ctx, n_seq) + block_kv_need_bytes(req, ctx, n_seq)
    kv = kv_cache_bytes(req.model, ctx, req.kv_dtype, req.engine, n_seq, n_ubatch=req.n_ubatch)
    gpu, host = _split(req, wb, kv)
    gpu += _overhead(req, ctx, n_seq)
    return gpu + host if unified else gpu
