"""Pydantic schema of the spec database: model variants, hardware, quantisation formats and prices."""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ENGINES = ("llama.cpp", "ollama", "vllm", "transformers")
Engine = Literal["llama.cpp", "ollama", "vllm", "transformers"]
HardwareKind = Literal["nvidia", "amd", "apple", "intel", "cpu", "mobile"]
Modality = Literal["text", "image", "audio", "video"]


class Frozen(BaseModel):
    """Base for every catalog record: unknown keys are errors and records are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(Frozen):
    """Where a figure comes from."""

    title: str
    url: str
    note: str | None = None


# ---------------------------------------------------------------- models


class AttentionType(Frozen):
    """KV geometry of one attention-layer type (sliding or global)."""

    kv_heads: int = Field(gt=0)
    head_dim: int = Field(gt=0)
    # K = V: the layer stores one tensor for both keys and values (Gemma 4 global layers).
    k_eq_v: bool = False


class Attention(Frozen):
    """Attention layout: query heads, per-type KV geometry, the window and KV sharing."""

    num_heads: int = Field(gt=0)
    # One character per layer: S = sliding window, F = full (global) attention.
    layer_types: str
    sliding: AttentionType | None = None
    full: AttentionType
    sliding_window_tokens: int | None = Field(default=None, gt=0)
    # The last N layers reuse the KV of an earlier layer of the same type and store none.
    kv_shared_layers: int = Field(default=0, ge=0)

    @field_validator("layer_types")
    @classmethod
    def _pattern(cls, v: str) -> str:
        v = v.replace(" ", "")
        if not re.fullmatch(r"[SF]+", v):
            raise ValueError("layer_types must be a string of S (sliding) and F (full) characters")
        return v

    @model_validator(mode="after")
    def _check(self) -> Attention:
        if "S" in self.layer_types and (self.sliding is None or self.sliding_window_tokens is None):
            raise ValueError("sliding layers need 'sliding' geometry and 'sliding_window_tokens'")
        for name, t in (("sliding", self.sliding), ("full", self.full)):
            if t is not None and self.num_heads % t.kv_heads:
                raise ValueError(f"num_heads {self.num_heads} is not divisible by {name}.kv_heads {t.kv_heads}")
        if self.kv_shared_layers >= len(self.layer_types):
            raise ValueError("kv_shared_layers must be smaller than the layer count")
        return self


class MoE(Frozen):
    """Mixture-of-experts block present in every layer."""

    num_experts: int = Field(gt=1)
    experts_per_token: int = Field(gt=0)
    expert_intermediate_size: int = Field(gt=0)
    # Always-on shared expert(s) run beside the routed ones (Gemma 4's dense MLP, Qwen2-MoE's shared expert).
    shared_experts: int = Field(default=0, ge=0)
    shared_expert_intermediate_size: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> MoE:
        if self.experts_per_token > self.num_experts:
            raise ValueError("experts_per_token exceeds num_experts")
        if (self.shared_experts == 0) != (self.shared_expert_intermediate_size == 0):
            raise ValueError("shared_experts and shared_expert_intermediate_size must both be set or both be 0")
        return self


class PerLayerEmbedding(Frozen):
    """Per-layer embedding (PLE) table of shape [vocab, layers x dim] (Gemma 3n / Gemma 4 E-models)."""

    dim: int = Field(gt=0)
    vocab_size: int = Field(gt=0)


class TextDecoder(Frozen):
    """Text decoder architecture: everything weight and KV memory depend on."""

    num_layers: int = Field(gt=0)
    hidden_size: int = Field(gt=0)
    # One value, or one per layer (Gemma 4 E2B doubles the MLP on its KV-shared layers).
    intermediate_size: int | list[int]
    vocab_size: int = Field(gt=0)
    tie_word_embeddings: bool
    attention: Attention
    moe: MoE | None = None
    per_layer_embedding: PerLayerEmbedding | None = None
    # Parameters the layer formulas above do not cover (AltUp, LAuReL, ...), when published; else 0.
    other_params: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _check(self) -> TextDecoder:
        if len(self.attention.layer_types) != self.num_layers:
            raise ValueError(
                f"attention.layer_types has {len(self.attention.layer_types)} entries but num_layers is {self.num_layers}"
            )
        if isinstance(self.intermediate_size, list) and len(self.intermediate_size) != self.num_layers:
            raise ValueError("intermediate_size list length must equal num_layers")
        return self

    def intermediate_sizes(self) -> list[int]:
        """Dense-MLP width of every layer (0 where a layer has no dense MLP)."""
        if isinstance(self.intermediate_size, list):
            return list(self.intermediate_size)
        return [self.intermediate_size] * self.num_layers


class Encoder(Frozen):
    """A vision or audio encoder, sized by its published parameter count (None when none is published)."""

    params: int | None = Field(default=None, gt=0)
    layers: int | None = None
    hidden_size: int | None = None
    tokens_per_image: int | None = None
    source: str
    note: str | None = None


class Score(Frozen):
    """One published benchmark score."""

    value: float
    unit: Literal["%", "elo", "score"] = "%"
    source: str
    note: str | None = None


class OfficialMemory(Frozen):
    """A vendor-published memory figure for loading the weights."""

    quant: str
    gb: float = Field(gt=0)
    table: str
    source: str


class PublishedParams(Frozen):
    """Parameter counts as the vendor states them, to check the derived counts against."""

    total: float | None = None
    effective: float | None = None
    active: float | None = None
    with_encoders: float | None = None
    source: str


class ModelSpec(Frozen):
    """One model variant with its architecture, encoders, quality scores and sources."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    family: str
    aliases: list[str] = []
    release_date: dt.date | None = None
    license: str | None = None
    modalities: list[Modality]
    context_tokens: int = Field(gt=0)
    text: TextDecoder
    vision: Encoder | None = None
    audio: Encoder | None = None
    published_params: PublishedParams | None = None
    benchmarks: dict[str, Score] = {}
    official_memory: list[OfficialMemory] = []
    # Source keys (into the family file's `sources`) for the architecture values.
    source: str
    notes: str | None = None

    @model_validator(mode="after")
    def _check(self) -> ModelSpec:
        if "image" in self.modalities and self.vision is None:
            raise ValueError("an image-capable model needs a 'vision' encoder entry")
        if "audio" in self.modalities and self.audio is None:
            raise ValueError("an audio-capable model needs an 'audio' encoder entry")
        return self


