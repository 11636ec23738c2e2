"""Throughput and latency forecasts: a small physical model fitted to published measurements.

One decode step of a batch of B sequences takes

    t = (weights read + KV read / kv_read_ratio) / (bandwidth x e_bw)      memory
      + layers x layer_overhead_s x (moe_overhead_factor if MoE)          fixed launch/sync cost
      + B x 2 x active params x q / (FP16 peak x e_compute)               arithmetic (q > 1 for K-/i-quants)

and a prompt of N tokens takes  FLOPs(N) / (FP16 peak x e_prefill).  The efficiencies and the overhead belong to a
device class (hardware kind x memory type x engine); the two shared numbers are fitted once for all classes.
Everything is in base units: bytes, seconds, FLOP, bytes/s.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from calculators.memory import ENGINES, MemoryRequest, estimate, kv_bytes_per_token_at, weights
from calculators.tensors import param_counts

if TYPE_CHECKING:
    from model_specs.schema import Hardware, ModelSpec


@dataclass(frozen=True)
class ClassParams:
    """Fitted parameters of one device class."""

    bandwidth_efficiency: float  # share of peak bandwidth reached while streaming weights
    layer_overhead_s: float  # fixed cost per layer per decode step (kernel launches, syncs)
    compute_efficiency: float  # share of dense FP16 peak for the per-token arithmetic of decode
    prefill_efficiency: float  # share of dense FP16 peak reached by prompt processing
    # Spread of measured / predicted - 1 on the calibration points (quantiles), for low / high ranges.
    decode_rel_low: float = -0.15
    decode_rel_high: float = 0.15
    prefill_rel_low: float = -0.3
    prefill_rel_high: float = 0.3
    n_decode_points: int = 0
    n_prefill_points: int = 0


@dataclass(frozen=True)
class SharedParams:
    """Parameters shared by every class."""

    kv_read_ratio: float  # KV-cache reads reach this share of the weight-read efficiency
    moe_overhead_factor: float  # a MoE layer costs this many dense layers of fixed overhead
    # K-quant / i-quant weights need this many times the arithmetic per weight of the legacy formats (dequantisation).
    kquant_compute_factor: float = 1.0
    # Extra fixed time per generated token when Ollama serves the model (its runner and sampler on top of llama.cpp).
    ollama_token_overhead_s: float = 0.0
    # Prompt processing: a weight matrix used by m tokens at once runs at m / (m + prefill_half_tokens) of the class
    # efficiency. Dense matrices see the whole ubatch; a routed expert sees only tokens x active / experts of it.
    prefill_half_tokens: float = 0.0


def is_kquant(quant: str) -> bool:
    """K-quants (Q2_K..Q6_K, Q4_K_M, ...) and i-quants (IQ*) unpack through more arithmetic than Q4_0/Q8_0/F16."""
    q = quant.upper()
    return q.startswith("IQ") or "_K" in q


def moe_expert_fraction(experts: int, active: int, batch: int) -> float:
    """Expected share of routed experts a batch of `batch` tokens touches (independent uniform routing)."""
    if experts <= 0 or active <= 0:
        return 1.0
    return 1.0 - (1.0 - min(active, experts) / experts) ** max(batch, 1)


def decode_step_s(
    *,
    weight_bytes: float,
    kv_bytes: float,
    layers: int,
    moe: bool,
    bandwidth_bytes_per_s: float,
    flops: float,
    fp16_flops_per_s: float | None,
    cls: ClassParams,
    shared: SharedParams,
    kquant: bool = False,
    engine_overhead_s: float = 0.0,
) -> float:
    """Seconds for one decode step that reads `weight_bytes` + `kv_bytes` and does `flops` of arithmetic."""
    memory = (weight_bytes + kv_bytes / shared.kv_read_ratio) / (bandwidth_bytes_per_s * cls.bandwidth_efficiency)
    overhead = layers * cls.layer_overhead_s * (shared.moe_overhead_factor if moe else 1.0)
    q = shared.kquant_compute_factor if kquant else 1.0
    compute = flops * q / (fp16_flops_per_s * cls.compute_efficiency) if fp16_flops_per_s else 0.0
    return memory + overhead + compute + engine_overhead_s


def decode_terms(
    *,
    weight_bytes: float,
    kv_bytes: float,
    layers: int,
    moe: bool,
    bandwidth_bytes_per_s: float,
    flops: float,
    fp16_flops_per_s: float | None,
    shared: SharedParams,
    kquant: bool = False,
) -> tuple[float, float, float]:
    """The three regressors of the decode time: t = x0 / e_bw + x1 * layer_overhead_s + x2 / e_compute."""
    x0 = (weight_bytes + kv_bytes / shared.kv_read_ratio) / bandwidth_bytes_per_s
    x1 = layers * (shared.moe_overhead_factor if moe else 1.0)
    q = shared.kquant_compute_factor if kquant else 1.0
    x2 = flops * q / fp16_flops_per_s if fp16_flops_per_s else 0.0
    return x0, x1, x2


def matmul_saturation(tokens_per_matrix: float, half_tokens: float) -> float:
    """Share of the class's prefill efficiency reached when each weight matrix is applied to this many tokens."""
    if tokens_per_matrix <= 0:
        return 1.0
    return tokens_per_matrix / (tokens_per_matrix + half_tokens)


