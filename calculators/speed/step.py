"""The step-time model: one decode step's seconds from bytes read, FLOPs, and fitted per-class parameters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from calculators.memory import kv_bytes_per_token_at

if TYPE_CHECKING:
    pass
from calculators.speed.calibration import CLASSES
from calculators.speed.device import GB, HOST_BANDWIDTH_GBS, PIPELINE_HOP_S, SERVER_ENGINES, Device
from calculators.speed.params import SERVER_STEP_OVERHEAD_S, ClassParams, ServerParams, SharedParams
from calculators.speed.setup import _Setup


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
    """One scheduler step of a serving engine: weights + KV streamed once, decode + prefill arithmetic."""
    memory = (weight_bytes + kv_bytes) / (bandwidth_bytes_per_s * tp * sp.bandwidth_efficiency)
    compute = (decode_flops + prefill_flops) / (peak_flops_per_s * tp * sp.compute_efficiency)
    return memory + compute + comm_s + SERVER_STEP_OVERHEAD_S


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
        host_cls = CLASSES["cpu"]
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
