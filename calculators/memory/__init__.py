"""Memory calculator: weights per component, KV cache per layer type, engine overheads, placement and fit.

Pure functions; bytes in, bytes out. Engine rules (each with its source):

llama.cpp (ggml-org/llama.cpp, src/llama-context.cpp, src/llama-kv-cache-iswa.cpp, src/models/gemma4.cpp)
  - The context is padded to 256 cells; a full-attention layer stores n_ctx cells, a sliding-window layer
    min(n_ctx, pad(n_swa * n_seq + n_ubatch, 256)) cells (unified KV, the server default with parallel slots);
    `--swa-full` turns the cap off. KV-shared layers store nothing. K=V layers (Gemma 4 global layers) still
    store a K and a V row: the graph feeds Kcur as Vcur and writes both to the cache.
  - K and V rows of a q8_0 / q4_0 cache cost 34 / 18 bytes per 32 values (ggml block sizes).
  - The input token embedding and the PLE table are input-layer tensors kept in host memory; a tied output
    matrix is loaded a second time with the output layer (TENSOR_DUPLICATED) on the GPU.
  - Compute buffer: an estimate of ggml-alloc's peak for one n_ubatch graph (see `llama_cpp_compute_bytes`).
  - The mmproj (vision/audio encoder) is a separate GGUF, F16 by default.
ollama (ollama/ollama kvcache/causal.go, server/quantization.go)
  - Allocates num_ctx x num_parallel cells for full layers; sliding layers hold
    num_parallel * (window [+1 when parallel]) + num_batch cells, padded to 256; otherwise as llama.cpp.
  - Its own quantiser keeps the PLE table and vision/audio tensors unquantised (see calculators/gguf.py).
vllm (vllm-project/vllm v1: vllm/v1/core/kv_cache_utils.py, vllm/model_executor/models/gemma4.py)
  - KV budget = gpu_memory_utilization x card - weights - activation peak - non-torch memory (CUDA graphs
    included in recent releases); the budget is cut into blocks of 16 tokens per layer group.
  - A request at max_model_len needs cdiv(len, block) blocks in a full-attention group and
    cdiv(min(window - 1 + max_num_batched_tokens, len), block) + 1 in a sliding group; "Maximum concurrency"
    = blocks available / blocks per request; "GPU KV cache size" = that concurrency x max_model_len.
  - KV-shared layers get no cache (kv_sharing_target_layer_name); K=V layers load the K weights into both the
    K and V slots of qkv_proj, so the V projection weight is duplicated in memory, and they store K and V.
  - Embeddings / lm_head stay 16-bit in AWQ / GPTQ / FP8 / bitsandbytes checkpoints.
transformers (huggingface/transformers src/transformers/cache_utils.py)
  - DynamicCache; layers of type "sliding_attention" use DynamicSlidingWindowLayer, which keeps the last
    window - 1 tokens (min(ctx, window) per step); full layers keep the whole context. No paging, no padding."""

from calculators.memory.estimate import estimate
from calculators.memory.fit import DEFAULT_CONTEXT_LADDER, FitMatrix, fit_matrix
from calculators.memory.kv import (
    GLOBAL_KV_CURVE,
    NAIVE_KV_CURVE,
    SLIDING_KV_CURVE,
    KVCells,
    KVGeometry,
    kv_bytes_per_token,
    kv_bytes_per_token_at,
    kv_cache_bytes,
    kv_cells,
    kv_curve,
    kv_geometry,
    kv_values_bytes,
)
from calculators.memory.overhead import (
    GPU_RUNTIME_RESERVE_BYTES,
    VLLM_NON_TORCH_BYTES,
    device_memory_bytes,
    llama_cpp_compute_bytes,
    usable_memory_bytes,
    vllm_activation_bytes,
)
from calculators.memory.request import MemoryEstimate, MemoryRequest, Placement
from calculators.memory.vllm import VllmCapacity, VllmLayout, vllm_capacity, vllm_layout
from calculators.memory.weights import GiB, MiB, QuantSpec, WeightBreakdown, resolve_quant, weights

__all__ = [
    "DEFAULT_CONTEXT_LADDER",
    "FitMatrix",
    "GLOBAL_KV_CURVE",
    "GPU_RUNTIME_RESERVE_BYTES",
    "GiB",
    "KVCells",
    "KVGeometry",
    "MemoryEstimate",
    "MemoryRequest",
    "MiB",
    "NAIVE_KV_CURVE",
    "Placement",
    "QuantSpec",
    "SLIDING_KV_CURVE",
    "VLLM_NON_TORCH_BYTES",
    "VllmCapacity",
    "VllmLayout",
    "WeightBreakdown",
    "estimate",
    "fit_matrix",
    "kv_bytes_per_token",
    "kv_bytes_per_token_at",
    "kv_cache_bytes",
    "kv_cells",
    "kv_curve",
    "kv_geometry",
    "kv_values_bytes",
    "llama_cpp_compute_bytes",
    "resolve_quant",
    "device_memory_bytes",
    "usable_memory_bytes",
    "vllm_activation_bytes",
    "vllm_capacity",
    "vllm_layout",
    "weights",
]