class ModelFamily(Frozen):
    """One YAML file: a family of variants and the sources they cite."""

    family: str
    sources: dict[str, Source]
    models: list[ModelSpec]

    @model_validator(mode="after")
    def _sources_exist(self) -> ModelFamily:
        for m in self.models:
            keys = [m.source]
            keys += [e.source for e in (m.vision, m.audio) if e is not None]
            keys += [s.source for s in m.benchmarks.values()]
            keys += [o.source for o in m.official_memory]
            keys += [m.published_params.source] if m.published_params else []
            for key in keys:
                for k in key.split(","):
                    if k.strip() not in self.sources:
                        raise ValueError(f"model {m.id}: source key '{k.strip()}' is not in 'sources'")
        return self


# ---------------------------------------------------------------- hardware


# SIMD / matrix features llama.cpp's CPU kernels use (closed set: a typo is an error, not a silently ignored flag).
IsaFeature = Literal["avx2", "avx512", "avx512_vnni", "avx512_bf16", "amx", "neon", "sve", "sve2", "i8mm", "dotprod"]


class CpuSpec(Frozen):
    """The CPU of a device, for CPU-only inference: cores, clocks, ISA and memory system, each sourced.

    The theoretical DRAM bandwidth is the record's `memory_bandwidth_gbs`; `sustained_bandwidth_gbs` is a measured
    read bandwidth (STREAM, tinymembench, Intel MLC, ...) where one is published. None = unknown."""

    cores: int = Field(gt=0)  # physical cores, all types
    threads: int = Field(gt=0)  # hardware threads (SMT)
    # Hybrid parts only: P / prime + big cores vs E / little cores (0 P-cores: an E-core-only part such as the N100).
    performance_cores: int | None = Field(default=None, ge=0)
    efficiency_cores: int | None = Field(default=None, ge=0)
    base_clock_ghz: float | None = Field(default=None, gt=0)
    boost_clock_ghz: float | None = Field(default=None, gt=0)  # highest single-core (P-core) boost
    isa: list[IsaFeature] = []
    vector_bits: int | None = Field(default=None, gt=0)  # widest SIMD register the cores execute (128 NEON ... 512)
    memory_channels: int | None = Field(default=None, gt=0)  # as the vendor counts them
    memory_bus_bits: int | None = Field(default=None, gt=0)  # total DRAM data-bus width
    memory_type: str | None = None  # e.g. "DDR5-5600", "LPDDR5X-8448"
    sustained_bandwidth_gbs: float | None = Field(default=None, gt=0)  # measured, 10^9 bytes/s
    # AMD core complexes (CCDs, or the CCXs of a monolithic APU): each reads memory through its own fabric link, which
    # caps what its cores pull together (calculators/cpu.py). None = not modelled (one shared fabric, or unknown).
    core_complexes: int | None = Field(default=None, gt=0)
    source: str
    field_sources: dict[str, str] = {}
    derived: list[str] = []

    @model_validator(mode="after")
    def _check(self) -> CpuSpec:
        fields = set(type(self).model_fields)
        for f in [*self.field_sources, *self.derived]:
            if f not in fields:
                raise ValueError(f"cpu.field_sources/derived name unknown field '{f}'")
        if self.threads < self.cores:
            raise ValueError("cpu.threads must be at least cpu.cores")
        if (self.performance_cores is None) != (self.efficiency_cores is None):
            raise ValueError("cpu.performance_cores and cpu.efficiency_cores go together")
        if self.performance_cores is not None and self.performance_cores + self.efficiency_cores != self.cores:
            raise ValueError("cpu.performance_cores + cpu.efficiency_cores must equal cpu.cores")
        if self.sustained_bandwidth_gbs is not None and "sustained_bandwidth_gbs" not in self.field_sources:
            raise ValueError(
                "cpu.sustained_bandwidth_gbs needs its own entry in field_sources (which benchmark, where)"
            )
        if len(set(self.isa)) != len(self.isa):
            raise ValueError("cpu.isa lists a feature twice")
        return self


