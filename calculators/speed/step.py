"""The step-time model: one decode step's seconds from bytes read, FLOPs, and fitted per-class parameters."""

from __future__ import annotations

from dataclasses import dataclass

from calculators import cpu as cpu_model
from calculators.engines import engine as engine_record
from calculators.memory import kv_bytes_per_token_at
from calculators.speed.calibration import CLASSES
from calculators.speed.device import GB, HOST_BANDWIDTH_GBS, PIPELINE_HOP_S, Device
from calculators.speed.params import SERVER_STEP_OVERHEAD_S, ClassParams, ServerParams, SharedParams, server_class
from calculators.speed.setup import _Setup


def moe_expert_fraction(experts: int, active: int, batch: int) -> float:
    """Expected share of routed experts a batch of `batch` tokens touches (independent uniform routing)."""
    if experts <= 0 or active <= 0:
        return 1.0
    return 1.0 - (1.0 - min(active, experts) / experts) ** max(batch, 1)


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
    kv_read_ratio: float | None = None,
) -> tuple[float, float, float]:
    """The three regressors of the decode time: t = x0 / e_bw + x1 * layer_overhead_s + x2 / e_compute.

    kv_read_ratio: None for the fitted shared ratio (serving engines read KV as fast as weights: 1.0)."""
    ratio = shared.kv_read_ratio if kv_read_ratio is None else kv_read_ratio
    x0 = (weight_bytes + kv_bytes / ratio) / bandwidth_bytes_per_s
    x1 = layers * (shared.moe_overhead_factor if moe else 1.0)
    q = shared.kquant_compute_factor if kquant else 1.0
    x2 = flops * q / fp16_flops_per_s if fp16_flops_per_s else 0.0
    return x0, x1, x2


def decode_step_parts(
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
    kv_read_ratio: float | None = None,
    tp: int = 1,
    host_fraction: float = 0.0,
    host_bytes_per_s: float = 0.0,
) -> tuple[float, float, float]:
    """(memory_s, overhead_s, compute_s) of one decode step: THE step-time formula, used by the fit and the forecast.

    Built on `decode_terms` (the fit's regressors), split over `tp` tensor-parallel GPUs; a `host_fraction` of the
    weights streams from host RAM at `host_bytes_per_s` instead (llama.cpp layers left on the CPU)."""
    x0, x1, x2 = decode_terms(
        weight_bytes=weight_bytes,
        kv_bytes=kv_bytes,
        layers=layers,
        moe=moe,
        bandwidth_bytes_per_s=bandwidth_bytes_per_s,
        flops=flops,
        fp16_flops_per_s=fp16_flops_per_s,
        shared=shared,
        kquant=kquant,
        kv_read_ratio=kv_read_ratio,
    )
    memory = x0 * (1 - host_fraction) / (cls.bandwidth_efficiency * tp)
    if host_fraction > 0:
        memory += weight_bytes * host_fraction / host_bytes_per_s
    overhead = x1 * cls.layer_overhead_s + engine_overhead_s
    compute = x2 / (cls.compute_efficiency * tp)
    return memory, overhead, compute


def decode_step_s(*, comm_s: float = 0.0, **step) -> float:
    """Seconds of one decode step (`decode_step_parts` summed, plus GPU-to-GPU communication)."""
    return sum(decode_step_parts(**step)) + comm_s


def attention_flops(
    q_dim: int, full_layers: int, swa_layers: int, window: int | None, tokens: int, depth: int
) -> float:
    """FLOPs of QK^T and AV for `tokens` new tokens after `depth` cached ones (causal)."""
    mean_ctx = depth + tokens / 2.0
    swa_ctx = min(mean_ctx, window) if window else mean_ctx
    return 4.0 * q_dim * tokens * (full_layers * mean_ctx + swa_layers * swa_ctx)


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
    """One scheduler step of a serving engine: weights + KV streamed once, decode + prefill arithmetic.

    The same `decode_step_s` as the forecast's, with the serving class (no per-layer cost, KV read like weights)
    and the scheduler's fixed cost per step."""
    return decode_step_s(
        weight_bytes=weight_bytes,
        kv_bytes=kv_bytes,
        layers=0,
        moe=False,
        bandwidth_bytes_per_s=bandwidth_bytes_per_s,
        flops=decode_flops + prefill_flops,
        fp16_flops_per_s=peak_flops_per_s,
        cls=server_class(sp),
        shared=_NO_SHARED,
        kv_read_ratio=1.0,
        engine_overhead_s=SERVER_STEP_OVERHEAD_S,
        tp=tp,
        comm_s=comm_s,
    )


