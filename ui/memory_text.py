"""The Memory page's explanations: formulas and sources as Markdown, filled in from the page's view."""

from __future__ import annotations

from ui.views.memory import GPU_RUNTIME_RESERVE_BYTES, VLLM_NON_TORCH_BYTES, FitView, MemoryView
from ui.widgets import gib


def fit_sentence(v: MemoryView) -> str:
    """Where the bytes live and how far the scenario stretches."""
    e = v.estimate
    return (
        f"GPU-resident **{gib(e.placement.gpu_bytes)}**, host **{gib(e.placement.host_bytes)}**, usable on the "
        f"device **{gib(e.usable_bytes or 0)}**. Largest context that fits: **{e.max_context_tokens or 0:,}** "
        f"tokens; largest concurrency at {v.context_tokens:,} tokens: **{e.max_concurrency or 0}**."
    )


def weights_markdown(v: MemoryView) -> str:
    """How the weights are sized."""
    w = v.estimate.weights
    return (
        f"- **{w.quant}** on **{w.engine}**: {gib(w.total_bytes)}; per component: "
        + ", ".join(f"{k} {gib(b)}" for k, b in w.component_bytes.items() if b)
        + ".\n"
        "- GGUF mixes choose a type per tensor as llama.cpp's `llama_tensor_get_type` does (src/llama-quant.cpp): "
        "output / tied embedding Q6_K, attn_v and ffn_down Q6_K on the `use_more_bits` layers for _M mixes, "
        "fallback to Q5_0 / Q8_0 where a row is not a multiple of 256; ggml block sizes from ggml-common.h. "
        "Checked against 29 published llama-bench sizes: median error 0.04 %, worst 0.9 % (bench/bench_gguf_sizes.py).\n"
        "- AWQ / GPTQ / FP8 / NF4 keep embeddings and lm_head in 16-bit (vLLM, transformers).\n"
        "- Encoders are sized from their published parameter counts at 16 bits (llama.cpp mmproj F16).\n"
        + "".join(f"- {n}\n" for n in w.notes)
    )


def kv_markdown(v: MemoryView) -> str:
    """The KV cache formula with this scenario's terms."""
    k, s = v.kv_detail, v.scenario
    return (
        f"- Cache-owning layers: {k.full_layers} global, {k.sliding_layers} sliding "
        f"({k.kv_shared_layers} KV-shared layers store nothing).\n"
        f"- Per token ({s.kv}), summed over the cache-owning layers: global {k.full_bytes_per_token:,} B, sliding "
        f"{k.sliding_bytes_per_token:,} B (K and V; K=V layers store both).\n"
        f"- Cells allocated by {s.engine}: global {k.full_cells:,}, sliding {k.sliding_cells:,} "
        f"(window {k.window_tokens}).\n"
        f"- KV = {k.full_bytes_per_token:,} B x {k.full_cells:,} + {k.sliding_bytes_per_token:,} B x "
        f"{k.sliding_cells:,} = {gib(v.estimate.kv_cache_bytes)}.\n"
        "- llama.cpp: sliding cells = min(n_ctx, pad(window x n_seq + n_ubatch, 256)) (src/llama-kv-cache-iswa.cpp); "
        "Ollama: n_seq x window + num_batch (kvcache/causal.go); vLLM: blocks of 16, window - 1 + "
        "max_num_batched_tokens per sliding group (v1/core/kv_cache_utils.py); transformers keeps the window "
        "(DynamicSlidingWindowLayer). Exact against llama.cpp's logged 256 MiB (Llama-2-7B, 512), "
        "1024 MiB (Mistral-7B, 8192) and 3072 MiB + 768 SWA cells (gpt-oss, 131072)."
    )


def overhead_markdown(v: MemoryView) -> str:
    """Overhead, placement and fit rules."""
    return (
        f"- Usable memory on {v.hardware.name}: {gib(v.usable_bytes)} ({v.usable_rule}).\n"
        "- Placement: llama.cpp / Ollama keep the input token embedding (and, by default, the per-layer-embedding "
        "table) in host memory and load a tied output matrix a second time on the GPU (not on Apple silicon, "
        "where Metal maps the file once); `--cpu-moe` moves the routed experts to the host. GPU-resident = "
        "weights on the GPU + KV cache + overhead; host = the host-side tensors. vLLM and transformers keep "
        "everything on the GPU.\n"
        "- Fits when the GPU-resident bytes (plus the host bytes on unified memory) are at most the usable "
        "memory; margin = usable - that need (a negative margin is the shortfall). vLLM fits when its KV pool "
        "holds the requested sequences.\n"
        "- Largest context: the longest context (a multiple of 256, or the model's maximum) that still fits with "
        "the same accounting, by bisection; largest concurrency: the most parallel sequences (at most 1024) of "
        "the chosen context that fit (vLLM: KV blocks / blocks per request).\n"
        "- llama.cpp / Ollama overhead = compute buffer estimate (largest of the ubatch logits, FFN and attention "
        f"activations) + {GPU_RUNTIME_RESERVE_BYTES // 2**20} MiB runtime reserve on a discrete GPU "
        "(assumption: a CUDA context's typical 300-500 MiB).\n"
        "- transformers overhead = per sequence, the prompt's bf16 activations (context x hidden x 4 tensors) and "
        "the f32 logits of one position, + the same runtime reserve.\n"
        "- vLLM overhead = activation peak of one max_num_batched_tokens (8192) pass + "
        f"{VLLM_NON_TORCH_BYTES / 2**30:.2f} GiB non-torch memory per GPU (vllm-project/vllm#13061); "
        "KV budget = gpu_memory_utilization x memory - weights - overhead, reported as max concurrency at the "
        "context length.\n"
        "- Host-side tensors count against unified memory (Apple, Jetson, DGX Spark) but not against a discrete "
        "GPU.\n" + "".join(f"- {n}\n" for n in v.estimate.notes)
    )


def vllm_sentence(v: MemoryView) -> str | None:
    """vLLM's KV block accounting, when the engine is vLLM."""
    c = v.estimate.vllm
    if c is None:
        return None
    return (
        f"vLLM: {c.num_blocks:,} blocks, {c.blocks_per_request} blocks per request, "
        f"max concurrency {c.max_concurrency:.2f}x, KV cache {c.kv_cache_tokens:,} tokens."
    )


def curves_markdown(v: MemoryView) -> str:
    """How the KV curves are drawn."""
    s = v.scenario
    return (
        f"- Each point is the KV cache formula above at that context for {s.conc} sequence(s), with each "
        f"engine's cell rule; engines without a {s.kv} cache are drawn in f16.\n"
        "- *global layers only*: global bytes per token x context x sequences.\n"
        "- *sliding layers (llama.cpp)*: llama.cpp's cache minus the global layers: min(context, pad(window x "
        "sequences + n_ubatch, 256)) cells per sliding layer, flat past the window.\n"
        "- *naive*: every layer (KV-shared ones too) x its KV heads x head size x 2 x context x sequences."
    )


def fit_matrix_markdown(f: FitView, gpus: int) -> str:
    """How the fit matrix is computed."""
    return (
        "- Cell = the largest context on the ladder "
        + ", ".join(f"{c // 1024}k" for c in f.ladder_tokens)
        + f" that fits (0 = not even the first), for every catalog variant on {gpus} x each catalog device.\n"
        "- Same accounting as the numbers above: weights on the GPU + KV cache (the engine's cell rule) + "
        "overhead, against the usable memory; unified memory also counts the host-side tensors. vLLM: "
        "against 90 % of the device (gpu_memory_utilization), KV for the requested sequences."
    )
