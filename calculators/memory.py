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
    window - 1 tokens (min(ctx, window) per step); full layers keep the whole context. No paging, no padding.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

from calculators import gguf
from calculators.tensors import cached_per_model, text_tensors
from model_specs.schema import Hardware, ModelSpec

Engine = Literal["llama.cpp", "ollama", "vllm", "transformers"]
ENGINES: tuple[str, ...] = ("llama.cpp", "ollama", "vllm", "transformers")
KV_DTYPES: tuple[str, ...] = ("f16", "bf16", "fp8", "q8_0", "q4_0")
GiB = 1 << 30
MiB = 1 << 20

# KV cache element cost: (values per block, bytes per block).
_KV_BLOCK = {"f16": (1, 2), "bf16": (1, 2), "fp8": (1, 1), "q8_0": (32, 34), "q4_0": (32, 18), "f32": (1, 4)}
# Which KV dtypes each engine can allocate (llama.cpp --cache-type-k/v; Ollama OLLAMA_KV_CACHE_TYPE;
# vLLM --kv-cache-dtype auto|fp8; transformers DynamicCache in the model dtype).
ENGINE_KV_DTYPES: dict[str, set[str]] = {
    "llama.cpp": {"f16", "bf16", "q8_0", "q4_0", "f32"},
    "ollama": {"f16", "q8_0", "q4_0"},
    "vllm": {"f16", "bf16", "fp8"},
    "transformers": {"f16", "bf16", "f32"},
}

# Non-GGUF weight formats: bits per weight of the quantised linear layers (group scales included).
#   AWQ / GPTQ int4, group 128: 4 + 16/128 (fp16 scale) + 4/128 (packed zero) bits.
#   bitsandbytes NF4, block 64: 4 + 32/64 bits (fp32 absmax, the transformers default); with double
#   quantisation (NF4-DQ) the absmax is 8-bit with an fp32 constant per 256 blocks: 4 + 8/64 + 32/(64*256).
#   FP8 / INT8 W8A8 per-channel: 8 bits (+ one scale per output row, negligible).
#   MXFP4: 32 FP4 values share one E8M0 scale byte: 4.25 bits. NVFP4: 16 values share an FP8 scale: 4.5 bits.
_LINEAR_BITS = {
    "FP8": 8.0,
    "INT8": 8.0,
    "AWQ": 4 + 16 / 128 + 4 / 128,
    "GPTQ": 4 + 16 / 128 + 4 / 128,
    "NF4": 4 + 32 / 64,
    "NF4_DQ": 4 + 8 / 64 + 32 / (64 * 256),
    "MXFP4": 4.25,
    "NVFP4": 4.5,
}
_FLOAT_BITS = {"F32": 32.0, "FP32": 32.0, "BF16": 16.0, "F16": 16.0, "FP16": 16.0}
# Engines that load each non-GGUF format (vLLM docs "Supported Hardware for Quantization Kernels";
# transformers quantization docs). GGUF mixes run on llama.cpp and Ollama (vLLM's GGUF loader is experimental).
_FORMAT_ENGINES = {
    "FP8": {"vllm", "transformers"},
    "INT8": {"vllm", "transformers"},
    "AWQ": {"vllm", "transformers"},
    "GPTQ": {"vllm", "transformers"},
    "NF4": {"vllm", "transformers"},
    "NF4_DQ": {"vllm", "transformers"},
    "MXFP4": {"vllm", "transformers"},
    "NVFP4": {"vllm"},
}

# Runtime reserve on a discrete GPU besides weights, KV and compute buffer: CUDA/ROCm context and driver
# allocations. Assumption (typical nvidia-smi delta for a CUDA context, 300-500 MiB); stated in the UI.
GPU_RUNTIME_RESERVE_BYTES = 512 * MiB
# vLLM's profiled non-torch memory (NCCL, CUDA context, cuBLAS workspace): 0.25 GiB in the DeepSeek-R1-Distill-
# Qwen-14B TP2 log (vllm-project/vllm#13061); assumed per GPU.
VLLM_NON_TORCH_BYTES = GiB // 4


# ------------------------------------------------------------------------------------------------ weights


@dataclass(frozen=True)
class QuantSpec:
    """How a weight format stores each tensor class."""

    name: str
    kind: Literal["gguf", "float", "linear"]
    ftype: str | None = None  # GGUF file type
    bits: float = 16.0  # float bits or quantised-linear bits