class Hardware(Frozen):
    """One device: memory, bandwidth, compute, power and an indicative price, each with a source."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]*$")
    name: str
    kind: HardwareKind
    category: Literal[
        "phone", "sbc", "edge", "laptop", "desktop", "consumer-gpu", "workstation-gpu", "datacenter-gpu", "cpu-server"
    ]
    aliases: list[str] = []
    # Capacity in GiB (2^30 bytes); `memory_label` is the vendor's wording ("24 GB").
    memory_gib: float = Field(gt=0)
    memory_label: str
    # What the driver reports (nvidia-smi total): ECC and reserved memory taken; every fit uses it where given.
    driver_memory_mib: float | None = Field(default=None, gt=0)
    unified_memory: bool
    memory_bandwidth_gbs: float | None = Field(default=None, gt=0)  # 10^9 bytes/s
    fp16_tflops_dense: float | None = Field(default=None, gt=0)  # dense, never the sparsity figure
    tdp_watts: float | None = Field(default=None, gt=0)
    price_usd: float | None = Field(default=None, gt=0)
    price_note: str | None = None
    source: str
    as_of: dt.date
    # Per-field overrides of `source` (field name -> URL or note), e.g. when bandwidth is derived.
    field_sources: dict[str, str] = {}
    derived: list[str] = []  # names of fields that are arithmetic, not published
    notes: str | None = None
    cpu: CpuSpec | None = None  # the CPU's cores, ISA and memory system, where CPU-only inference is the use

    @model_validator(mode="after")
    def _check(self) -> Hardware:
        fields = set(type(self).model_fields)
        for f in [*self.field_sources, *self.derived]:
            if f not in fields:
                raise ValueError(f"field_sources/derived name unknown field '{f}'")
        if self.price_usd is not None and "price_usd" not in self.field_sources:
            raise ValueError("price_usd needs its own entry in field_sources (where and when it was seen)")
        if self.driver_memory_mib is not None and "driver_memory_mib" not in self.field_sources:
            raise ValueError("driver_memory_mib needs its own entry in field_sources (whose nvidia-smi output)")
        if self.driver_memory_mib is not None and self.driver_memory_mib > self.memory_gib * 1024:
            raise ValueError("driver_memory_mib cannot exceed memory_gib")
        return self


class HardwareCatalog(Frozen):
    """hardware.yaml."""

    hardware: list[Hardware]


# ---------------------------------------------------------------- quantisation


class QuantFormat(Frozen):
    """A weight format: storage cost and the engines that run it."""

    id: str
    kind: Literal["float", "gguf", "gguf-mix", "int", "fp8", "fp4"]
    # Other names a user types for the same format ("FP16" for F16); matched case-insensitively like the id.
    aliases: list[str] = []
    bits_per_weight: float = Field(gt=0, le=32)
    # For block formats: weights per block and bytes per block (ggml type table).
    block_weights: int | None = None
    block_bytes: int | None = None
    engines: list[Engine]
    description: str
    source: str

    @model_validator(mode="after")
    def _check(self) -> QuantFormat:
        if (self.block_weights is None) != (self.block_bytes is None):
            raise ValueError("block_weights and block_bytes go together")
        if self.block_weights:
            bpw = self.block_bytes * 8 / self.block_weights
            if abs(bpw - self.bits_per_weight) > 1e-6:
                raise ValueError(f"bits_per_weight {self.bits_per_weight} != block bytes*8/weights = {bpw}")
        return self


class QuantCatalog(Frozen):
    """quantization.yaml."""

    formats: list[QuantFormat]


# ---------------------------------------------------------------- prices


class CloudPrice(Frozen):
    """On-demand price of one GPU for an hour at one provider."""

    provider: str
    hardware: str  # hardware id
    usd_per_gpu_hour: float = Field(gt=0)
    offering: str | None = None
    source: str
    as_of: dt.date
    notes: str | None = None


class ApiPrice(Frozen):
    """Hosted-API price per million tokens for one model at one provider."""

    provider: str
    model: str  # catalog model id where there is one, else the provider's model name
    usd_per_mtok_input: float = Field(ge=0)
    usd_per_mtok_output: float = Field(ge=0)
    usd_per_mtok_cached_input: float | None = Field(default=None, ge=0)
    source: str
    as_of: dt.date
    notes: str | None = None


class PriceCatalog(Frozen):
    """prices.yaml."""

    cloud_gpu: list[CloudPrice]
    api: list[ApiPrice]
