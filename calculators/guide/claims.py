"""Statements from published Gemma 4 guides, as checkable records (the check itself is in calculators/guide.py).

Each claim states what the guide says, where it says it, and how to test it with the calculators: a memory
figure to compare ("footprint"), a deployment that must fit ("fits"), or a speed ratio ("speed_ratio").
`conditions` are readings that keep the claim's point (text only, experts in system RAM, ...): when the literal
reading fails but one of them passes, the verdict is "holds only with <condition>". `instead` are changes that
give up the claim's point (another precision, a bigger device); they are reported as what works, never as a pass.
A source is a URL where one was found with the search tools, else "published guides" (never an invented URL).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

ClaimKind = Literal["footprint", "fits", "speed_ratio"]
# What a footprint claim is compared against:
#   weights         all weight bytes of the format (every tensor, encoders unless text_only)
#   device_weights  weight bytes the engine keeps on the accelerator (llama.cpp leaves the token and per-layer
#                   embedding tables in host memory / memory-mapped, and copies a tied output matrix)
#   vram            accelerator bytes at the claim's context: device weights + KV cache + compute buffer + runtime
Measure = Literal["weights", "device_weights", "vram"]
PUBLISHED_GUIDES = "published guides"


@dataclass(frozen=True)
class Variant:
    """A reading of the claim: a label and the request fields it changes."""

    label: str
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    """One published statement and how to test it."""

    id: str
    text: str
    source: str
    kind: ClaimKind
    model: str
    quant: str
    engine: str = "llama.cpp"
    context_tokens: int = 4096
    text_only: bool = False
    kv_dtype: str = "f16"
    hardware: tuple[str, ...] = ()
    gpus: int = 1
    claimed_gb: float | None = None  # footprint claims, GB = 10^9 bytes as guides write it
    measure: Measure = "weights"
    compare_model: str | None = None  # speed_ratio claims: "as fast as" this model
    min_ratio: float = 0.75  # speed_ratio claims: what "almost as fast" is taken to mean
    conditions: tuple[Variant, ...] = ()
    instead: tuple[Variant, ...] = ()
    note: str | None = None


CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="31b-fp16-20gb",
        text="Gemma 4 31B needs ~20 GB of VRAM at FP16",
        source=PUBLISHED_GUIDES,
        kind="footprint",
        model="gemma-4-31b",
        quant="F16",
        claimed_gb=20,
        measure="weights",
        note="Checked against the weights alone, the most generous reading (KV cache and runtime come on top).",
    ),
    Claim(
        id="31b-int4-12gb",
        text="Gemma 4 31B needs ~12 GB of VRAM at INT4",
        source=PUBLISHED_GUIDES,
        kind="footprint",
        model="gemma-4-31b",
        quant="Q4_0",
        claimed_gb=12,
        measure="weights",
        conditions=(Variant("text only (no vision encoder)", {"text_only": True}),),
        note="INT4 read as GGUF Q4_0 (4.5 bits per weight), the plainest 4-bit format; weights alone.",
    ),
    Claim(
        id="31b-fp16-62gb",
        text="Gemma 4 31B takes about 62 GB at native FP16, before the KV cache",
        source="https://aiproductivity.ai/news/gemma-4-kv-cache-vram-problem-local-llm/",
        kind="footprint",
        model="gemma-4-31b",
        quant="F16",
        claimed_gb=62,
        measure="weights",
    ),
    Claim(
        id="26b-bf16-one-24gb-gpu",
        text="Gemma 4 26B A4B runs on one RTX 3090/4090 at full precision",
        source=PUBLISHED_GUIDES,
        kind="fits",
        model="gemma-4-26b-a4b",
        quant="BF16",
        context_tokens=8192,
        hardware=("rtx-3090", "rtx-4090"),
        conditions=(Variant("routed experts in system RAM (llama.cpp --cpu-moe)", {"offload_experts": True}),),
        instead=(Variant("Q8_0", {"quant": "Q8_0"}), Variant("Q4_K_M", {"quant": "Q4_K_M"})),
    ),
    Claim(
        id="31b-bf16-two-4090",
        text="Two RTX 4090s serve Gemma 4 31B in bfloat16",
        source=PUBLISHED_GUIDES,
        kind="fits",
        model="gemma-4-31b",
        quant="BF16",
        engine="vllm",
        context_tokens=8192,
        hardware=("rtx-4090",),
        gpus=2,
        conditions=(
            Variant("llama.cpp split over both cards", {"engine": "llama.cpp"}),
            Variant("text only (no vision encoder)", {"text_only": True}),
        ),
        instead=(Variant("FP8 on vLLM", {"quant": "FP8"}), Variant("AWQ 4-bit on vLLM", {"quant": "AWQ"})),
    ),
    Claim(
        id="31b-bf16-one-h100",
        text="Gemma 4 31B fits entirely on a single 80 GB H100",
        source="https://www.sikshasambad.com/news/googles-gemma-4-runs-frontier-ai-on-a-single-gpu-69d1d135a174d",
        kind="fits",
        model="gemma-4-31b",
        quant="BF16",
        engine="vllm",
        context_tokens=8192,
        hardware=("h100-80gb-sxm",),
    ),
    Claim(
        id="31b-q4km-one-24gb-gpu",
        text="Gemma 4 31B at Q4_K_M fits within 24 GB of VRAM (one RTX 3090)",
        source="https://col.cx/post/099c1be8-66c5-49f2-9ae9-eac6a4129c6a",
        kind="fits",
        model="gemma-4-31b",
        quant="Q4_K_M",
        context_tokens=8192,
        hardware=("rtx-3090",),
    ),
    Claim(
        id="26b-q4km-18gb",
        text="Gemma 4 26B A4B needs roughly 18 GB of VRAM at Q4_K_M with an 8K context",
        source="https://canitrun.dev/models/gemma-4-26b/",
        kind="footprint",
        model="gemma-4-26b-a4b",
        quant="Q4_K_M",
        context_tokens=8192,
        claimed_gb=18,
        measure="vram",
    ),
    Claim(
        id="e2b-1.5gb",
        text="Gemma 4 E2B has a 1.5 GB footprint (4-bit, under 1.5 GB of RAM)",
        source="https://llmcheck.net/blog/gemma-4-e2b-e4b-iphone-ipad-mac",
        kind="footprint",
        model="gemma-4-e2b",
        quant="Q4_0",
        claimed_gb=1.5,
        measure="weights",
        conditions=(
            Variant("text only", {"text_only": True}),
            Variant(
                "text only, with the token and per-layer embedding tables memory-mapped from storage "
                "(weights only, before KV cache and runtime)",
                {"text_only": True, "measure": "device_weights"},
            ),
        ),
    ),
    Claim(
        id="e4b-phone-4gb-128k",
        text="Gemma 4 E4B runs on a phone with 4 GB of RAM with a 128K context",
        source=PUBLISHED_GUIDES,
        kind="fits",
        model="gemma-4-e4b",
        quant="Q4_0",
        context_tokens=131072,
        hardware=("phone-4gb",),
        conditions=(
            Variant("text only", {"text_only": True}),
            Variant("text only with a q4_0 KV cache", {"text_only": True, "kv_dtype": "q4_0"}),
        ),
        instead=(
            Variant("an 8 GB phone, text only", {"hardware": ("phone-8gb",), "text_only": True}),
            Variant(
                "an 8 GB phone, text only, 32K context",
                {"hardware": ("phone-8gb",), "text_only": True, "context_tokens": 32768},
            ),
        ),
    ),
    Claim(
        id="26b-as-fast-as-4b",
        text="Gemma 4 26B A4B runs almost as fast as a 4B model on the same hardware",
        source="https://smeltcore.com/recipes/gemma-4-26b-a4b-it-on-rtx-3090-local-multimodal-chat-via-q4-k-m-gguf-llama-cpp",
        kind="speed_ratio",
        model="gemma-4-26b-a4b",
        compare_model="gemma-4-e4b",
        quant="Q4_K_M",
        context_tokens=4096,
        hardware=("rtx-3090",),
        min_ratio=0.75,
        note="'Almost as fast' is read as at least 75 % of E4B's forecast single-user decode speed.",
    ),
)