def resolve_quant(quant: str, engine: str = "llama.cpp") -> QuantSpec:
    """Parse a quantisation name for an engine; ValueError if unknown or the engine cannot run it."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")
    q = quant.strip().upper().replace("-", "_")
    if q in _FLOAT_BITS and engine in ("vllm", "transformers"):
        return QuantSpec(q, "float", bits=_FLOAT_BITS[q])
    if q in _LINEAR_BITS and not (q == "MXFP4" and engine in ("llama.cpp", "ollama")):
        if engine not in _FORMAT_ENGINES[q]:
            raise ValueError(f"{q} weights are not supported by {engine} (use a GGUF type such as Q4_K_M)")
        return QuantSpec(q, "linear", bits=_LINEAR_BITS[q])
    if q.startswith("GGML_"):
        raise ValueError(f"{quant} is a ggml tensor type, not a file type; pick a mix such as Q4_K_M")
    if gguf.is_gguf_ftype(q):
        ftype = gguf.normalize_ftype(q)
        if engine == "transformers" and ftype not in ("F16", "BF16", "F32"):
            raise ValueError("transformers dequantises GGUF files on load; pick BF16, NF4, AWQ, GPTQ or FP8")
        if engine == "vllm" and ftype in ("F16", "BF16", "F32"):
            return QuantSpec(ftype, "float", bits=_FLOAT_BITS[ftype])
        return QuantSpec(ftype, "gguf", ftype=ftype)
    raise ValueError(f"unknown quantization '{quant}'")


@dataclass(frozen=True)
class WeightBreakdown:
    """Weight bytes of one model in one format on one engine."""

    model_id: str
    quant: str
    engine: str
    component_bytes: dict[str, int]  # text / embedding / output / ple / vision / audio
    total_bytes: int
    # Bytes read per decoded token: every layer's weights, shared + top-k routed experts only, the output
    # matrix, and one row of the embedding / PLE tables (lookups).
    active_bytes_per_token: int
    routed_expert_bytes: int
    tied_output_duplicate_bytes: int  # llama.cpp loads a tied output matrix a second time on the GPU
    notes: tuple[str, ...] = ()

    @property
    def text_decoder_bytes(self) -> int:
        """Layers, embeddings, output and PLE table: everything but the vision / audio encoders."""
        c = self.component_bytes
        return c["text"] + c["embedding"] + c["output"] + c["ple"]


def _zero_components() -> dict[str, int]:
    return {"text": 0, "embedding": 0, "output": 0, "ple": 0, "vision": 0, "audio": 0}


def _float_bytes(n_params: int, bits: float) -> int:
    return math.ceil(n_params * bits / 8)


@cached_per_model(maxsize=8192)  # the fit matrix asks for every model x quant on every page rerun
def weights(model: ModelSpec, quant: str, engine: str = "llama.cpp", text_only: bool = False) -> WeightBreakdown:
    """Weight bytes per component for `quant` on `engine` (text_only drops the vision/audio encoders)."""
    qs = resolve_quant(quant, engine)
    comp = _zero_components()
    notes: list[str] = []
    tensors = text_tensors(model)
    t = model.text
    routed = 0
    kind_bytes: dict[str, int] = {}
    k_eq_v_k_bytes = 0  # attn_k bytes on K=V layers (vLLM duplicates them into the V slot)
    if qs.kind == "gguf":
        packager = "ollama" if engine == "ollama" and qs.ftype in gguf.OLLAMA_FTYPES else "llama.cpp"
        size = gguf.gguf_size(model, qs.ftype, packager=packager)
        for c, b in size.component_bytes.items():
            comp[c] += b
        kind_bytes = dict(size.kind_bytes)
        routed = size.routed_expert_bytes
        if engine == "vllm":
            for g, _, b1 in size.group_types:
                if g.rep.kind == "attn_k" and _is_k_eq_v_layer(model, g.rep.layer):
                    k_eq_v_k_bytes += b1 * g.count
        if packager == "ollama" and t.per_layer_embedding is not None:
            notes.append("Ollama keeps the per-layer-embedding table unquantised (server/quantization.go)")
    else:
        for ts in tensors:
            if qs.kind == "float" or ts.kind in ("token_embd", "output", "per_layer_token_embd"):
                bits = qs.bits if qs.kind == "float" else 16.0
            elif ts.n_dims < 2 or ts.kind in ("ffn_gate_inp", "norm", "bias", "other", "other_matrix"):
                bits = 16.0 if qs.kind == "linear" else qs.bits
            elif qs.name == "MXFP4" and ts.n_dims < 3:
                bits = 16.0  # MXFP4 checkpoints (gpt-oss) quantise only the routed experts
            else:
                bits = qs.bits
            b = _float_bytes(ts.n_params, bits)
            comp[ts.component] += b
            kind_bytes[ts.kind] = kind_bytes.get(ts.kind, 0) + b
            if ts.kind.endswith("_exps"):
                routed += b
            if ts.kind == "attn_k" and _is_k_eq_v_layer(model, ts.layer):
                k_eq_v_k_bytes += b
        if qs.kind == "linear":
            notes.append(f"{qs.name}: embeddings, lm_head and norms stay 16-bit; linear layers at {qs.bits:.3g} bits")
    if engine == "vllm" and k_eq_v_k_bytes:
        # k_eq_v layers: vLLM loads the K weights into the V slot too (gemma4.py _weight_iterator remapping).
        comp["text"] += k_eq_v_k_bytes
        notes.append("vLLM duplicates the K projection into the V slot on K=V layers")
    # Encoders.
    if not text_only:
        enc_bits = 16.0 if qs.kind != "float" else qs.bits
        for name, enc in (("vision", model.vision), ("audio", model.audio)):
            if enc is None:
                continue
            if enc.params is None:
                notes.append(f"{name} encoder size is not published; counted as 0")
                continue
            comp[name] = _float_bytes(enc.params, enc_bits)
        if (model.vision or model.audio) and engine == "llama.cpp":
            notes.append("llama.cpp loads the encoders from a separate mmproj GGUF (F16)")
    total = sum(comp.values())
    # Per-token read bytes.
    moe = t.moe
    active_routed = routed * moe.experts_per_token // moe.num_experts if moe else 0
    tied = t.tie_word_embeddings
    lookup = 0
    row_bytes = 0
    lookup_kinds = [("per_layer_token_embd", t.per_layer_embedding.vocab_size if t.per_layer_embedding else 1)]
    if not tied:
        lookup_kinds.append(("token_embd", t.vocab_size))
    for kind, rows in lookup_kinds:
        b = kind_bytes.get(kind, 0)
        lookup += b
        row_bytes += b // rows  # one vocabulary row is read per token
    active = comp["text"] + comp["embedding"] + comp["output"] + comp["ple"] - routed + active_routed
    active = active - lookup + row_bytes
    dup_out = comp["embedding"] if (tied and engine in ("llama.cpp", "ollama")) else 0
    return WeightBreakdown(
        model_id=model.id,
        quant=qs.name,
        engine=engine,
        component_bytes=comp,
        total_bytes=total,
        active_bytes_per_token=active,
        routed_expert_bytes=routed,
        tied_output_duplicate_bytes=dup_out,
        notes=tuple(notes),
    )


def _is_k_eq_v_layer(model: ModelSpec, layer: int | None) -> bool:
    if layer is None:
        return False
    att = model.text.attention
    geom = att.sliding if att.layer_types[layer] == "S" else att.full
    return bool(geom and geom.k_eq_v)


# ------------------------------------------------------------------------------------------------ KV cache


@dataclass(frozen=True)
class KVGeometry:
    """Per layer type: how many layers own a cache, and the K+V values per token of one such layer."""

    sliding_layers: int
    full_layers: int
    sliding_kv_values: int  # K + V values per token of one sliding layer
    full_kv_values: int
    window: int
    sliding_layers_all: int  # including KV-shared layers (they read the cache)
    full_layers_all: int


@cached_per_model()  # read by every KV call of the max-context / max-concurrency searches
def kv_geometry(model: ModelSpec) -> KVGeometry:
    """Cache-owning layers per type (KV-shared layers own none) and their K+V values per token."""
    att = model.text.attention
    n_own = len(att.layer_types) - att.kv_shared_layers
    own = att.layer_types[:n_own]
    s_vals = 2 * att.sliding.kv_heads * att.sliding.head_dim if att.sliding else 0
    f_vals = 2 * att.full.kv_heads * att.full.head_dim
    return KVGeometry(
        sliding_layers=own.count("S"),
        full_layers=own.count("F"),
        sliding_kv_values=s_vals,
        full_kv_values=f_vals,
        window=att.sliding_window_tokens or 0,
        sliding_layers_all=att.layer_types.count("S"),
        full_layers_all=att.layer_types.count("F"),
    )


def kv_values_bytes(values: int, kv_dtype: str) -> int:
    """Bytes of `values` cache entries (one K or V row is a multiple of the block) in `kv_dtype`."""
    try:
        blk, size = _KV_BLOCK[kv_dtype]
    except KeyError:
        raise ValueError(f"unknown KV dtype '{kv_dtype}' (known: {', '.join(KV_DTYPES)})") from None
    return values // blk * size if values % blk == 0 else math.ceil(values / blk) * size


def _row_bytes(g: KVGeometry, kv_dtype: str) -> tuple[int, int]:
    """K+V bytes per token of one full and one sliding layer (K and V rows are sized separately: block padding)."""
    full = kv_values_bytes(g.full_kv_values // 2, kv_dtype) * 2
    swa = kv_values_bytes(g.sliding_kv_values // 2, kv_dtype) * 2 if g.sliding_kv_values else 0
    return full, swa


def _pad(x: int, n: int) -> int:
    return (x + n - 1) // n * n


@dataclass(frozen=True)
class KVCells:
    """Cells (token slots) per layer type that an engine allocates."""

    full_cells: int
    sliding_cells: int


def kv_cells(
    model: ModelSpec,
    context_tokens: int,
    engine: str = "llama.cpp",
    n_seq: int = 1,
    *,
    n_ubatch: int = 512,
    swa_full: bool = False,
    max_num_batched_tokens: int = 8192,
    block_tokens: int = 16,
) -> KVCells:
    """Token slots per full / sliding layer for `n_seq` sequences of `context_tokens` each."""
    if context_tokens < 1 or n_seq < 1:
        raise ValueError("context and batch must be positive")
    g = kv_geometry(model)
    w = g.window
    if engine == "llama.cpp":
        full = _pad(context_tokens * n_seq, 256)
        swa = full if swa_full or not w else _pad(min(full, w * n_seq + n_ubatch), 256)
        return KVCells(full, min(swa, full))
    if engine == "ollama":
        full = _pad(context_tokens * n_seq, 256)
        if not w:
            return KVCells(full, full)
        mem = w + 1 if n_seq > 1 else w
        swa = full if mem >= context_tokens else _pad(n_seq * mem + n_ubatch, 256)
        return KVCells(full, min(swa, full))
    if engine == "vllm":
        full_blocks = -(-context_tokens // block_tokens)
        swa_blocks = -(-min(w - 1 + max_num_batched_tokens, context_tokens) // block_tokens) + 1 if w else full_blocks
        return KVCells(full_blocks * block_tokens * n_seq, min(swa_blocks, full_blocks) * block_tokens * n_seq)
    if engine == "transformers":
        return KVCells(context_tokens * n_seq, min(context_tokens, w or context_tokens) * n_seq)
    raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")


def kv_cache_bytes(
    model: ModelSpec,
    context_tokens: int,
    kv_dtype: str = "f16",
    engine: str = "llama.cpp",
    n_seq: int = 1,
    **options,
) -> int:
    """Bytes of KV cache the engine allocates for n_seq sequences of context_tokens (see module docstring)."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (known: {', '.join(ENGINES)})")
    if kv_dtype not in ENGINE_KV_DTYPES[engine]:
        supported = ", ".join(sorted(ENGINE_KV_DTYPES[engine]))
        raise ValueError(f"{engine} has no '{kv_dtype}' KV cache (supported: {supported})")
    g = kv_geometry(model)
    cells = kv_cells(model, context_tokens, engine, n_seq, **options)
    full_row, swa_row = _row_bytes(g, kv_dtype)
    return g.full_layers * cells.full_cells * full_row + g.sliding_layers * cells.sliding_cells * swa_row