def prefill_s(
    *,
    dense_flops: float,
    expert_flops: float,
    tokens: int,
    experts: int,
    experts_active: int,
    fp16_flops_per_s: float,
    cls: ClassParams,
    shared: SharedParams,
    ubatch: int = 512,
) -> float:
    """Seconds to process `tokens` prompt tokens: dense part (incl. attention) + routed experts, at the class's
    prefill efficiency, slowed where few tokens share a weight matrix (small ubatch, routed experts)."""
    per_batch = min(tokens, ubatch) if ubatch else tokens
    s_dense = matmul_saturation(per_batch, shared.prefill_half_tokens)
    t = dense_flops / s_dense
    if expert_flops:
        s_exp = matmul_saturation(per_batch * experts_active / max(experts, 1), shared.prefill_half_tokens)
        t += expert_flops / s_exp
    return t / (fp16_flops_per_s * cls.prefill_efficiency)


def attention_flops(
    q_dim: int, full_layers: int, swa_layers: int, window: int | None, tokens: int, depth: int
) -> float:
    """FLOPs of QK^T and AV for `tokens` new tokens after `depth` cached ones (causal)."""
    mean_ctx = depth + tokens / 2.0
    swa_ctx = min(mean_ctx, window) if window else mean_ctx
    return 4.0 * q_dim * tokens * (full_layers * mean_ctx + swa_layers * swa_ctx)


# ------------------------------------------------------------------------------------------------ serving engines
# vLLM / transformers (and TensorRT-LLM, whose published throughput calibrates them) run paged attention, CUDA graphs
# and fused kernels: no per-layer launch cost and KV reads at the weight-read efficiency. One scheduler step costs
# SERVER_STEP_OVERHEAD_S on top (scheduling + sampling; an assumption, not fitted). Under continuous load every step
# also prefills the prompts of the requests that replace finished ones: batch x prompt / output tokens per step.
SERVER_STEP_OVERHEAD_S = 1.5e-3
SERVER_MAX_BATCH = 2048  # scheduler cap on concurrent sequences (assumption, TensorRT-LLM / vLLM order of magnitude)
SERVER_KV_MEMORY_FRACTION = 0.9  # share of the memory left after weights that becomes KV blocks


@dataclass(frozen=True)
class ServerParams:
    """Fitted parameters of the serving-engine class (NVIDIA HBM parts)."""

    bandwidth_efficiency: float
    compute_efficiency: float  # of the tensor peak (FP8 counts twice the FP16 peak on FP8-capable parts)
    rel_low: float = -0.2
    rel_high: float = 0.2
    n_points: int = 0


def tp_comm_s(layers: int, hidden: int, batch: int, tp: int, link: str) -> float:
    """Two ring all-reduces of the hidden state per layer per step across `tp` GPUs."""
    if tp <= 1:
        return 0.0
    msg = 2 * (tp - 1) / tp * batch * hidden * 2
    return 2 * layers * (ALLREDUCE_LATENCY_S[link] + msg / (LINK_GBS[link] * 1e9))


def server_step_s(
    *,
    weight_bytes: float,
    kv_bytes: float,
    decode_flops: float,
    prefill_flops: float,
    bandwidth_bytes_per_s: float,
    peak_flops_per_s: float,
    tp: int,
    comm_s: float,
    sp: ServerParams,
) -> float:
    """One scheduler step of a serving engine: weights + KV streamed once, decode + prefill arithmetic."""
    memory = (weight_bytes + kv_bytes) / (bandwidth_bytes_per_s * tp * sp.bandwidth_efficiency)
    compute = (decode_flops + prefill_flops) / (peak_flops_per_s * tp * sp.compute_efficiency)
    return memory + compute + comm_s + SERVER_STEP_OVERHEAD_S


# Effective all-reduce latency and per-direction bandwidth per link type: assumptions, neither fitted nor measured.
ALLREDUCE_LATENCY_S = {"nvlink": 8e-6, "pcie": 25e-6}
LINK_GBS = {"nvlink": 300.0, "pcie": 25.0}


# ================================================================================================ forecasts
# Everything below turns a catalog model + quantisation + device into the inputs of the model above, using the
# memory calculator's byte counts (calculators/memory.py), and reports speeds with ranges.

GB = 1e9
GiB = 2**30
HBM_BANDWIDTH_GBS = 1900.0  # custom NVIDIA devices at or above this bandwidth are taken to be HBM parts
# FP16 TFLOPS per GB/s when a device lists no compute figure (fallbacks, reported in the notes): Apple M-series
# GPUs run ~0.034 (M2 Max 13.6 TF / 400 GB/s, M4 Max 18.4 / 546); CPUs ~0.01 (AVX2/AVX-512 or NEON FMA at
# all cores); discrete GPUs ~0.15.
TFLOPS_PER_GBS_FALLBACK = {"apple": 0.034, "cpu": 0.01, "mobile": 0.01}
TFLOPS_PER_GBS_FALLBACK_GPU = 0.15
HOST_BANDWIDTH_GBS = 64.0  # host RAM read by llama.cpp for layers left on the CPU (dual-channel DDR5, assumption)
DISK_READ_GBS = 2.0  # cold start: weights read from an NVMe SSD (assumption)
PIPELINE_HOP_S = 20e-6  # llama.cpp layer split: one activation hand-over per GPU boundary per token
CALIBRATED_ENGINES = ("llama.cpp", "ollama")
SERVER_ENGINES = ("vllm", "transformers")
FP8_QUANTS = ("FP8", "W8A8", "FP8-DYNAMIC")
FP8_CAPABLE_TFLOPS = 500.0  # dense FP16 at or above this: a Hopper/Blackwell-class part with FP8 tensor cores


