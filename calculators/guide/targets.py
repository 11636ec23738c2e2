"""Deployment targets, the quants each engine serves, workloads and their benchmark scores, the guide request."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from model_specs.schema import ModelSpec

GB = 10**9
GiB = 2**30

# ---------------------------------------------------------------- targets, workloads


@dataclass(frozen=True)
class Target:
    """Where the model must run, as catalog devices, a GPU count and the engine people use there."""

    id: str
    label: str
    hardware_ids: tuple[str, ...]
    gpus: int = 1
    engine: str = "llama.cpp"
    why: str = ""


# Representative devices per target (ids from model_specs/data/hardware.yaml); the page shows this mapping.
TARGETS: tuple[Target, ...] = (
    Target("phone", "Phone", ("phone-8gb",), why="a current mid/high-end phone with 8 GB of RAM (llama.cpp on CPU)"),
    Target(
        "edge",
        "Raspberry Pi / Jetson",
        ("raspberry-pi-5-16gb", "jetson-orin-nano-super-8gb"),
        why="the largest Pi 5 and the Jetson Orin Nano Super (8 GB unified memory)",
    ),
    Target("laptop-cpu", "Laptop without GPU", ("laptop-ddr5-16gb",), why="16 GB of DDR5, CPU inference"),
    Target("mac-16", "16 GB Mac", ("m4-16gb",), why="an M4 MacBook Air / Mac mini with 16 GB unified memory"),
    Target("gpu-24", "24 GB GPU", ("rtx-4090", "rtx-3090"), why="the two common 24 GB consumer cards"),
    Target("server", "Server GPU", ("h100-80gb-sxm",), engine="vllm", why="one H100 80 GB SXM serving with vLLM"),
    Target(
        "multi-gpu",
        "Multi-GPU",
        ("rtx-4090",),
        gpus=2,
        engine="vllm",
        why="two RTX 4090s with tensor parallelism on vLLM",
    ),
)
TARGET_BY_ID = {t.id: t for t in TARGETS}

# A few sensible formats per engine: 4-bit, 8-bit and the published precision.
ENGINE_QUANTS: dict[str, tuple[str, ...]] = {
    "llama.cpp": ("Q4_K_M", "Q8_0", "BF16"),
    "ollama": ("Q4_K_M", "Q8_0", "BF16"),
    "vllm": ("AWQ", "FP8", "BF16"),
    "transformers": ("NF4", "BF16"),
}

# Which published scores speak to each workload. The catalog has no tool-use benchmark (no Tau2 / BFCL), so
# agentic work is judged on coding and hard-question scores, the closest proxies present.
WORKLOAD_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "chat": ("LMArena (text)", "MMLU-Pro"),
    "agentic": ("LiveCodeBench v6", "GPQA Diamond", "MMLU-Pro"),
    "reasoning": ("AIME 2026", "LiveCodeBench v6", "GPQA Diamond", "Codeforces"),
}
WORKLOAD_LABELS = {"chat": "chat", "agentic": "agentic tool calls", "reasoning": "reasoning / maths / code"}


def quality_scores(models: Iterable[ModelSpec], workload: str) -> dict[str, tuple[float | None, dict[str, float]]]:
    """Per model: mean of its workload scores, each as % of the best published score among `models`, and the raw
    scores used. None when the model has none of the workload's benchmarks."""
    models = list(models)
    names = WORKLOAD_BENCHMARKS[workload]
    best = {n: max((m.benchmarks[n].value for m in models if n in m.benchmarks), default=None) for n in names}
    out: dict[str, tuple[float | None, dict[str, float]]] = {}
    for m in models:
        raw = {n: m.benchmarks[n].value for n in names if n in m.benchmarks}
        rel = [100 * v / best[n] for n, v in raw.items() if best[n]]
        out[m.id] = (sum(rel) / len(rel) if rel else None, raw)
    return out


# ---------------------------------------------------------------- ranking


@dataclass(frozen=True)
class GuideRequest:
    """What the user told the guide."""

    hardware_ids: tuple[str, ...]
    gpus: int = 1
    engine: str = "llama.cpp"
    context_tokens: int = 8192
    modalities: frozenset[str] = frozenset()  # beyond text: "image", "audio"
    private: bool = False  # no external API: hosted APIs are left out of the cost
    workload: str = "chat"
    monthly_input_tokens: float = 100e6
    monthly_output_tokens: float = 20e6
    concurrency: int = 1
    budget_usd_per_month: float | None = None
    min_tokens_per_s: float = 10.0  # per user; the low end of the forecast range must reach it
    min_margin_share: float = 0.05  # "fits with margin": at least this share of usable memory left free
    quants: tuple[str, ...] | None = None  # None: ENGINE_QUANTS[engine]
    model_ids: tuple[str, ...] | None = None  # None: every catalog model

    def __post_init__(self) -> None:
        if not self.hardware_ids:
            raise ValueError("pick at least one device")
        if self.workload not in WORKLOAD_BENCHMARKS:
            raise ValueError(f"unknown workload '{self.workload}' (known: {', '.join(WORKLOAD_BENCHMARKS)})")
        if self.context_tokens < 256 or self.concurrency < 1 or self.gpus < 1:
            raise ValueError("context must be >= 256 tokens, concurrency and GPUs >= 1")
        if self.monthly_input_tokens < 0 or self.monthly_output_tokens < 0:
            raise ValueError("monthly tokens must be >= 0")
        bad = set(self.modalities) - {"image", "audio", "video"}
        if bad:
            raise ValueError(f"unknown modalities: {sorted(bad)}")