def kv_bytes_per_token_at(model: ModelSpec, depth_tokens: int, kv_dtype: str = "f16") -> int:
    """Bytes of KV read to decode one token at `depth_tokens` of context (every layer reads its type's cache,
    KV-shared layers included; sliding layers read at most `window` positions)."""
    g = kv_geometry(model)
    d = max(0, int(depth_tokens))
    full_row, swa_row = _row_bytes(g, kv_dtype)
    return g.full_layers_all * d * full_row + g.sliding_layers_all * min(d, g.window or d) * swa_row


def kv_bytes_per_token(model: ModelSpec, kv_dtype: str = "f16") -> tuple[int, int]:
    """(full-layer bytes, sliding-layer bytes) of K+V per cached token, summed over cache-owning layers."""
    g = kv_geometry(model)
    full_row, swa_row = _row_bytes(g, kv_dtype)
    return g.full_layers * full_row, g.sliding_layers * swa_row


NAIVE_KV_CURVE = "naive: every layer, full context"
SLIDING_KV_CURVE = "sliding layers (llama.cpp)"
GLOBAL_KV_CURVE = "global layers only"


def kv_curve(model: ModelSpec, contexts: Sequence[int], kv_dtype: str = "f16", n_seq: int = 1) -> dict[str, list[int]]:
    """KV bytes at each context per engine (in `kv_dtype` where the engine has it, else f16), plus three guides.

    "global layers only": what the full-attention layers hold; "sliding layers (llama.cpp)": the rest of
    llama.cpp's cache, flat past the window (the plateau); "naive": every layer, KV-shared ones included, at the
    full context, which is what a calculator without windows or KV sharing reports.
    """
    curves = {}
    for engine in ENGINES:
        dtype = kv_dtype if kv_dtype in ENGINE_KV_DTYPES[engine] else "f16"
        curves[engine] = [kv_cache_bytes(model, c, dtype, engine, n_seq) for c in contexts]
    g = kv_geometry(model)
    full_row, swa_row = _row_bytes(g, kv_dtype)
    curves[GLOBAL_KV_CURVE] = [g.full_layers * full_row * c * n_seq for c in contexts]
    curves[SLIDING_KV_CURVE] = [t - f for t, f in zip(curves["llama.cpp"], curves[GLOBAL_KV_CURVE], strict=True)]
    naive_per_token = g.full_layers_all * full_row + g.sliding_layers_all * swa_row
    curves[NAIVE_KV_CURVE] = [naive_per_token * c * n_seq for c in contexts]
    return curves