@dataclass(frozen=True)
class Device:
    """What the speed model needs to know about a device (a catalog entry or a custom one)."""

    id: str
    name: str
    kind: str
    bandwidth_bytes_per_s: float
    fp16_flops_per_s: float | None  # dense FP16 peak as published; None = not published
    memory_bytes: int | None
    unified_memory: bool
    hbm: bool
    hardware: Hardware | None = None


def device_from_hardware(hw: Hardware) -> Device:
    """A catalog hardware entry as a Device (ValueError when it has no bandwidth)."""
    if not hw.memory_bandwidth_gbs:
        raise ValueError(f"hardware '{hw.id}' has no memory bandwidth in the catalog")
    label = f"{hw.memory_label} {hw.name}".upper()
    return Device(
        id=hw.id,
        name=hw.name,
        kind=hw.kind,
        bandwidth_bytes_per_s=hw.memory_bandwidth_gbs * GB,
        fp16_flops_per_s=hw.fp16_tflops_dense * 1e12 if hw.fp16_tflops_dense else None,
        memory_bytes=int(hw.memory_gib * GiB),
        unified_memory=hw.unified_memory,
        hbm="HBM" in label,
        hardware=hw,
    )


def custom_device(
    kind: str,
    memory_bandwidth_gbs: float,
    fp16_tflops: float | None,
    memory_gib: float | None = None,
    name: str = "custom device",
) -> Device:
    """A device described only by kind, bandwidth (GB/s), dense FP16 TFLOPS and (optionally) memory (GiB)."""
    if kind not in ("nvidia", "amd", "apple", "intel", "cpu", "mobile"):
        raise ValueError(f"unknown hardware kind '{kind}' (nvidia, amd, apple, intel, cpu)")
    if not memory_bandwidth_gbs or memory_bandwidth_gbs <= 0 or not math.isfinite(memory_bandwidth_gbs):
        raise ValueError("memory bandwidth must be a positive number of GB/s")
    if fp16_tflops is not None and (fp16_tflops <= 0 or not math.isfinite(fp16_tflops)):
        raise ValueError("FP16 TFLOPS must be positive")
    if memory_gib is not None and (memory_gib <= 0 or not math.isfinite(memory_gib)):
        raise ValueError("memory must be a positive number of GiB")
    hbm = kind == "nvidia" and memory_bandwidth_gbs >= HBM_BANDWIDTH_GBS
    return Device(
        id="custom",
        name=name,
        kind=kind,
        bandwidth_bytes_per_s=memory_bandwidth_gbs * GB,
        fp16_flops_per_s=fp16_tflops * 1e12 if fp16_tflops else None,
        memory_bytes=int(memory_gib * GiB) if memory_gib else None,
        unified_memory=kind in ("apple", "cpu", "mobile"),
        hbm=hbm,
    )


def class_of(dev: Device) -> str:
    """The fitted device class a device belongs to."""
    if dev.kind == "nvidia":
        return "nvidia-hbm" if dev.hbm else "nvidia"
    if dev.kind == "mobile":
        return "cpu"
    return dev.kind


@dataclass(frozen=True)
class ModelGeometry:
    """Per-token bytes and FLOPs of one model variant on one engine (from the memory calculator)."""

    model_id: str
    quant: str
    layers: int
    moe: bool
    experts: int
    experts_active: int
    active_weight_bytes: int  # read per decoded token (top-k experts only)
    routed_expert_bytes: int  # all routed experts
    total_weight_bytes: int
    compute_params: float  # multiply-accumulate weights per token (lookups excluded)
    expert_compute_params: float  # routed-expert part of compute_params (top-k)
    q_dim: int
    full_layers: int
    sliding_layers: int
    window: int | None
    kquant: bool


_GEOMETRY_CACHE: dict[tuple, tuple[ModelSpec, ModelGeometry]] = {}


def _wo_key(wo) -> tuple | None:
    """Cache key of a weights override, by value (the id of a short-lived object can be reused)."""
    if wo is None:
        return None
    return (wo.quant, wo.total_bytes, wo.active_bytes_per_token, wo.routed_expert_bytes, *wo.component_bytes.values())


def geometry(model: ModelSpec, quant: str, engine: str = "llama.cpp", weights_override=None) -> ModelGeometry:
    """Bytes and FLOPs per token for `model` in `quant` on `engine` (ValueError for an unknown format); cached."""
    key = (id(model), quant, engine, _wo_key(weights_override))
    hit = _GEOMETRY_CACHE.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    geo = _geometry(model, quant, engine, weights_override)
    if len(_GEOMETRY_CACHE) > 4096:
        _GEOMETRY_CACHE.clear()
    _GEOMETRY_CACHE[key] = (model, geo)
    return geo


def _geometry(model: ModelSpec, quant: str, engine: str, weights_override=None) -> ModelGeometry:
    wb = weights_override or weights(model, quant, engine, text_only=True)
    pc = param_counts(model)
    t = model.text
    moe = t.moe
    att = t.attention
    n_full = att.layer_types.count("F")
    lookup = pc.ple_params + (pc.embedding_params if not t.tie_word_embeddings else 0)
    expert_active = pc.routed_expert_params * moe.experts_per_token / moe.num_experts if moe else 0.0
    compute = pc.text_params - lookup - (pc.routed_expert_params - expert_active)
    return ModelGeometry(
        model_id=model.id,
        quant=wb.quant,
        layers=t.num_layers,
        moe=moe is not None,
        experts=moe.num_experts if moe else 0,
        experts_active=moe.experts_per_token if moe else 0,
        active_weight_bytes=wb.active_bytes_per_token,
        routed_expert_bytes=wb.routed_expert_bytes,
        total_weight_bytes=wb.text_decoder_bytes,
        compute_params=float(compute),
        expert_compute_params=float(expert_active),
        q_dim=att.num_heads * att.full.head_dim,
        full_layers=n_full,
        sliding_layers=t.num_layers - n_full,
        window=att.sliding_window_tokens,
        kquant=is_kquant(wb.quant),
    )


