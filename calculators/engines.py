"""Engine registry: one record per runtime (llama.cpp, Ollama, vLLM, transformers) with what the calculators need.

Memory, speed, the guide and the UI ask `engine(name)` instead of comparing engine strings. Sources per field are
in the memory package docstring (calculators/memory/__init__.py); scheduler defaults are each engine's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

KV_DTYPES: tuple[str, ...] = ("f16", "bf16", "fp8", "q8_0", "q4_0")

# Non-GGUF weight formats each engine loads (vLLM docs "Supported Hardware for Quantization Kernels";
# transformers quantization docs). GGUF mixes run on llama.cpp and Ollama (vLLM's GGUF loader is experimental).
_SERVER_FORMATS = frozenset({"FP8", "INT8", "AWQ", "GPTQ", "NF4", "NF4_DQ", "MXFP4"})

# vLLM streams weights and KV at this share of the serving class's rate (which TensorRT-LLM's published throughput
# fitted): `python bench/bench_serving.py --fit-vllm` on the published vLLM runs of calculators/serving_measurements.yaml
# (aggregate throughput and inter-token latency; each source's own rows are predicted with the factor fitted without it).
VLLM_BANDWIDTH_FACTOR = 0.82
# Seconds from a request's send to vLLM's scheduler seeing it (API server: HTTP, chat template, tokenizer; engine
# IPC), paid once per request in TTFT and end-to-end time: `python bench/bench_serving.py --fit-frontend` on the TTFT
# of the published vLLM and SGLang runs (each source's own rows are predicted with the value fitted without it).
VLLM_FRONTEND_S = 0.035

CacheCells = Literal["ggml_slots", "ollama_slots", "paged_blocks", "full_cache"]
Overhead = Literal["ggml_compute", "vllm_activations", "prompt_activations"]


@dataclass(frozen=True)
class Scheduler:
    """How the engine batches requests (each engine's default)."""

    parallel_slots: int | None = None  # llama.cpp --parallel / OLLAMA_NUM_PARALLEL: fixed slots over one KV
    max_num_seqs: int | None = None  # vLLM: sequences scheduled per step
    max_num_batched_tokens: int | None = None  # vLLM: tokens per step (chunked prefill)
    n_ubatch_tokens: int = 512  # physical batch of one prefill graph (llama.cpp -ub; vLLM: the token budget)


@dataclass(frozen=True)
class EngineRecord:
    """What one runtime allocates, loads and schedules."""

    name: str
    kv_dtypes: frozenset[str]
    linear_formats: frozenset[str]  # non-GGUF quantised checkpoints it loads (AWQ, FP8, ...)
    gguf_quant_mixes: bool  # runs quantised GGUF files (Q4_K_M, ...) as they are
    float_checkpoints: bool  # loads F16/BF16/F32 safetensors (not a GGUF file)
    packager: Literal["llama.cpp", "ollama"] | None  # whose GGUF quantiser rules (which tensors stay unquantised)
    cache_cells: CacheCells  # rule for the KV cells it reserves (calculators/memory/kv.py)
    overhead: Overhead  # rule for its runtime memory beyond weights and KV (calculators/memory/accounting.py)
    takes_memory_fraction: bool  # vLLM: only gpu_memory_utilization of the card, the rest of it is KV blocks
    host_input_embeddings: bool  # token embedding and PLE table stay in host memory (input-layer tensors)
    duplicates_tied_output: bool  # a tied output matrix is loaded a second time on the GPU
    duplicates_k_eq_v_weights: bool  # K weights also loaded into the V slot on K=V layers
    separate_mmproj: bool  # vision/audio encoders come from a separate mmproj GGUF
    offloads_layers: bool  # layers that do not fit stay in host RAM (-ngl) instead of failing
    tensor_parallel: bool  # several GPUs split each layer (else a layer split, one GPU at a time)
    serving_scheduler: bool  # continuous batching on GPUs: the serving-engine speed parameters apply
    calibrated: bool  # the speed model was fitted on this engine's published points
    per_token_overhead: bool  # adds the fitted per-token server overhead (Ollama's Go runner)
    guide_quants: tuple[str, ...]  # the quantisations the decision guide compares on this engine
    scheduler: Scheduler
    # Weight and KV streaming relative to the serving class (fitted on TensorRT-LLM throughput): 1.0 where no
    # published serving runs of the engine tell otherwise.
    serving_bandwidth_factor: float = 1.0


_GGML = dict(
    linear_formats=frozenset(),
    gguf_quant_mixes=True,
    float_checkpoints=False,
    overhead="ggml_compute",
    takes_memory_fraction=False,
    host_input_embeddings=True,
    duplicates_tied_output=True,
    duplicates_k_eq_v_weights=False,
    offloads_layers=True,
    tensor_parallel=False,
    serving_scheduler=False,
    calibrated=True,
    guide_quants=("Q4_K_M", "Q8_0", "BF16"),
)

ENGINE_RECORDS: dict[str, EngineRecord] = {
    "llama.cpp": EngineRecord(
        name="llama.cpp",
        kv_dtypes=frozenset({"f16", "bf16", "q8_0", "q4_0", "f32"}),
        packager="llama.cpp",
        cache_cells="ggml_slots",
        separate_mmproj=True,
        per_token_overhead=False,
        scheduler=Scheduler(parallel_slots=1),
        **_GGML,
    ),
    "ollama": EngineRecord(
        name="ollama",
        kv_dtypes=frozenset({"f16", "q8_0", "q4_0"}),
        packager="ollama",
        cache_cells="ollama_slots",
        separate_mmproj=False,
        per_token_overhead=True,
        scheduler=Scheduler(parallel_slots=1),
        **_GGML,
    ),
    "vllm": EngineRecord(
        name="vllm",
        kv_dtypes=frozenset({"f16", "bf16", "fp8"}),
        linear_formats=_SERVER_FORMATS | {"NVFP4"},
        gguf_quant_mixes=True,
        float_checkpoints=True,
        packager="llama.cpp",
        cache_cells="paged_blocks",
        overhead="vllm_activations",
        takes_memory_fraction=True,
        host_input_embeddings=False,
        duplicates_tied_output=False,
        duplicates_k_eq_v_weights=True,
        separate_mmproj=False,
        offloads_layers=False,
        tensor_parallel=True,
        serving_scheduler=True,
        calibrated=False,
        per_token_overhead=False,
        guide_quants=("AWQ", "FP8", "BF16"),
        scheduler=Scheduler(max_num_seqs=256, max_num_batched_tokens=8192, n_ubatch_tokens=8192),
        serving_bandwidth_factor=VLLM_BANDWIDTH_FACTOR,
    ),
    "transformers": EngineRecord(
        name="transformers",
        kv_dtypes=frozenset({"f16", "bf16", "f32"}),
        linear_formats=_SERVER_FORMATS,
        gguf_quant_mixes=False,
        float_checkpoints=True,
        packager=None,
        cache_cells="full_cache",
        overhead="prompt_activations",
        takes_memory_fraction=False,
        host_input_embeddings=False,
        duplicates_tied_output=False,
        duplicates_k_eq_v_weights=False,
        separate_mmproj=False,
        offloads_layers=False,
        tensor_parallel=True,
        serving_scheduler=True,
        calibrated=False,
        per_token_overhead=False,
        guide_quants=("NF4", "BF16"),
        scheduler=Scheduler(n_ubatch_tokens=8192),
    ),
}
ENGINES: tuple[str, ...] = tuple(ENGINE_RECORDS)


class UnknownEngine(ValueError):
    """An engine name the registry does not know."""

    def __init__(self, name: str):
        super().__init__(f"unknown engine '{name}' (known: {', '.join(ENGINES)})")
        self.name = name


def engine(name: str) -> EngineRecord:
    """The registry record of an engine; UnknownEngine if there is none."""
    try:
        return ENGINE_RECORDS[name]
    except KeyError:
        raise UnknownEngine(name) from None


def kv_dtypes_for(name: str) -> tuple[str, ...]:
    """KV-cache dtypes of KV_DTYPES the engine can allocate, in KV_DTYPES order (what a UI offers)."""
    rec = engine(name)
    return tuple(d for d in KV_DTYPES if d in rec.kv_dtypes)