# ------------------------------------------------------------------------------------------------ overheads


def llama_cpp_compute_bytes(
    model: ModelSpec, context_tokens: int, n_seq: int = 1, n_ubatch: int = 512, flash_attn: bool = True
) -> int:
    """Estimate of llama.cpp's GPU compute buffer (ggml-alloc peak of one n_ubatch graph, f32 activations).

    The peak is the largest of: the logits of a full ubatch (n_ubatch x n_vocab, llama-context reserves the graph
    with every token as an output) plus the final hidden state; the FFN intermediates; and, without flash
    attention, the KQ score matrix (n_ubatch x n_kv x n_head). Gemma's 262k vocabulary makes the logits term
    ~512 MiB at n_ubatch 512. This is an estimate, not a logged figure; expect +-30 %.
    """
    t = model.text
    h = t.hidden_size
    f32 = 4
    logits = n_ubatch * (t.vocab_size + h) * f32
    ff = max(t.intermediate_sizes() or [0])
    if t.moe:
        ff = max(ff, t.moe.experts_per_token * t.moe.expert_intermediate_size + t.moe.shared_expert_intermediate_size)
    ffn = n_ubatch * (2 * h + 3 * ff) * f32
    att = t.attention
    heads = att.num_heads
    hd = max(att.full.head_dim, att.sliding.head_dim if att.sliding else 0)
    attn = n_ubatch * (2 * h + 3 * heads * hd) * f32
    if not flash_attn:
        attn += n_ubatch * _pad(context_tokens * n_seq, 256) * heads * f32 * 2
    return max(logits, ffn, attn)