def _calibration():
    """The fitted parameters (imported late: calibration.py imports this module's parameter classes)."""
    from calculators import calibration

    return calibration


def _fp16(dev: Device, notes: list[str]) -> float:
    """The device's dense FP16 FLOP/s, or an estimate from its bandwidth (noted) when none is published."""
    if dev.fp16_flops_per_s:
        return dev.fp16_flops_per_s
    per = TFLOPS_PER_GBS_FALLBACK.get(dev.kind, TFLOPS_PER_GBS_FALLBACK_GPU)
    est = per * dev.bandwidth_bytes_per_s / GB * 1e12
    notes.append(
        f"{dev.name} lists no FP16 TFLOPS: assumed {est / 1e12:.1f} TFLOPS ({per} per GB/s of bandwidth) "
        "for prefill and batching"
    )
    return est


@dataclass(frozen=True)
class StepTime:
    """One decode step of `batch` streams, split into its terms (seconds)."""

    batch: int
    depth_tokens: int
    memory_s: float
    overhead_s: float
    compute_s: float
    comm_s: float
    weight_bytes: float
    kv_bytes: float

    @property
    def total_s(self) -> float:
        return self.memory_s + self.overhead_s + self.compute_s + self.comm_s

    @property
    def bound(self) -> str:
        return "compute" if self.compute_s > self.memory_s else "memory"


@dataclass(frozen=True)
class _Setup:
    """Everything resolved once per forecast."""

    model: ModelSpec
    geo: ModelGeometry
    dev: Device
    cls_name: str
    cls: ClassParams
    shared: SharedParams
    engine: str
    kv_dtype: str
    gpus: int
    fp16: float
    host_fraction: float  # share of the weights read from host RAM (llama.cpp partial offload)
    efficiency_source: str
    notes: tuple[str, ...]
    server: bool  # vLLM / transformers: serving-engine parameters (paged KV, no per-layer launch cost)
    kv_read_ratio: float


