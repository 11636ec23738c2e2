"""Published GGUF sizes of real files, and the public configs of the models behind them (validation data).

Sizes are what llama.cpp's `llama-bench` prints in its "size" column (GiB of tensor data, 2 decimals) or what
its loader prints as "file size"; each row names where it was seen. The architectures are the models' public
Hugging Face config.json values. Used by bench/bench_gguf_sizes.py (accuracy table) and tests/test_memory_gguf.py.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from model_specs import load_catalog
from model_specs.schema import ModelSpec


def spec(
    mid: str,
    family: str,
    *,
    layers: int,
    hidden: int,
    ff: int | list[int],
    vocab: int,
    heads: int,
    kv: int,
    head_dim: int | None = None,
    tied: bool = False,
    ctx: int = 131072,
    window: int | None = None,
    pattern: str | None = None,
    experts: tuple[int, int, int] | None = None,
    swa_kv: int | None = None,
) -> ModelSpec:
    """A text-only ModelSpec from config.json-style numbers (pattern: S/F per layer; experts: (n, top_k, width))."""
    hd = head_dim or hidden // heads
    lt = pattern or "F" * layers
    att: dict = {"num_heads": heads, "layer_types": lt, "full": {"kv_heads": kv, "head_dim": hd}}
    if "S" in lt:
        att["sliding"] = {"kv_heads": swa_kv or kv, "head_dim": hd}
        att["sliding_window_tokens"] = window
    text: dict = {
        "num_layers": layers,
        "hidden_size": hidden,
        "intermediate_size": ff,
        "vocab_size": vocab,
        "tie_word_embeddings": tied,
        "attention": att,
    }
    if experts:
        text["moe"] = {
            "num_experts": experts[0],
            "experts_per_token": experts[1],
            "expert_intermediate_size": experts[2],
        }
    return ModelSpec.model_validate(
        {
            "id": mid,
            "name": mid,
            "family": family,
            "modalities": ["text"],
            "context_tokens": ctx,
            "text": text,
            "source": "config.json",
        }
    )


# meta-llama/Llama-2-7b-hf config.json
LLAMA2_7B = spec("llama-2-7b", "llama", layers=32, hidden=4096, ff=11008, vocab=32000, heads=32, kv=32, ctx=4096)
# meta-llama/Llama-2-13b-hf config.json
LLAMA2_13B = spec("llama-2-13b", "llama", layers=40, hidden=5120, ff=13824, vocab=32000, heads=40, kv=40, ctx=4096)
# meta-llama/Meta-Llama-3-8B config.json
LLAMA3_8B = spec("llama-3-8b", "llama", layers=32, hidden=4096, ff=14336, vocab=128256, heads=32, kv=8, ctx=8192)
# meta-llama/Meta-Llama-3-70B config.json
LLAMA3_70B = spec("llama-3-70b", "llama", layers=80, hidden=8192, ff=28672, vocab=128256, heads=64, kv=8, ctx=8192)
# meta-llama/Llama-3.2-1B / 3B config.json (tied embeddings)
LLAMA32_1B = spec(
    "llama-3.2-1b", "llama", layers=16, hidden=2048, ff=8192, vocab=128256, heads=32, kv=8, head_dim=64, tied=True
)
LLAMA32_3B = spec(
    "llama-3.2-3b", "llama", layers=28, hidden=3072, ff=8192, vocab=128256, heads=24, kv=8, head_dim=128, tied=True
)
# mistralai/Mistral-7B-v0.1 config.json: llama.cpp runs it as `llama` and ignores sliding_window 4096.
MISTRAL_7B = spec("mistral-7b", "llama", layers=32, hidden=4096, ff=14336, vocab=32000, heads=32, kv=8, ctx=32768)
# Qwen/Qwen2.5-7B (and Qwen2.5-Coder-7B) config.json: untied, qkv bias
QWEN25_7B = spec("qwen2.5-7b", "qwen2", layers=28, hidden=3584, ff=18944, vocab=152064, heads=28, kv=4, ctx=32768)
# Qwen/Qwen2.5-32B config.json
QWEN25_32B = spec("qwen2.5-32b", "qwen2", layers=64, hidden=5120, ff=27648, vocab=152064, heads=40, kv=8, ctx=32768)
# Qwen/Qwen3-8B config.json
QWEN3_8B = spec(
    "qwen3-8b", "qwen3", layers=36, hidden=4096, ff=12288, vocab=151936, heads=32, kv=8, head_dim=128, ctx=40960
)
# Qwen/Qwen3-30B-A3B config.json: 128 experts, top-8, expert width 768, every layer sparse
QWEN3_30B_A3B = spec(
    "qwen3-30b-a3b",
    "qwen3",
    layers=48,
    hidden=2048,
    ff=0,
    vocab=151936,
    heads=32,
    kv=4,
    head_dim=128,
    ctx=40960,
    experts=(128, 8, 768),
)
# Qwen/Qwen3-235B-A22B config.json
QWEN3_235B = spec(
    "qwen3-235b-a22b",
    "qwen3",
    layers=94,
    hidden=4096,
    ff=0,
    vocab=151936,
    heads=64,
    kv=4,
    head_dim=128,
    ctx=40960,
    experts=(128, 8, 1536),
)
# microsoft/Phi-3-mini-4k-instruct config.json: fused qkv and gate_up
PHI3_MINI = spec("phi-3-mini", "phi3", layers=32, hidden=3072, ff=8192, vocab=32064, heads=32, kv=32, ctx=4096)
# mistralai/Mixtral-8x7B-v0.1 config.json
MIXTRAL_8X7B = spec(
    "mixtral-8x7b", "llama", layers=32, hidden=4096, ff=0, vocab=32000, heads=32, kv=8, ctx=32768, experts=(8, 2, 14336)
)
# openai/gpt-oss-20b / -120b config.json: alternating sliding (128) / full layers, 64 heads x 64, 8 KV heads.
_GPTOSS_PATTERN_24 = "SF" * 12
GPT_OSS_20B = spec(
    "gpt-oss-20b",
    "gpt-oss",
    layers=24,
    hidden=2880,
    ff=0,
    vocab=201088,
    heads=64,
    kv=8,
    head_dim=64,
    window=128,
    pattern=_GPTOSS_PATTERN_24,
    experts=(32, 4, 2880),
)
GPT_OSS_120B = spec(
    "gpt-oss-120b",
    "gpt-oss",
    layers=36,
    hidden=2880,
    ff=0,
    vocab=201088,
    heads=64,
    kv=8,
    head_dim=64,
    window=128,
    pattern="SF" * 18,
    experts=(128, 4, 2880),
)


@dataclass(frozen=True)
class SizeRow:
    """One published size: model, GGUF type, size in GiB as printed, and where it was seen."""

    model: ModelSpec
    ftype: str
    size_gib: float
    source: str
    packaging: str = "llama-quantize"  # "llama-quantize" = default rules; anything else names a custom recipe
    options: tuple[tuple[str, str], ...] = ()  # gguf.gguf_size keyword options describing the recipe

    @property
    def scored(self) -> bool:
        """Counts towards the accuracy goal: default llama-quantize rules, or a recipe `options` reproduces."""
        return self.packaging == "llama-quantize" or bool(self.options)


_LB = "llama-bench table"


@functools.cache
def size_rows() -> tuple[SizeRow, ...]:
    """Every published size this project checks against (measurements.md section 1 first)."""
    g = load_catalog().model
    return (
        # shared/reference/measurements.md section 1 (llama.cpp discussion #4167 / PR #4766; benches/dgx-spark.md)
        SizeRow(LLAMA2_7B, "F16", 12.55, "measurements.md s1: llama.cpp discussion #4167"),
        SizeRow(LLAMA2_7B, "Q8_0", 6.67, "measurements.md s1: llama.cpp discussion #4167"),
        SizeRow(LLAMA2_7B, "Q4_0", 3.56, "measurements.md s1: llama.cpp discussion #4167"),
        SizeRow(
            QWEN25_7B, "Q8_0", 7.54, "measurements.md s1: ggml-org/Qwen2.5-Coder-7B-Q8_0-GGUF, benches/dgx-spark.md"
        ),
        SizeRow(GPT_OSS_20B, "MXFP4_MOE", 11.27, "measurements.md s1: ggml-org/gpt-oss-20b-GGUF, benches/dgx-spark.md"),
        SizeRow(
            GPT_OSS_120B, "MXFP4_MOE", 59.02, "measurements.md s1: ggml-org/gpt-oss-120b-GGUF, benches/dgx-spark.md"
        ),
        SizeRow(
            QWEN3_30B_A3B,
            "Q8_0",
            30.25,
            "ggml-org/Qwen3-Coder-30B-A3B-Instruct-Q8_0-GGUF, llama.cpp benches/dgx-spark.md",
        ),
        # ggml-org/gemma-3-4b-it-qat-GGUF: Google's QAT Q4_0 weights with the tied embedding re-quantised to Q8_0
        # (the F16 table of google/gemma-3-4b-it-qat-q4_0-gguf would give 2.93 GiB, llama-quantize's Q6_K 2.19).
        SizeRow(
            g("gemma-3-4b"),
            "Q4_0",
            2.35,
            "measurements.md s1: ggml-org/gemma-3-4b-it-qat-GGUF",
            packaging="QAT release, token_embd Q8_0",
            options=(("token_embedding_type", "Q8_0"),),
        ),
        # llama-bench rows in public benchmark logs (size column, llama.cpp builds 2024-2026)
        SizeRow(LLAMA2_7B, "Q4_K_M", 3.80, _LB + ": llama 7B Q4_K - Medium, 6.74 B"),
        SizeRow(LLAMA2_13B, "Q4_0", 6.86, _LB + ": llama 13B Q4_0, 13.02 B"),
        SizeRow(MISTRAL_7B, "Q4_0", 3.83, _LB + ": llama 7B Q4_0, 7.24 B (Mistral 7B)"),
        SizeRow(MISTRAL_7B, "Q4_K_M", 4.07, _LB + ": llama 7B Q4_K - Medium, 7.24 B (Mistral 7B)"),
        SizeRow(LLAMA3_8B, "Q4_K_M", 4.58, _LB + ": llama 8B Q4_K - Medium, 8.03 B"),
        SizeRow(LLAMA3_8B, "Q8_0", 7.95, _LB + ": llama 8B Q8_0, 8.03 B"),
        SizeRow(LLAMA3_8B, "F16", 14.96, _LB + ": llama 8B F16, 8.03 B"),
        SizeRow(LLAMA3_70B, "Q4_K_M", 39.59, _LB + ": llama 70B Q4_K - Medium, 70.55 B"),
        SizeRow(LLAMA32_1B, "Q8_0", 1.22, _LB + ": llama 1B Q8_0, 1.24 B"),
        SizeRow(LLAMA32_3B, "Q4_K_M", 1.87, _LB + ": llama 3B Q4_K - Medium, 3.21 B"),
        SizeRow(QWEN25_7B, "Q4_K_M", 4.36, "llama.cpp tools/llama-bench/README.md: qwen2 7B Q4_K - Medium, 7.62 B"),
        SizeRow(QWEN25_32B, "Q4_K_M", 18.48, _LB + ": qwen2 32B Q4_K - Medium, 32.76 B"),
        SizeRow(QWEN3_8B, "Q4_K_M", 4.68, _LB + ": qwen3 8B Q4_K - Medium, 8.19 B"),
        SizeRow(QWEN3_30B_A3B, "Q4_K_M", 17.28, _LB + ": qwen3moe 30B.A3B Q4_K - Medium, 30.53 B"),
        SizeRow(
            QWEN3_235B,
            "Q3_K_M",
            96.59,
            "intel/ipex-llm#13194 loader log: file size 96.59 GiB (Q3_K - Medium)",
            packaging="unsloth imatrix recipe (log: q3_K 271, q4_K 359, q5_K 19, q6_K 11 tensors)",
        ),
        SizeRow(PHI3_MINI, "Q4_K_M", 2.23, _LB + ": phi3 3B Q4_K - Medium, 3.82 B"),
        SizeRow(
            MIXTRAL_8X7B,
            "Q4_K_M",
            24.62,
            "ggml-org/llama.cpp#5206 loader log: model size 24.62 GiB, 46.70 B",
            packaging="Dec-2023 file: per-expert ffn_down.N tensors missed the Q6_K bump",
        ),
        SizeRow(g("gemma-3-4b"), "Q4_K_M", 2.31, _LB + ": gemma3 4B Q4_K - Medium, 3.88 B"),
        SizeRow(g("gemma-3-12b"), "Q4_K_M", 6.79, _LB + ": gemma3 12B Q4_K - Medium, 11.77 B"),
        SizeRow(g("gemma-3-27b"), "Q4_K_M", 15.40, _LB + ": gemma3 27B Q4_K - Medium, 27.01 B"),
        SizeRow(g("gemma-3n-e4b"), "Q8_0", 6.84, _LB + ": gemma3n E4B Q8_0, 6.87 B"),
        SizeRow(g("gemma-4-31b"), "Q4_K_M", 17.39, _LB + ": lmstudio-community/gemma-4-31B-it-GGUF Q4_K_M, 30.70 B"),
        SizeRow(
            g("gemma-4-26b-a4b"), "Q4_K_M", 15.63, _LB + ": lmstudio-community/gemma-4-26B-A4B-it-GGUF Q4_K_M, 25.23 B"
        ),
        # Files with non-default recipes: shown in the table, kept out of the default-rules statistics.
        SizeRow(
            g("gemma-4-e4b"),
            "Q4_K_M",
            4.62,
            _LB + ": gemma4 E4B Q4_K - Medium, 7.52 B (log: token_embd Q4_K, PLE projections F32)",
            packaging="custom (token_embd Q4_K)",
        ),
        SizeRow(
            g("gemma-4-e2b"),
            "Q4_K_M",
            2.88,
            _LB + ": gemma4 E2B Q4_K - Medium, 4.65 B (same uploader as E4B)",
            packaging="custom (token_embd Q4_K)",
        ),
    )