def vllm_activation_bytes(model: ModelSpec, max_num_batched_tokens: int = 8192, tp: int = 1) -> int:
    """Estimate of vLLM's profiled activation peak: one forward pass of max_num_batched_tokens tokens (bf16
    hidden states, the MLP intermediates split by tensor parallelism) plus the sampler's f32 logits for 256
    sequences. Calibration point: 0.19 GiB for Qwen2.5-14B TP2 at 2048 tokens (vllm-project/vllm#13061);
    this formula gives 0.17 GiB there."""
    t = model.text
    h = t.hidden_size
    ff = max(t.intermediate_sizes() or [0])
    if t.moe:
        ff = max(ff, t.moe.experts_per_token * t.moe.expert_intermediate_size + t.moe.shared_expert_intermediate_size)
    per_token = (4 * h + 3 * ff // tp) * 2
    return max_num_batched_tokens * per_token + 256 * t.vocab_size * 4 // tp


# ------------------------------------------------------------------------------------------------ vLLM


@dataclass(frozen=True)
class VllmCapacity:
    """vLLM's KV pool for one request shape."""

    kv_budget_bytes: int  # per GPU
    num_blocks: int
    block_bytes: int  # bytes of one block across all layers of one group (what num_blocks divides into)
    blocks_per_request: int
    max_concurrency: float  # "Maximum concurrency for N tokens per request: X"
    kv_cache_tokens: int  # "GPU KV cache size: N tokens"


def vllm_capacity(
    model: ModelSpec,
    kv_budget_bytes: int,
    max_model_len: int,
    *,
    kv_dtype: str = "bf16",
    tp: int = 1,
    block_tokens: int = 16,
    max_num_batched_tokens: int = 8192,
) -> VllmCapacity:
    """Blocks, concurrency and token capacity of a per-GPU KV budget, with vLLM v1's hybrid grouping.

    Layer types with different page sizes are unified by scaling block_size of the smaller page; layers are
    grouped so every group has the same number of layers (the smallest type count, or the largest if below
    1.5x the smallest), one block of memory spans a layer of every group, and num_blocks = budget // (page x
    group size). "GPU KV cache size" = num_blocks // groups x smallest block size; max concurrency = num_blocks /
    blocks one request at max_model_len needs (vllm/v1/core/kv_cache_utils.py @001cabc,
    _get_kv_cache_groups_uniform_page_size, get_kv_cache_config_from_groups, _report_kv_cache_config).
    """
    if kv_budget_bytes <= 0:
        return VllmCapacity(max(0, kv_budget_bytes), 0, 0, 0, 0.0, 0)
    g = kv_geometry(model)
    att = model.text.attention
    elem = _KV_BLOCK[kv_dtype][1]
    types = []  # (layers, kv values per token per layer per GPU, is_sliding)
    for n, geom, sliding in ((g.full_layers, att.full, False), (g.sliding_layers, att.sliding, True)):
        if n and geom is not None:
            heads = max(1, geom.kv_heads // tp) if geom.kv_heads >= tp else 1
            types.append((n, 2 * heads * geom.head_dim, sliding))
    pages = [block_tokens * v * elem for _, v, _ in types]
    page = max(pages)
    counts = [n for n, _, _ in types]
    group_size = min(counts)
    if max(counts) < group_size * 1.5:
        group_size = max(counts)
    num_blocks = kv_budget_bytes // (page * group_size)
    blocks_req = 0
    total_groups = 0
    min_bt = None
    for (n, _, sliding), p in zip(types, pages, strict=True):
        bt = block_tokens * page // p  # unified page: a smaller-page type holds more tokens per block
        min_bt = bt if min_bt is None else min(min_bt, bt)
        n_groups = -(-n // group_size)
        total_groups += n_groups
        if sliding:
            per = -(-min(g.window - 1 + max_num_batched_tokens, max_model_len) // bt) + 1
        else:
            per = -(-max_model_len // bt)
        blocks_req += n_groups * per
    conc = num_blocks / blocks_req if blocks_req else 0.0
    tokens = num_blocks // max(1, total_groups) * (min_bt or block_tokens)
    return VllmCapacity(kv_budget_bytes, num_blocks, page * group_size, blocks_req, conc, tokens)


# ------------------------------------------------------------------------------------------------ placement


def usable_memory_bytes(hw: Hardware, gpus: int = 1) -> tuple[int, str]:
    """Bytes a model may use on `gpus` of this device, and the rule applied.

    Apple unified memory: macOS caps GPU allocations at the Metal recommendedMaxWorkingSetSize, which llama.cpp
    logs as 2/3 of RAM on <= 36 GB machines (21845.34 MB on 32 GB, ggml-org/llama.cpp#2011, ollama/ollama#434)
    and 3/4 above; recent macOS reports more (107.52 GiB of 128, antirez/ds4#893), so 3/4 is conservative.
    Other unified-memory devices (Jetson, DGX Spark, phones, Raspberry Pi): total minus an OS reserve of
    max(1 GiB, 10 %) (assumption). Discrete GPUs: the full memory (runtime reserve counted as overhead).
    """
    total = int(hw.memory_gib * GiB)
    if hw.kind == "apple":
        frac = 2 / 3 if hw.memory_gib <= 36 else 3 / 4
        return int(total * frac) * gpus, f"macOS GPU working-set limit ({frac:.0%} of unified memory)"
    if hw.unified_memory or hw.kind in ("cpu", "mobile"):
        reserve = max(GiB, total // 10)
        return (total - reserve) * gpus, "unified memory minus an OS reserve of max(1 GiB, 10 %)"
    return total * gpus, "full device memory"


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


def estimate(req: MemoryRequest) -> MemoryEstimate:
    """Weights + KV + overhead for a request, where they live, and (with a device) whether and how far it fits."""
    if req.context_tokens < 1:
        raise ValueError("context must be at least 1 token")
    if req.batch < 1 or req.gpus < 1:
        raise ValueError("batch and gpus must be at least 1")
    if req.context_tokens > req.model.context_tokens:
        raise ValueError(f"context {req.context_tokens} exceeds {req.model.id}'s maximum of {req.model.context_tokens}")
    wb = req.weights_override or weights(req.model, req.quant, req.engine, req.text_only)
    notes = list(wb.notes)
    usable, rule = _usable(req)
    if req.engine == "vllm":
        return _estimate_vllm(req, wb, usable, rule, notes)
    kv = kv_cache_bytes(req.model, req.context_tokens, req.kv_dtype, req.engine, req.batch, n_ubatch=req.n_ubatch)
    over = _overhead(req, req.context_tokens, req.batch)
    gpu, host = _split(req, wb, kv)
    gpu += over
    total = gpu + host
    comps = dict(wb.component_bytes)
    comps["kv_cache"] = kv
    comps["overhead"] = over
    dup = gpu + host - wb.total_bytes - kv - over
    if dup:
        comps["output_copy"] = dup
    placement = Placement(gpu, host, -(-gpu // req.gpus))
    est = MemoryEstimate(wb.total_bytes, kv, over, total, comps, placement, wb, notes=tuple(notes))
    if usable is None:
        return est
    unified = _is_unified(req)
    need = gpu + host if unified else gpu
    fits = need <= usable
    max_ctx = _max_context(req, usable, unified)
    max_conc = _max_concurrency(req, usable, unified)
    notes.append(f"usable memory: {rule}")
    return replace(
        est,
        fits=fits,
        margin_bytes=usable - need,
        usable_bytes=usable,
        max_context_tokens=max_ctx,
        max_concurrency=max_conc,
        notes=tuple(notes),
    )


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


def _need(req: MemoryRequest, ctx: int, n_seq: int, unified: bool) -> int:
    wb = req.weights_override or weights(req.model, req.quant, req.engine, req.text_only)
    kv = kv_cache_bytes(req.model, ctx, req.kv_dtype, req.engine, n_seq, n_ubatch=req.n_ubatch)
    gpu, host = _split(req, wb, kv)
    gpu += _overhead(req, ctx, n_seq)
    return gpu + host if unified else gpu


def _largest(fits: Callable[[int], bool], hi: int) -> int:
    """Largest n in 1..hi with fits(n) (0 if none), by bisection: `fits` must hold up to a point and no further."""
    if not fits(1):
        return 0
    if fits(hi):
        return hi
    lo = 1  # fits(lo) and not fits(hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _largest_context(req: MemoryRequest, fits: Callable[[int], bool]) -> int:
    """Largest context that fits: a multiple of 256 tokens, or the model's maximum (0 = not even 256)."""
    max_ctx = req.model.context_tokens
    steps = _largest(lambda k: fits(min(k * 256, max_ctx)), -(-max_ctx // 256))
    return min(steps * 256, max_ctx)


def _max_context(req: MemoryRequest, usable: int, unified: bool) -> int:
    """Largest context that fits with req.batch sequences."""
    return _largest_context(req, lambda ctx: _need(req, ctx, req.batch, unified) <= usable)


def _max_concurrency(req: MemoryRequest, usable: int, unified: bool) -> int:
    """Largest number of parallel sequences of req.context_tokens that fits (capped at 1024)."""
    return _largest(lambda n: _need(req, req.context_tokens, n, unified) <= usable, 1024)


def _estimate_vllm(
    req: MemoryRequest, wb: WeightBreakdown, usable: int | None, rule: str, notes: list[str]
) -> MemoryEstimate:
    tp = req.gpus
    over = _overhead(req, req.context_tokens, req.batch)
    per_req = kv_cache_bytes(
        req.model, req.context_tokens, req.kv_dtype, "vllm", 1, max_num_batched_tokens=req.max_num_batched_tokens
    )
    kv_need = per_req * req.batch
    comps = dict(wb.component_bytes)
    cap = None
    fits = margin = max_ctx = max_conc = None
    kv_alloc = kv_need
    if usable is not None:
        budget_total = int(usable * req.gpu_memory_utilization) - wb.total_bytes - over
        budget = budget_total // tp
        cap = vllm_capacity(
            req.model,
            budget,
            req.context_tokens,
            kv_dtype=req.kv_dtype,
            tp=tp,
            max_num_batched_tokens=req.max_num_batched_tokens,
        )
        # vLLM preallocates the whole budget as KV blocks.
        kv_alloc = max(0, budget_total)
        max_conc = int(cap.max_concurrency)
        fits = cap.max_concurrency >= req.batch
        margin = budget_total - kv_need
        max_ctx = _vllm_max_context(req, budget)
        notes.append(f"usable memory: {rule}; vLLM takes gpu_memory_utilization={req.gpu_memory_utilization}")
    comps["kv_cache"] = kv_alloc
    comps["overhead"] = over
    gpu = wb.total_bytes + kv_alloc + over  # vLLM keeps everything on the GPU
    return MemoryEstimate(
        wb.total_bytes,
        kv_alloc,
        over,
        gpu,
        comps,
        Placement(gpu, 0, -(-gpu // tp)),
        wb,
        fits=fits,
        margin_bytes=margin,
        usable_bytes=usable,
        max_context_tokens=max_ctx,
        max_concurrency=max_conc,
        vllm=cap,
        notes=tuple(notes),
    )


def _vllm_max_context(req: MemoryRequest, budget_per_gpu: int) -> int:
    """Largest max_model_len at which vLLM's KV pool holds req.batch requests."""

    def fits(ctx: int) -> bool:
        c = vllm_capacity(
            req.model,
            budget_per_gpu,
            ctx,
            kv_dtype=req.kv_dtype,
            tp=req.gpus,
            max_num_batched_tokens=req.max_num_batched_tokens,
        )
        return c.max_concurrency >= req.batch

    return _largest_context(req, fits)


# ------------------------------------------------------------------------------------------------ fit matrix

DEFAULT_CONTEXT_LADDER: tuple[int, ...] = (2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144)


@dataclass(frozen=True)
class FitMatrix:
    """fits[m, q, h, c] and need_bytes[m, q, h, c] over models x quants x hardware x contexts, and the largest
    ladder context that fits per (m, q, h) (0 = none; NaN-free: unsupported combos are 0 and flagged)."""

    model_ids: tuple[str, ...]
    quants: tuple[str, ...]
    hardware_ids: tuple[str, ...]
    contexts: tuple[int, ...]
    need_bytes: np.ndarray  # int64 [M, Q, H, C]; -1 where the combination is unsupported
    usable_bytes: np.ndarray  # int64 [H]
    fits: np.ndarray  # bool [M, Q, H, C]
    max_context_tokens: np.ndarray  # int64 [M, Q, H]
    supported: np.ndarray  # bool [M, Q]


def fit_matrix(
    models: Sequence[ModelSpec],
    hardware: Sequence[Hardware],
    quants: Sequence[str],
    contexts: Sequence[int] = DEFAULT_CONTEXT_LADDER,
    *,
    engine: str = "llama.cpp",
    kv_dtype: str = "f16",
    batch: int = 1,
    text_only: bool = False,
    gpus: int = 1,
) -> FitMatrix:
    """Fit of every model x quant x device x context for one engine, one numpy row of devices x contexts per pair.

    GPU-resident weights + KV (the engine's cell rules) + overhead against the device's usable memory (x 0.9 for
    vLLM); unified memory counts the host-side tensors too. Same accounting as `estimate`; contexts beyond a
    model's maximum never fit. ValueError if the engine has no `kv_dtype` cache."""
    ctx = np.asarray(contexts, dtype=np.int64)
    M, Q, H, C = len(models), len(quants), len(hardware), len(ctx)
    usable = np.array([usable_memory_bytes(h, gpus)[0] for h in hardware], dtype=np.int64)
    if engine == "vllm":  # vLLM only takes gpu_memory_utilization (default 0.9) of the device
        usable = (usable * 0.9).astype(np.int64)
    unified = np.array([_unified_device(h) for h in hardware], dtype=bool)
    apple = np.array([h.kind == "apple" for h in hardware], dtype=bool)
    need = np.full((M, Q, H, C), -1, dtype=np.int64)
    supported = np.zeros((M, Q), dtype=bool)
    for mi, m in enumerate(models):
        req = MemoryRequest(model=m, engine=engine, kv_dtype=kv_dtype, batch=batch, text_only=text_only, gpus=gpus)
        # KV + overhead per context as `estimate` counts them without a device (discrete-GPU reserve included).
        kv_over = np.array(
            [
                kv_cache_bytes(m, c, kv_dtype, engine, batch) + _overhead(req, c, batch)
                for c in (min(int(c), m.context_tokens) for c in ctx)
            ],
            dtype=np.int64,
        )
        for qi, q in enumerate(quants):
            try:
                wb = weights(m, q, engine, text_only)
            except ValueError:
                continue
            supported[mi, qi] = True
            gpu_w, host_w = _split(req, wb, 0)
            gpu_need = gpu_w + kv_over
            need[mi, qi, :, :] = np.where(unified[:, None], (gpu_need + host_w)[None, :], gpu_need[None, :])
            if wb.tied_output_duplicate_bytes and engine in ("llama.cpp", "ollama"):
                need[mi, qi, apple, :] -= wb.tied_output_duplicate_bytes  # Metal maps one copy
            if engine != "vllm":
                need[mi, qi, unified, :] -= GPU_RUNTIME_RESERVE_BYTES  # no discrete-GPU driver reserve
    too_long = np.array([[c > m.context_tokens for c in ctx] for m in models], dtype=bool)  # [M, C]
    fits = (need >= 0) & (need <= usable[None, None, :, None]) & ~too_long[:, None, None, :]
    idx = np.where(fits, ctx[None, None, None, :], 0)
    max_ctx = idx.max(axis=3)
    return FitMatrix(
        tuple(m.id for m in models),
        tuple(quants),
        tuple(h.id for h in hardware),
        tuple(int(c) for c in ctx),
        need,
        usable,
        fits,
        max_ctx,
        supported,
    )