def _setup(
    model: ModelSpec,
    quant: str,
    dev: Device,
    engine: str,
    kv_dtype: str,
    gpus: int,
    efficiency_override: float | None,
    host_fraction: float,
    notes: list[str],
    weights_override=None,
) -> _Setup:
    """Resolve the device class, its fitted (or overridden) parameters and the model geometry; appends notes."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}' (one of {', '.join(ENGINES)})")
    if gpus < 1:
        raise ValueError("gpus must be at least 1")
    cal = _calibration()
    cls_name = class_of(dev)
    cls = cal.CLASSES[cls_name]
    if dev.kind == "mobile":
        notes.append("phones: no published calibration points; CPU-class efficiencies used")
    if dev.id == "custom" and dev.kind == "nvidia":
        notes.append(
            f"custom NVIDIA device taken as {'an HBM datacenter part' if dev.hbm else 'a GDDR/LPDDR part'} "
            f"(bandwidth {'>=' if dev.hbm else '<'} {HBM_BANDWIDTH_GBS:g} GB/s)"
        )
    server = engine in SERVER_ENGINES and dev.kind in ("nvidia", "amd", "intel")
    if server:
        sp = cal.SERVER
        cls_name = "server-gpu"
        cls = ClassParams(
            bandwidth_efficiency=sp.bandwidth_efficiency,
            layer_overhead_s=0.0,
            compute_efficiency=sp.compute_efficiency,
            prefill_efficiency=sp.compute_efficiency,
            decode_rel_low=sp.rel_low,
            decode_rel_high=sp.rel_high,
            prefill_rel_low=-0.3,
            prefill_rel_high=0.3,
            n_decode_points=sp.n_points,
        )
        notes.append(
            f"{engine}: serving-engine parameters fitted to TensorRT-LLM throughput on H100 (vLLM is usually somewhat "
            "slower); no published single-stream vLLM points"
        )
        if not (dev.kind == "nvidia" and dev.hbm):
            notes.append("serving parameters come from NVIDIA HBM parts only")
    elif engine not in CALIBRATED_ENGINES:
        notes.append(f"no published {engine} points for {dev.kind} devices: llama.cpp-fitted efficiencies used")
    if not server and cls.n_decode_points < 10:
        notes.append(f"device class '{cls_name}' rests on {cls.n_decode_points} published points: wide range")
    if cls_name == "cpu":
        notes.append(
            "CPU decode: the catalog gives the DRAM peak, which many-core servers and some SoCs reach only in part "
            f"(core count and sustained bandwidth are not in the catalog), so the range goes down to "
            f"{1 + cls.decode_rel_low:.0%} of the forecast"
        )
    source = "fitted"
    if efficiency_override is not None:
        if not (0 < efficiency_override <= 1.5) or not math.isfinite(efficiency_override):
            raise ValueError("efficiency override must be in (0, 1.5]")
        cls = replace(cls, bandwidth_efficiency=efficiency_override, decode_rel_low=-0.08, decode_rel_high=0.08)
        source = "override"
        notes.append(f"bandwidth efficiency {efficiency_override:.3f} taken from a measurement instead of the fit")
    geo = geometry(model, quant, engine, weights_override)
    fp16 = _fp16(dev, notes)
    if server and dev.kind == "nvidia" and fp16 >= FP8_CAPABLE_TFLOPS * 1e12 and geo.quant.upper() in FP8_QUANTS:
        fp16 *= 2  # FP8 tensor cores (Hopper and later) run twice the FP16 rate
        notes.append(f"{geo.quant} on FP8 tensor cores: arithmetic peak taken as twice the FP16 figure")
    return _Setup(
        model=model,
        geo=geo,
        dev=dev,
        cls_name=cls_name,
        cls=cls,
        shared=cal.SHARED,
        engine=engine,
        kv_dtype=kv_dtype,
        gpus=gpus,
        fp16=fp16,
        host_fraction=host_fraction,
        efficiency_source=source,
        notes=tuple(notes),
        server=server,
        kv_read_ratio=1.0 if server else cal.SHARED.kv_read_ratio,
    )


def _link(dev: Device) -> str:
    """The GPU-to-GPU link assumed for tensor parallelism: NVLink on HBM parts, PCIe elsewhere."""
    return "nvlink" if dev.hbm else "pcie"


def step_time(s: _Setup, batch: int, depth_tokens: int) -> StepTime:
    """Decode step of `batch` streams each at `depth_tokens` of context."""
    g, dev, cls, sh = s.geo, s.dev, s.cls, s.shared
    frac = moe_expert_fraction(g.experts, g.experts_active, batch) if g.moe else 1.0
    per_token_frac = g.experts_active / g.experts if g.moe else 1.0
    weight = g.active_weight_bytes + g.routed_expert_bytes * (frac - per_token_frac)
    kv = batch * kv_bytes_per_token_at(s.model, depth_tokens, s.kv_dtype)
    read = weight + kv / s.kv_read_ratio
    bw = dev.bandwidth_bytes_per_s * cls.bandwidth_efficiency
    tp = s.gpus if s.engine in SERVER_ENGINES else 1
    if s.host_fraction > 0:
        host_cls = _calibration().CLASSES["cpu"]
        host_bw = HOST_BANDWIDTH_GBS * GB * host_cls.bandwidth_efficiency
        memory = read * (1 - s.host_fraction) / bw + weight * s.host_fraction / host_bw
    else:
        memory = read / (bw * tp)
    overhead = g.layers * cls.layer_overhead_s * (sh.moe_overhead_factor if g.moe else 1.0)
    if s.engine == "ollama":
        overhead += sh.ollama_token_overhead_s
    if s.server:
        overhead += SERVER_STEP_OVERHEAD_S
    q = sh.kquant_compute_factor if g.kquant and not s.server else 1.0
    flops = 2 * g.compute_params + attention_flops(g.q_dim, g.full_layers, g.sliding_layers, g.window, 1, depth_tokens)
    # CPUs were fitted without an arithmetic term: only the streams beyond the first add arithmetic there.
    n_compute = batch - 1 if s.cls_name == "cpu" else batch
    compute = n_compute * flops * q / (s.fp16 * cls.compute_efficiency * tp)
    comm = 0.0
    if tp > 1:
        comm = tp_comm_s(g.layers, s.model.text.hidden_size, batch, tp, _link(dev))
    elif s.gpus > 1:
        comm = (s.gpus - 1) * PIPELINE_HOP_S
    return StepTime(batch, depth_tokens, memory, overhead, compute, comm, weight, kv)


def prefill_time(s: _Setup, prompt_tokens: int, depth_tokens: int = 0, sequences: int = 1) -> float:
    """Seconds to process `sequences` prompts of `prompt_tokens` each (after `depth_tokens` already cached)."""
    g = s.geo
    if prompt_tokens <= 0 or sequences <= 0:
        return 0.0
    attn = sequences * attention_flops(g.q_dim, g.full_layers, g.sliding_layers, g.window, prompt_tokens, depth_tokens)
    total = prompt_tokens * sequences
    expert = 2 * g.expert_compute_params * total
    dense = 2 * (g.compute_params - g.expert_compute_params) * total + attn
    q = s.shared.kquant_compute_factor if g.kquant and s.cls_name == "apple" else 1.0
    tp = s.gpus if s.engine in SERVER_ENGINES else 1
    if s.server:  # large batched GEMMs: the serving class's arithmetic efficiency, as in the fit
        return (dense + expert) / (s.fp16 * tp * s.cls.prefill_efficiency)
    ubatch = 512 if s.engine in ("llama.cpp", "ollama") else 8192
    t = prefill_s(
        dense_flops=dense * q,
        expert_flops=expert * q,
        tokens=total,
        experts=g.experts,
        experts_active=g.experts_active,
        fp16_flops_per_s=s.fp16 * tp,
        cls=s.cls,
        shared=s.shared,
        ubatch=ubatch,
    )
    # Weights are streamed once per ubatch even when the prompt is short.
    n_ub = math.ceil(total / ubatch)
    stream = n_ub * g.total_weight_bytes / (s.dev.bandwidth_bytes_per_s * s.cls.bandwidth_efficiency * tp)
    return max(t, stream)


def _under_load(
    s: _Setup, streams: int, depth_tokens: int, prompt_tokens: int, output_tokens: int, t_prefill_s: float
) -> tuple[StepTime, float, float]:
    """(decode step, sustained seconds per output token, warm TTFT) with `streams` requests in flight."""
    step = step_time(s, streams, depth_tokens)
    # Under continuous load the prompts of the requests in flight are processed too: their prefill, spread over
    # the output tokens, is added to every step (as in the serving calibration).
    sustained_s = step.total_s + prefill_time(s, prompt_tokens, sequences=streams) / output_tokens
    # Requests arriving together: prompts are processed one after another, so the mean wait is (n + 1) / 2 prompts.
    ttft_s = t_prefill_s * (streams + 1) / 2 + step.total_s
    return step, sustained_s, ttft_s


@dataclass(frozen=True)
class ConcurrencyPoint:
    """Aggregate and per-user speed with `concurrency` streams decoding together."""

    concurrency: int
    aggregate_tokens_per_s: float
    per_user_tokens_per_s: float
    step_s: float
    ttft_s: float
    e2e_s: float
    bound: str


@dataclass(frozen=True)
class SpeedForecast:
    """Speed of one model variant on one device (rates per second, times in seconds, sizes in bytes)."""

    model_id: str
    quant: str
    engine: str
    hardware_id: str
    hardware_name: str
    device_class: str
    context_tokens: int
    prompt_tokens: int
    output_tokens: int
    concurrency: int
    gpus: int
    kv_dtype: str
    decode_tokens_per_s: float  # per stream while `concurrency` streams decode together, at the answer's mean depth
    decode_tokens_per_s_low: float
    decode_tokens_per_s_high: float
    single_stream_decode_tokens_per_s: float
    prefill_tokens_per_s: float
    prefill_tokens_per_s_low: float
    prefill_tokens_per_s_high: float
    ttft_s: float
    ttft_s_low: float
    ttft_s_high: float
    e2e_s: float
    e2e_s_low: float
    e2e_s_high: float
    aggregate_tokens_per_s: float  # sustained output tokens/s of all streams under continuous load
    aggregate_tokens_per_s_low: float
    aggregate_tokens_per_s_high: float
    per_user_tokens_per_s: float  # sustained: decode plus the amortised prefill of the requests in flight
    bound: str  # "memory" | "compute" | "kv"
    max_concurrency: int | None
    weight_bytes_per_token: float
    kv_bytes_per_token: float
    step_memory_s: float
    step_overhead_s: float
    step_compute_s: float
    step_comm_s: float
    bandwidth_efficiency: float
    efficiency_source: str  # "fitted" | "override"
    peak_bandwidth_bytes_per_s: float
    fp16_flops_per_s: float
    host_fraction: float
    cold_start_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict:
        """JSON-ready fields (the CLI's output)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["notes"] = list(self.notes)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 6) if abs(v) < 1e6 else round(v)
        return d


def resolve_device(hardware: Hardware | Device | str) -> Device:
    """A Device from a Device, a catalog Hardware entry or a catalog id."""
    if isinstance(hardware, Device):
        return hardware
    if isinstance(hardware, str):
        from model_specs import load_catalog

        try:
            return device_from_hardware(load_catalog().device(hardware))
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return device_from_hardware(hardware)


def resolve_model(model: ModelSpec | str) -> ModelSpec:
    """A catalog model from a ModelSpec or a catalog id (ValueError for an unknown id)."""
    if isinstance(model, str):
        from model_specs import load_catalog

        try:
            return load_catalog().model(model)
        except KeyError as e:
            raise ValueError(e.args[0]) from None
    return model


_MEMORY_CACHE: dict[tuple, tuple[ModelSpec, object]] = {}


def _memory(model: ModelSpec, quant: str, dev: Device, engine: str, context: int, kv_dtype: str, gpus: int, wo=None):
    """The memory calculator's estimate on this device (None without a memory size); cached per input."""
    if dev.memory_bytes is None:
        return None
    key = (id(model), quant, dev.id, dev.memory_bytes, dev.kind, engine, context, kv_dtype, gpus, _wo_key(wo))
    hit = _MEMORY_CACHE.get(key)
    if hit is not None and hit[0] is model:
        return hit[1]
    est = _memory_uncached(model, quant, dev, engine, context, kv_dtype, gpus, wo)
    if len(_MEMORY_CACHE) > 4096:
        _MEMORY_CACHE.clear()
    _MEMORY_CACHE[key] = (model, est)
    return est


def _memory_uncached(
    model: ModelSpec, quant: str, dev: Device, engine: str, context: int, kv_dtype: str, gpus: int, wo=None
):
    """The memory calculator's estimate for one sequence of `context` tokens on this device."""
    return estimate(
        MemoryRequest(
            model=model,
            quant=quant,
            context_tokens=context,
            batch=1,
            kv_dtype=kv_dtype,
            engine=engine,
            text_only=True,
            hardware=dev.hardware,
            memory_bytes=None if dev.hardware is not None else dev.memory_bytes,
            gpus=gpus,
            weights_override=wo,
        )
    )


def _offload_fraction(est, geo: ModelGeometry, dev: Device, engine: str, notes: list[str]) -> float:
    """Share of the weights llama.cpp leaves in host RAM when the model does not fit the device; appends a note."""
    if est is None or est.fits is None or est.fits:
        return 0.0
    short = -(est.margin_bytes or 0)
    if engine in ("llama.cpp", "ollama") and not dev.unified_memory:
        frac = min(1.0, short / max(geo.total_weight_bytes, 1))
        notes.append(
            f"does not fit in {dev.name} memory: about {frac:.0%} of the weights stay in host RAM "
            f"(read at ~{HOST_BANDWIDTH_GBS:g} GB/s, assumed)"
        )
        return frac
    notes.append(f"does not fit in {dev.name} memory ({short / GiB:.1f} GiB short): the forecast assumes it did")
    return 0.0


def forecast(
    model: ModelSpec | str,
    quant: str,
    hardware: Hardware | Device | str,
    engine: str = "llama.cpp",
    context_tokens: int | None = None,
    prompt_tokens: int | None = None,
    output_tokens: int | None = None,
    concurrency: int = 1,
    gpus: int = 1,
    kv_dtype: str = "f16",
    efficiency_override: float | None = None,
    cold_start: bool = False,
    weights_override=None,
) -> SpeedForecast:
    """Decode / prefill speed, TTFT, end-to-end latency and aggregate throughput, each with a low-high range.

    Defaults: context min(8192, the model's maximum), a 512-token prompt and a 256-token answer (both capped to fit
    the context). Decode speed is per stream at `concurrency`, at the mean depth of the answer."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    if context_tokens is None:
        context_tokens = min(8192, model.context_tokens)
    if prompt_tokens is None:
        prompt_tokens = min(512, context_tokens // 2)
    if output_tokens is None:
        output_tokens = max(1, min(256, context_tokens // 4))
    for name, v in (("context", context_tokens), ("concurrency", concurrency)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer")
    if prompt_tokens < 0 or output_tokens < 1:
        raise ValueError("prompt tokens must be >= 0 and output tokens >= 1")
    if context_tokens > model.context_tokens:
        raise ValueError(f"context {context_tokens} exceeds {model.id}'s maximum of {model.context_tokens}")
    if prompt_tokens + output_tokens > context_tokens:
        raise ValueError(f"prompt + output ({prompt_tokens + output_tokens}) exceed the context ({context_tokens})")
    notes: list[str] = []
    wo = weights_override  # exact weights of a GGUF file (calculators/gguf_file.py)
    est = _memory(model, quant, dev, engine, context_tokens, kv_dtype, gpus, wo)
    max_conc = est.max_concurrency if est is not None else None
    geo = geometry(model, quant, engine, wo)
    host_fraction = _offload_fraction(est, geo, dev, engine, notes)
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, efficiency_override, host_fraction, notes, wo)
    notes = list(s.notes)
    depth = prompt_tokens + output_tokens // 2
    running = concurrency
    bound_kv = False
    if max_conc is not None and max_conc >= 1 and concurrency > max_conc:
        running = max_conc
        bound_kv = True
        notes.append(f"only {max_conc} sequences of {context_tokens} tokens fit in memory: the other requests queue")
    single = step_time(s, 1, depth)
    t_pf = prefill_time(s, prompt_tokens)
    step, sustained, ttft = _under_load(s, running, depth, prompt_tokens, output_tokens, t_pf)
    per_user = 1.0 / sustained
    aggregate = running / sustained
    waves = math.ceil(concurrency / running)
    cold = geo.total_weight_bytes / (DISK_READ_GBS * GB) if cold_start else 0.0
    if cold_start:
        notes.append(f"cold start: weights read at ~{DISK_READ_GBS:g} GB/s from disk (assumed)")
    ttft += cold
    e2e = ttft + (output_tokens - 1) * step.total_s
    if waves > 1:
        e2e += (waves - 1) * (e2e - cold) / 2  # mean extra wait of queued requests
    lo, hi = 1 + s.cls.decode_rel_low, 1 + s.cls.decode_rel_high
    plo, phi = 1 + s.cls.prefill_rel_low, 1 + s.cls.prefill_rel_high
    pf_rate = prompt_tokens / t_pf if t_pf > 0 else 0.0  # no prompt: no prefill rate
    ttft_lo = (ttft - cold) / phi + cold
    ttft_hi = (ttft - cold) / plo + cold
    dec_time = (output_tokens - 1) * step.total_s
    e2e_lo = ttft_lo + dec_time / hi
    e2e_hi = ttft_hi + dec_time / lo
    bound = "kv" if bound_kv else step.bound
    return SpeedForecast(
        model_id=model.id,
        quant=geo.quant,
        engine=engine,
        hardware_id=dev.id,
        hardware_name=dev.name,
        device_class=s.cls_name,
        context_tokens=context_tokens,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        concurrency=concurrency,
        gpus=gpus,
        kv_dtype=kv_dtype,
        decode_tokens_per_s=1.0 / step.total_s,
        decode_tokens_per_s_low=lo / step.total_s,
        decode_tokens_per_s_high=hi / step.total_s,
        single_stream_decode_tokens_per_s=1.0 / single.total_s,
        prefill_tokens_per_s=pf_rate,
        prefill_tokens_per_s_low=pf_rate * plo,
        prefill_tokens_per_s_high=pf_rate * phi,
        ttft_s=ttft,
        ttft_s_low=ttft_lo,
        ttft_s_high=ttft_hi,
        e2e_s=e2e,
        e2e_s_low=e2e_lo,
        e2e_s_high=e2e_hi,
        aggregate_tokens_per_s=aggregate,
        aggregate_tokens_per_s_low=aggregate * lo,
        aggregate_tokens_per_s_high=aggregate * hi,
        per_user_tokens_per_s=per_user,
        bound=bound,
        max_concurrency=max_conc,
        weight_bytes_per_token=step.weight_bytes,
        kv_bytes_per_token=step.kv_bytes / running,
        step_memory_s=step.memory_s,
        step_overhead_s=step.overhead_s,
        step_compute_s=step.compute_s,
        step_comm_s=step.comm_s,
        bandwidth_efficiency=s.cls.bandwidth_efficiency,
        efficiency_source=s.efficiency_source,
        peak_bandwidth_bytes_per_s=dev.bandwidth_bytes_per_s,
        fp16_flops_per_s=s.fp16,
        host_fraction=host_fraction,
        cold_start_s=cold,
        notes=tuple(notes),
    )


def decode_vs_depth(
    model: ModelSpec | str,
    quant: str,
    hardware: Hardware | Device | str,
    engine: str = "llama.cpp",
    depths: Sequence[int] | None = None,
    kv_dtype: str = "f16",
    gpus: int = 1,
    efficiency_override: float | None = None,
) -> list[tuple[int, float, float, float]]:
    """(depth, tokens/s, low, high) of one stream as the context fills up."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    if depths is None:
        top = model.context_tokens
        depths = [0] + [d for d in (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144) if d <= top]
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, efficiency_override, 0.0, [])
    lo, hi = 1 + s.cls.decode_rel_low, 1 + s.cls.decode_rel_high
    out = []
    for d in depths:
        v = 1.0 / step_time(s, 1, int(d)).total_s
        out.append((int(d), v, v * lo, v * hi))
    return out