_NO_SHARED = SharedParams(kv_read_ratio=1.0, moe_overhead_factor=1.0)


# Effective all-reduce latency and per-direction bandwidth per link type: assumptions, neither fitted nor measured.
ALLREDUCE_LATENCY_S = {"nvlink": 8e-6, "pcie": 25e-6}
LINK_GBS = {"nvlink": 300.0, "pcie": 25.0}


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


def _link(dev: Device) -> str:
    """The GPU-to-GPU link assumed for tensor parallelism: NVLink on HBM parts, PCIe elsewhere."""
    return "nvlink" if dev.hbm else "pcie"


def _cpu_step_time(s: _Setup, batch: int, depth_tokens: int, weight: float, kv: float, flops: float) -> StepTime:
    """CPU hook: one decode step from the CPU decode model (a catalog CPU with a `cpu` block)."""
    g = s.geo
    c = cpu_model.decode_step(
        s.cpu,
        threads=s.threads,
        read_bytes=weight + kv,
        macs=batch * flops / 2,
        layers=g.layers,
        kquant=g.kquant,
        measured_bandwidth_bytes_per_s=s.measured_bandwidth_bytes_per_s,
    )
    # memory and arithmetic overlap: the hidden one of the two is reported as 0 so the terms still sum to the step
    mem, comp = (c.memory_s, 0.0) if c.bound == "memory" else (0.0, c.compute_s)
    extra = s.shared.ollama_token_overhead_s if s.engine == "ollama" else 0.0
    return StepTime(batch, depth_tokens, mem, c.sync_s + extra, comp, 0.0, weight, kv)


def step_time(s: _Setup, batch: int, depth_tokens: int) -> StepTime:
    """Decode step of `batch` streams each at `depth_tokens` of context."""
    g, dev, cls, sh = s.geo, s.dev, s.cls, s.shared
    frac = moe_expert_fraction(g.experts, g.experts_active, batch) if g.moe else 1.0
    per_token_frac = g.experts_active / g.experts if g.moe else 1.0
    weight = g.active_weight_bytes + g.routed_expert_bytes * (frac - per_token_frac)
    kv = batch * kv_bytes_per_token_at(s.model, depth_tokens, s.kv_dtype)
    rec = engine_record(s.engine)
    tp = s.gpus if rec.tensor_parallel else 1
    extra_s = (sh.ollama_token_overhead_s if rec.per_token_overhead else 0.0) + (
        SERVER_STEP_OVERHEAD_S if s.server else 0.0
    )
    flops = 2 * g.compute_params + attention_flops(g.q_dim, g.full_layers, g.sliding_layers, g.window, 1, depth_tokens)
    if s.cpu is not None:  # CPU hook: calculators/cpu.py (threads, sustained bandwidth, SIMD compute ceiling)
        return _cpu_step_time(s, batch, depth_tokens, weight, kv, flops)
    # CPUs were fitted without an arithmetic term: only the streams beyond the first add arithmetic there.
    n_compute = batch - 1 if s.cls_name == "cpu" else batch
    memory, overhead, compute = decode_step_parts(
        weight_bytes=weight,
        kv_bytes=kv,
        layers=g.layers,
        moe=g.moe,
        bandwidth_bytes_per_s=dev.bandwidth_bytes_per_s,
        flops=n_compute * flops,
        fp16_flops_per_s=s.fp16,
        cls=cls,
        shared=sh,
        kquant=g.kquant and not s.server,
        engine_overhead_s=extra_s,
        kv_read_ratio=s.kv_read_ratio,
        tp=tp,
        host_fraction=s.host_fraction,
        host_bytes_per_s=HOST_BANDWIDTH_GBS * GB * CLASSES["cpu"].bandwidth_efficiency,
    )
    comm = 0.0
    if tp > 1:
        comm = tp_comm_s(g.layers, s.model.text.hidden_size, batch, tp, _link(dev))
    elif s.gpus > 1:
        comm = (s.gpus - 1) * PIPELINE_HOP_S
    return StepTime(batch, depth_tokens, memory, overhead, compute, comm, weight, kv)


def link_of(dev: Device) -> str:
    """The GPU-to-GPU link the speed model assumes for tensor parallelism on `dev` ('nvlink' or 'pcie')."""
    return _link(dev)
