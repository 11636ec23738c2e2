"""Runtime overheads: llama.cpp compute buffers, vLLM activations and non-torch memory, usable device memory."""

from __future__ import annotations

from calculators.memory.kv import _pad
from calculators.memory.weights import GiB, MiB
from model_specs.schema import Hardware, ModelSpec

# Runtime reserve on a discrete GPU besides weights, KV and compute buffer: CUDA/ROCm context and driver
# allocations. Assumption (typical nvidia-smi delta for a CUDA context, 300-500 MiB); stated in the UI.
GPU_RUNTIME_RESERVE_BYTES = 512 * MiB
# vLLM's profiled non-torch memory (NCCL, CUDA context, cuBLAS workspace): 0.25 GiB in the DeepSeek-R1-Distill-
# Qwen-14B TP2 log (vllm-project/vllm#13061); assumed per GPU.
VLLM_NON_TORCH_BYTES = GiB // 4


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


# ------------------------------------------------------------------------------------------------ placement


def device_memory_bytes(hw: Hardware) -> int:
    """One device's memory as its driver reports it (catalog `driver_memory_mib`, sourced), else the label's GiB."""
    return int(hw.driver_memory_mib * MiB) if hw.driver_memory_mib else int(hw.memory_gib * GiB)


def usable_memory_bytes(hw: Hardware, gpus: int = 1) -> tuple[int, str]:
    """Bytes a model may use on `gpus` of this device, and the rule applied.

    Apple unified memory: macOS caps GPU allocations at the Metal recommendedMaxWorkingSetSize, which llama.cpp
    logs as 2/3 of RAM on <= 36 GB machines (21845.34 MB on 32 GB, ggml-org/llama.cpp#2011, ollama/ollama#434)
    and 3/4 above; recent macOS reports more (107.52 GiB of 128, antirez/ds4#893), so 3/4 is conservative.
    Other unified-memory devices (Jetson, DGX Spark, phones, Raspberry Pi): total minus an OS reserve of
    max(1 GiB, 10 %) (assumption). Discrete GPUs: the memory the driver reports where the catalog has it (nvidia-smi's
    total, which leaves out ECC and driver-reserved memory: 23,028 MiB on a 24 GiB A10G), else the label's (runtime
    reserve counted as overhead).
    """
    total = int(hw.memory_gib * GiB)
    if hw.kind == "apple":
        frac = 2 / 3 if hw.memory_gib <= 36 else 3 / 4
        return int(total * frac) * gpus, f"macOS GPU working-set limit ({frac:.0%} of unified memory)"
    if hw.unified_memory or hw.kind in ("cpu", "mobile"):
        reserve = max(GiB, total // 10)
        return (total - reserve) * gpus, "unified memory minus an OS reserve of max(1 GiB, 10 %)"
    if hw.driver_memory_mib:
        src, label = hw.field_sources["driver_memory_mib"], hw.memory_label
        rule = f"the {hw.driver_memory_mib:,.0f} MiB the driver reports; source: {src}, not the {label} on the label"
        return device_memory_bytes(hw) * gpus, rule
    return total * gpus, "full device memory"