def concurrency_curve(
    model: ModelSpec | str,
    quant: str,
    hardware: Hardware | Device | str,
    engine: str = "llama.cpp",
    context_tokens: int = 8192,
    prompt_tokens: int = 512,
    output_tokens: int = 256,
    kv_dtype: str = "f16",
    gpus: int = 1,
    levels: Sequence[int] | None = None,
    efficiency_override: float | None = None,
) -> list[ConcurrencyPoint]:
    """Aggregate vs per-user speed as concurrency grows (stops at the memory calculator's max concurrency)."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    est = _memory(model, quant, dev, engine, context_tokens, kv_dtype, gpus)
    max_conc = est.max_concurrency if est is not None else None
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, efficiency_override, 0.0, [])
    if levels is None:
        levels = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    depth = prompt_tokens + output_tokens // 2
    t_pf = prefill_time(s, prompt_tokens)
    out = []
    for c in levels:
        if max_conc is not None and c > max_conc:
            if max_conc >= 1 and (not out or out[-1].concurrency < max_conc):
                c = max_conc
            else:
                break
        st, sustained, ttft = _under_load(s, c, depth, prompt_tokens, output_tokens, t_pf)
        e2e = ttft + (output_tokens - 1) * st.total_s
        out.append(ConcurrencyPoint(c, c / sustained, 1 / sustained, st.total_s, ttft, e2e, st.bound))
        if max_conc is not None and c >= max_conc:
            break
    return out


def roofline(
    model: ModelSpec | str,
    quant: str,
    hardware: Hardware | Device | str,
    engine: str = "llama.cpp",
    batches: Sequence[int] = (1, 2, 4, 8, 16, 32, 64, 128, 256),
    depth_tokens: int = 1024,
    kv_dtype: str = "f16",
    efficiency_override: float | None = None,
) -> dict:
    """Arithmetic intensity (FLOP/byte) and achieved FLOP/s of decode at several batch sizes, with the roofs."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    s = _setup(model, quant, dev, engine, kv_dtype, 1, efficiency_override, 0.0, [])
    g = s.geo
    flops_tok = 2 * g.compute_params + attention_flops(
        g.q_dim, g.full_layers, g.sliding_layers, g.window, 1, depth_tokens
    )
    points = []
    for b in batches:
        st = step_time(s, b, depth_tokens)
        byts = st.weight_bytes + st.kv_bytes
        points.append(
            {
                "batch": b,
                "intensity_flop_per_byte": b * flops_tok / byts,
                "achieved_flops_per_s": b * flops_tok / st.total_s,
                "bound": st.bound,
            }
        )
    return {
        "peak_bandwidth_bytes_per_s": dev.bandwidth_bytes_per_s,
        "effective_bandwidth_bytes_per_s": dev.bandwidth_bytes_per_s * s.cls.bandwidth_efficiency,
        "peak_flops_per_s": s.fp16,
        "effective_flops_per_s": s.fp16 * s.cls.compute_efficiency,
        "ridge_flop_per_byte": s.fp16
        * s.cls.compute_efficiency
        / (dev.bandwidth_bytes_per_s * s.cls.bandwidth_efficiency),
        "points": points,
        "notes": list(s.notes),
    }


def implied_efficiency(
    model: ModelSpec | str,
    quant: str,
    hardware: Hardware | Device | str,
    measured_decode_tokens_per_s: float,
    engine: str = "llama.cpp",
    depth_tokens: int = 0,
    kv_dtype: str = "f16",
    gpus: int = 1,
) -> float:
    """The bandwidth efficiency that makes the model reproduce a measured single-stream decode speed.

    Feed it back as `efficiency_override` to forecast other settings from your own measurement."""
    if not measured_decode_tokens_per_s or measured_decode_tokens_per_s <= 0:
        raise ValueError("measured decode speed must be positive")
    model = resolve_model(model)
    dev = resolve_device(hardware)
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, 1.0, 0.0, [])
    st = step_time(s, 1, depth_tokens)
    rest = st.overhead_s + st.compute_s + st.comm_s
    t = 1.0 / measured_decode_tokens_per_s
    if t <= rest:
        raise ValueError("measured speed is faster than the fixed costs alone allow: check model, quant and device")
    return st.memory_s / (t - rest)  # memory_s was computed at efficiency 1
