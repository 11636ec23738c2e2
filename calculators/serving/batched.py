"""The batched step model: seconds of one engine step holding decoding sequences and prompt chunks together.

    t = weights read once / (bandwidth x e_bw x tp x e_tp)            MoE: experts touched by the step's tokens,
                                                                      E x (1 - (1 - k/E)^T) per layer
      + each decoder's KV at its own depth / (bandwidth x e_bw x kv_read_ratio x tp x e_tp)
      + decode tokens x 2 active params / (peak x e_compute x tp x e_tp)
      + prompt tokens x 2 dense params (+ attention's quadratic term) / (peak x e_prefill x m / (m + h) x tp x e_tp)
      + prompt tokens x 2 routed-expert params / (peak x e_prefill x m_e / (m_e + h_e) x tp x e_tp)
            (m = tokens per ubatch, m_e = m x k / E routed to one expert; e_prefill per device class and kernel family)
      + per prompt ubatch: weights streamed again; on CUDA a fixed time per layer and per routed expert touched
      + per-step overhead (layer launches, scheduler) + tensor-parallel all-reduces (2 per layer)
where the weight read and the arithmetic terms combine as their p-norm (SERVER_ROOFLINE_NORM on serving engines, the
max on CPUs, the sum in llama.cpp's GPU steps).

The decode efficiencies are today's fitted class parameters (calculators/speed/calibration.py, through adapter.py);
the new ones are few and physical, fitted by bench/bench_serving.py on published runs outside its hold-out: e_tp
(share of ideal tensor-parallel scaling) and the all-reduce latency / link bandwidth; llama.cpp's prompt processing
per (device class, kernel family), the routed experts' half-saturation h_e and the CUDA per-layer ubatch time.
Pipeline parallel (pp stages) divides the arithmetic and multiplies the KV room, not the weight read (every token
still crosses every layer in turn).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from calculators.engines import VLLM_FRONTEND_S
from calculators.engines import engine as engine_record
from calculators.serving import adapter
from calculators.serving.simulator import EngineConfig, llamacpp, ollama, tensorrt_llm, vllm

# Share of ideal scaling reached by tensor parallelism beyond the all-reduces modelled below (smaller sharded GEMMs,
# syncs). Fitted by `python bench/bench_serving.py --fit-tp` on TensorRT-LLM Llama 3.3 70B FP8 TP2 on H100 (10 rows,
# calculators/measurements.yaml `serving`), after SERVER_ROOFLINE_NORM (median log error -0.7 %; with the summed step
# the fit ran into the bound 1.0). The NIM TP2 rows stay held out.
TP_EFFICIENCY = 0.925
PIPELINE_HOP_S = (
    20e-6  # one activation hand-over per stage boundary per step (assumption, as in calculators/speed/device.py)
)
# llama.cpp multiplies quantised weights with int8 tensor-core kernels (MMQ / MMVQ) on NVIDIA GPUs: int8 runs at
# twice the dense FP16 tensor rate the catalog lists (Turing and later).
INT8_KERNEL_SPEEDUP = 2.0
SMALL_BATCH = 8  # llama.cpp multiplies up to 8 tokens with matrix-vector kernels (MMVQ), larger batches with MMQ
VLLM_GPU_MEMORY_UTILIZATION = 0.9  # vLLM default
# Prompt-processing efficiency (share of the dense FP16 peak) of llama.cpp per device class and kernel family:
# "int8" = quantised weights through int8 tensor-core kernels (MMQ), "f16" = F16/BF16 GEMMs, "kquant" = K-quants
# where the class has its own figure (Metal dequantises K-quant super-blocks tile by tile, dearer than Q4_0/Q8_0),
# "dequant-f16" = quantised weights dequantised to FP16 for cuBLAS (NVIDIA builds before llama.cpp PR #8075,
# June 2024: only the bench's older rows run it). Fitted by
# `python bench/bench_serving.py --fit-prefill` (geometric mean of measured / forecast on the llama-bench ppN rows of
# calculators/measurements.yaml and prefill_measurements.yaml outside holdout_hardware, each device counted once,
# jointly with the shape parameters below); classes without rows keep today's efficiency.
# Fitted 2026-12-03 (GeForce peaks doubled, see build_step); row counts in the comments. The AMD figure rests on two
# Vulkan rows 2x apart (RX 7900 XTX, Strix Halo; the rows do not record the driver or its cooperative-matrix support).
PREFILL_EFFICIENCY: dict[tuple[str, str], float] = {
    ("amd", "int8"): 0.2936,  # 2 rows
    ("apple", "f16"): 0.7827,  # 9 rows
    ("apple", "int8"): 0.6634,  # 8 rows
    ("apple", "kquant"): 0.5986,  # 3 rows
    ("intel", "int8"): 0.0880,  # 2 rows
    ("nvidia", "dequant-f16"): 0.4533,  # 6 rows
    ("nvidia", "f16"): 0.6984,  # 4 rows
    ("nvidia", "int8"): 0.5736,  # 7 rows
    ("nvidia-hbm", "int8"): 0.1828,  # 2 rows
}
# The shape of llama.cpp's prompt processing against the ubatch, fitted with the efficiencies above (`--fit-prefill`,
# least squares in log error on the same rows plus the pp512-by-ubatch sweep of llama.cpp PR #7676 on an RTX 4090,
# calculators/prefill_measurements.yaml, which it fits within 4 %):
# - a dense matrix used by m tokens at once runs at m / (m + h) of the prefill rate. The sweep finds h = 0: the
#   weights streamed once per ubatch and the fixed time below carry the small-ubatch cost;
# - a routed expert's GEMM (m = tokens routed to it, ubatch x k / E) at m / (m + h_e);
# - per layer per ubatch on CUDA, a fixed time: ggml-cuda captures CUDA graphs only for single-token batches
#   ("disabling CUDA graphs due to batch size > 1"), so each prompt step launches its kernels one by one; MoE layers
#   x today's moe_overhead_factor (more kernels per layer);
# - per routed expert a ubatch touches, per layer, on CUDA: gathering each expert's tokens and its tiles, a cost that
#   grows with the experts, not the FLOPs.
# The MoE rows outside the hold-out (DGX Spark, n_ubatch 2048: 128-256 tokens per expert) pin h_e and the per-expert
# time only loosely (the fit's error moves by under 1 % across h_e 0-128 and 0-12 us); the held-out RTX PRO 6000
# MoE row (ubatch 512, 32 tokens per expert) is their check.
LLAMACPP_PREFILL_HALF_TOKENS = 0.0
EXPERT_HALF_TOKENS = 64.0
CUDA_PREFILL_LAYER_OVERHEAD_S = 25e-6
CUDA_PREFILL_EXPERT_OVERHEAD_S = 4e-6
KQUANT_PREFILL_CLASSES = ("apple",)  # Metal: K-quants are their own kernel family (NVIDIA MMQ: same as Q4_0)
PREFILL_KERNELS = ("f16", "int8", "kquant", "dequant-f16")
VLLM_RESERVED_BYTES = 2 * 2**30  # activations, CUDA graphs, non-torch memory per GPU (assumption, vLLM logs ~1-3 GiB)
# A serving engine's GEMMs stream their weights while they multiply, but not perfectly: near the roofline's ridge a
# step is neither the sum of weight reads and arithmetic (no overlap) nor their max (full overlap). The step takes
# their p-norm (memory^p + arithmetic^p)^(1/p). p fitted by `python bench/bench_serving.py --fit-roofline` on the
# single-GPU TensorRT-LLM max-throughput rows (calculators/measurements.yaml `serving`, the rows that calibrate the
# serving class) with the class's compute efficiency as fitted: RMS log error 0.082 at p = 1 (sum), 0.057 at 1.5,
# 0.108 at inf (max). CPUs overlap fully (inf, calculators/cpu.py); llama.cpp's GPU steps keep the sum they were
# fitted with.
SERVER_ROOFLINE_NORM = 1.5


@dataclass(frozen=True)
class BatchedStep:
    """A step-time model for the simulator (calculators.serving.simulator.StepCost)."""

    dense_weight_bytes: float  # read every step (attention, dense MLP, shared experts, output head)
    expert_bytes: float  # all routed experts
    experts: int
    experts_active: int
    bandwidth_bytes_per_s: float  # effective, all GPUs together
    dense_flops_per_token: float  # 2 x non-routed active params
    expert_flops_per_token: float  # 2 x routed active params
    decode_flops_per_s: float  # effective arithmetic rate of decode tokens
    small_batch_flops_per_s: float  # ... at <= SMALL_BATCH decoders (llama.cpp's matrix-vector kernels, no MMQ)
    prefill_flops_per_s: float  # effective arithmetic rate of prompt tokens at full saturation
    prefill_half_tokens: float  # a dense matrix used by m tokens at once runs at m / (m + half) of the prefill rate
    expert_half_tokens: float  # ... the same for routed experts' GEMMs (m = tokens routed to one expert)
    prefill_overhead_s: float  # per step holding prompt tokens (kernel launches without CUDA graphs)
    prefill_expert_overhead_s: float  # ... per routed expert the step's prompt tokens touch (all layers)
    attn_flops_per_pair: float  # QK^T + AV of full-attention layers per (new token, context token)
    swa_flops_per_token: float  # sliding-window layers per prompt token (window reached)
    overhead_s: float  # per step
    per_seq_s: float  # per decoding sequence: its sliding-window KV read, engine per-token costs
    comm_fixed_s: float  # tensor-parallel all-reduce latency per step
    comm_per_token_s: float  # ... and per token in the step
    kv_token_s: float  # per cached full-attention token read by a decoder
    ubatch: int = 0  # prompt chunks larger than this are split (llama.cpp n_ubatch); 0 = no split
    roofline_norm: float = 1.0  # weight reads and arithmetic combine as their p-norm: 1 = sum, inf = max

    def weights_read_bytes(self, tokens: int) -> float:
        """Weight bytes one step of `tokens` tokens reads: the dense part plus the experts its tokens touch."""
        if not self.experts or tokens <= 0:
            return self.dense_weight_bytes + (self.expert_bytes if not self.experts else 0.0)
        frac = adapter.moe_expert_fraction(self.experts, self.experts_active, tokens)
        return self.dense_weight_bytes + self.expert_bytes * frac

    def base_s(self, n_decode: int, prefill_tokens: int, prefill_pairs: float) -> float:
        """Seconds of a step with `n_decode` decoders and `prefill_tokens` prompt tokens, KV reads aside."""
        tokens = n_decode + prefill_tokens
        memory_s = self.weights_read_bytes(tokens) / self.bandwidth_bytes_per_s
        rate = self.small_batch_flops_per_s if tokens <= SMALL_BATCH else self.decode_flops_per_s
        arithmetic_s = n_decode * (self.dense_flops_per_token + self.expert_flops_per_token) / rate
        if prefill_tokens:
            arithmetic_s += self._prefill_arithmetic_s(tokens, prefill_tokens, prefill_pairs)
        t = roofline_s(memory_s, arithmetic_s, self.roofline_norm)
        if prefill_tokens:
            n_ub = math.ceil(prefill_tokens / self.ubatch) if self.ubatch else 1
            # weights streamed again for every ubatch after the first; each ubatch launches its kernels
            t += (n_ub - 1) * self.dense_weight_bytes / self.bandwidth_bytes_per_s + n_ub * self.prefill_overhead_s
            if self.prefill_expert_overhead_s:
                m = min(tokens, self.ubatch) if self.ubatch else tokens
                touched = self.experts * adapter.moe_expert_fraction(self.experts, self.experts_active, m)
                t += n_ub * touched * self.prefill_expert_overhead_s
        comm = self.comm_fixed_s + self.comm_per_token_s * tokens if self.comm_fixed_s else 0.0
        return t + comm + self.overhead_s + self.per_seq_s * n_decode

    def _prefill_arithmetic_s(self, tokens: int, prefill_tokens: int, prefill_pairs: float) -> float:
        """Seconds of the prompt chunks' arithmetic (dense, attention, routed experts) in a step of `tokens`."""
        m = min(tokens, self.ubatch) if self.ubatch else tokens
        s_dense = adapter.matmul_saturation(m, self.prefill_half_tokens)
        dense = prefill_tokens * self.dense_flops_per_token + prefill_pairs * self.attn_flops_per_pair
        dense += prefill_tokens * self.swa_flops_per_token
        t = dense / (self.prefill_flops_per_s * s_dense)
        if self.expert_flops_per_token:
            per_expert = m * self.experts_active / max(self.experts, 1)
            s_exp = adapter.matmul_saturation(per_expert, self.expert_half_tokens)
            t += prefill_tokens * self.expert_flops_per_token / (self.prefill_flops_per_s * s_exp)
        return t


def roofline_s(memory_s: float, arithmetic_s: float, norm: float) -> float:
    """Seconds of streaming and arithmetic that overlap to a degree: their `norm`-norm (1 = sum, inf = max)."""
    if norm == 1.0:
        return memory_s + arithmetic_s
    if math.isinf(norm):
        return max(memory_s, arithmetic_s)
    return (memory_s**norm + arithmetic_s**norm) ** (1.0 / norm)


def decode_step_s(step: BatchedStep, batch: int, depth_tokens: int) -> float:
    """One decode step of `batch` sequences each at `depth_tokens` of context."""
    return step.base_s(batch, 0, 0.0) + step.kv_token_s * batch * depth_tokens


def decode_aggregate_tokens_per_s(step: BatchedStep, batch: int, depth_tokens: int) -> float:
    """C sequences decoding together at a depth, prefill excluded (llama-batched-bench's S_TG)."""
    return batch / decode_step_s(step, batch, depth_tokens)


def prefill_s(step: BatchedStep, prompt_tokens: int, chunk_tokens: int = 0, depth_tokens: int = 0) -> float:
    """Seconds to process one prompt alone, in chunks of `chunk_tokens` (0 = the engine's ubatch or all at once),
    after `depth_tokens` already cached (llama-bench ppN @ dD)."""
    chunk = chunk_tokens or step.ubatch or prompt_tokens
    t, done = 0.0, 0
    while done < prompt_tokens:
        c = min(chunk, prompt_tokens - done)
        done += c
        t += step.base_s(0, c, c * (depth_tokens + done - c / 2))
    return t


@dataclass(frozen=True)
class Scenario:
    """A serving scenario's step model and scheduler knobs."""

    step: BatchedStep
    engine: EngineConfig
    kv_bytes_per_token: float
    notes: tuple[str, ...]


def _kv_rates(model, kv_dtype: str) -> tuple[float, float]:
    """(bytes per cached full-attention token, sliding-window bytes per sequence once past the window)."""
    d1, d2 = 1 << 22, 1 << 23
    a = adapter.kv_bytes_per_token_at(model, d1, kv_dtype)
    b = adapter.kv_bytes_per_token_at(model, d2, kv_dtype)
    per_token = (b - a) / (d2 - d1)
    return per_token, a - per_token * d1


def _tp_comm_s(s, tp: int) -> tuple[float, float]:
    """Tensor parallel's two all-reduces per layer: (latency per step, seconds per token in the step)."""
    if tp <= 1:
        return 0.0, 0.0
    args = (s.geo.layers, s.model.text.hidden_size)
    fixed = adapter.tp_comm_s(*args, 0, tp, adapter.link_of(s.dev))
    return fixed, adapter.tp_comm_s(*args, 1, tp, adapter.link_of(s.dev)) - fixed


def prefill_kernel_of(quant: str, kquant: bool, cls_name: str) -> str:
    """The kernel family today's llama.cpp runs for a quant's prompt processing on a device class."""
    if quant.upper().startswith(("F16", "BF16", "F32")):
        return "f16"
    return "kquant" if kquant and cls_name in KQUANT_PREFILL_CLASSES else "int8"


def _prefill_efficiency(cls_name: str, kernel: str, cls, shared) -> float:
    """PREFILL_EFFICIENCY of a (class, kernel family); unfitted families fall back on today's class figure."""
    if (cls_name, kernel) in PREFILL_EFFICIENCY:
        return PREFILL_EFFICIENCY[(cls_name, kernel)]
    if kernel == "kquant":  # today's K-quant compute factor on the class's int8 figure
        return PREFILL_EFFICIENCY.get((cls_name, "int8"), cls.prefill_efficiency) / shared.kquant_compute_factor
    return cls.prefill_efficiency


def _check_layout(pp: int, gpus: int, prefill_kernel: str | None) -> None:
    """ValueError for an impossible GPU layout or an unknown prefill kernel family."""
    if pp < 1 or gpus < 1 or gpus % pp:
        raise ValueError("gpus must be a positive multiple of the pipeline stages")
    if prefill_kernel is not None and prefill_kernel not in PREFILL_KERNELS:
        raise ValueError(f"prefill kernel must be one of {', '.join(PREFILL_KERNELS)}")


def build_step(
    model,
    quant: str,
    hardware,
    engine: str = "vllm",
    gpus: int = 1,
    kv_dtype: str = "f16",
    pp: int = 1,
    tp_efficiency: float = TP_EFFICIENCY,
    weights_override=None,
    efficiency_override: float | None = None,
    threads: int | None = None,
    prefill_kernel: str | None = None,
) -> BatchedStep:
    """The batched step model of a model on a device from the fitted parameters (`weights_override`: a file's exact
    weights; `efficiency_override`: a measured bandwidth efficiency; `threads`: llama.cpp -t on a CPU;
    `prefill_kernel`: one of PREFILL_KERNELS instead of today's llama.cpp's, for measurements of older builds)."""
    _check_layout(pp, gpus, prefill_kernel)
    s = adapter.setup(model, quant, hardware, engine, gpus, kv_dtype, weights_override, efficiency_override, threads)
    g, cls, sh, dev = s.geo, s.cls, s.shared, s.dev
    rec = engine_record(engine)
    server = rec.tensor_parallel  # llama.cpp / Ollama split by layers, not every layer across the GPUs
    tp = gpus // pp if server else 1
    e_tp = tp_efficiency if tp > 1 else 1.0
    bw = dev.bandwidth_bytes_per_s * cls.bandwidth_efficiency * tp * e_tp
    q = sh.kquant_compute_factor if g.kquant and not s.server else 1.0
    q_small = q
    if not s.server and dev.kind == "nvidia" and not g.quant.upper().startswith(("F16", "BF16", "F32")):
        q /= INT8_KERNEL_SPEEDUP
    routed_active = g.routed_expert_bytes * g.experts_active / g.experts if g.moe else 0.0
    kv_tok, kv_swa = _kv_rates(s.model, kv_dtype)
    attn_pair = 4.0 * g.q_dim * g.full_layers
    swa_tok = 4.0 * g.q_dim * g.sliding_layers * (g.window or 0)
    dec_rate = s.fp16 * cls.compute_efficiency * tp * e_tp * pp / q
    # GeForce cards: the catalog lists FP16 with FP32 accumulate, half the rate of the FP16-accumulate and int8
    # kernels llama.cpp runs; professional and datacenter parts list the full rate.
    geforce = dev.kind == "nvidia" and dev.id.startswith("rtx-") and not dev.id.startswith(("rtx-pro", "rtx-a"))
    geforce = geforce and "ada" not in dev.id
    kernel = prefill_kernel or prefill_kernel_of(g.quant, g.kquant, s.cls_name)
    e_pf = cls.prefill_efficiency if s.server else _prefill_efficiency(s.cls_name, kernel, cls, sh)
    pf_rate = s.fp16 * (2.0 if geforce and not s.server else 1.0) * e_pf * tp * e_tp * pp
    overhead = g.layers * cls.layer_overhead_s * (sh.moe_overhead_factor if g.moe else 1.0)
    cuda_prompt = not s.server and dev.kind == "nvidia"  # llama.cpp's prompt steps on CUDA run without CUDA graphs
    prefill_overhead = g.layers * CUDA_PREFILL_LAYER_OVERHEAD_S * (sh.moe_overhead_factor if g.moe else 1.0)
    overhead += adapter.SERVER_STEP_OVERHEAD_S if s.server else 0.0
    per_seq = kv_swa / (bw * s.kv_read_ratio) + (sh.ollama_token_overhead_s if rec.per_token_overhead else 0.0)
    comm_fixed, comm_tok = _tp_comm_s(s, tp)
    overhead += (pp - 1) * PIPELINE_HOP_S
    if s.cpu is not None:  # a catalog CPU: bandwidth, arithmetic and barriers from the CPU decode model
        c = adapter.cpu_decode_step(s.cpu, threads=s.threads, read_bytes=1, macs=1, layers=g.layers, kquant=g.kquant,
                                    measured_bandwidth_bytes_per_s=s.measured_bandwidth_bytes_per_s)  # fmt: skip
        bw, dec_rate, q, q_small = c.bandwidth_bytes_per_s, 2.0 / c.compute_s, 1.0, 1.0
        overhead = c.sync_s + (sh.ollama_token_overhead_s if rec.per_token_overhead else 0.0)
        per_seq = kv_swa / bw
    return BatchedStep(
        dense_weight_bytes=g.active_weight_bytes - routed_active,
        expert_bytes=g.routed_expert_bytes if g.moe else 0.0,
        experts=g.experts,
        experts_active=g.experts_active,
        bandwidth_bytes_per_s=bw,
        dense_flops_per_token=2 * (g.compute_params - g.expert_compute_params),
        expert_flops_per_token=2 * g.expert_compute_params,
        decode_flops_per_s=dec_rate,
        small_batch_flops_per_s=dec_rate * q / q_small,
        prefill_flops_per_s=pf_rate,
        prefill_half_tokens=0.0 if s.server else LLAMACPP_PREFILL_HALF_TOKENS,
        expert_half_tokens=0.0 if s.server else EXPERT_HALF_TOKENS,
        prefill_overhead_s=prefill_overhead if cuda_prompt else 0.0,
        prefill_expert_overhead_s=g.layers * CUDA_PREFILL_EXPERT_OVERHEAD_S if cuda_prompt else 0.0,
        attn_flops_per_pair=attn_pair,
        swa_flops_per_token=swa_tok,
        overhead_s=overhead,
        per_seq_s=per_seq,
        comm_fixed_s=comm_fixed,
        comm_per_token_s=comm_tok,
        kv_token_s=kv_tok / (bw * (1.0 if s.cpu is not None else s.kv_read_ratio)) + attn_pair / dec_rate,
        ubatch=0 if rec.serving_scheduler else rec.scheduler.n_ubatch_tokens,
        roofline_norm=math.inf if s.cpu is not None else SERVER_ROOFLINE_NORM if s.server else 1.0,
    )


def kv_capacity_tokens(
    model,
    quant: str,
    hardware,
    gpus: int = 1,
    kv_dtype: str = "f16",
    gpu_memory_utilization: float = 0.9,
    weights_override=None,
) -> int | None:
    """vLLM's KV blocks in tokens: gpu_memory_utilization x the memory the driver reports - weights - reserved, over
    the KV per token."""
    s = adapter.setup(model, quant, hardware, "vllm", gpus, kv_dtype, weights_override)
    hw = s.dev.hardware  # vLLM takes its share of the memory the driver reports (ECC and reserved memory taken)
    total = adapter.device_memory_bytes(hw) if hw is not None else s.dev.memory_bytes
    if total is None:
        return None
    per_tok, swa = _kv_rates(s.model, kv_dtype)
    free = gpus * (total * gpu_memory_utilization - VLLM_RESERVED_BYTES) - s.geo.total_weight_bytes
    if free <= 0:
        raise ValueError(f"{s.model.id} in {quant} does not fit {gpus} x {s.dev.name} under vLLM")
    return int(free / max(per_tok + swa / 4096, 1.0))  # sliding layers: their window spread over a 4k context


def engine_config(
    engine: str,
    model=None,
    quant: str = "",
    hardware=None,
    gpus: int = 1,
    kv_dtype: str = "f16",
    parallel: int | None = None,
    context_tokens: int | None = None,
    gpu_memory_utilization: float = VLLM_GPU_MEMORY_UTILIZATION,
    weights_override=None,
) -> EngineConfig:
    """Default scheduler knobs per engine: vLLM V1's defaults and its KV blocks; llama.cpp / Ollama slots."""
    if engine in ("tensorrt-llm", "nim"):
        kv = kv_capacity_tokens(model, quant, hardware, gpus, kv_dtype, gpu_memory_utilization, weights_override)
        return tensorrt_llm(kv_tokens=kv)
    if engine in ("vllm", "transformers"):
        mem = adapter.resolve_device(hardware).memory_bytes if hardware is not None else None
        big = mem is not None and mem >= 70 * 2**30  # vLLM arg_utils: larger defaults on >= 70 GiB GPUs
        kv = None
        if model is not None:
            kv = kv_capacity_tokens(model, quant, hardware, gpus, kv_dtype, gpu_memory_utilization, weights_override)
        seqs, budget = (1024, 8192) if big else (256, 2048)
        fe = VLLM_FRONTEND_S if engine == "vllm" else 0.0  # fitted on vLLM's API server only
        return vllm(max_num_seqs=seqs, max_num_batched_tokens=budget, kv_tokens=kv, frontend_s=fe)
    if engine == "ollama":
        n = parallel or 1
        return ollama(num_parallel=n, n_ctx=(context_tokens * n) if context_tokens else None)
    n = parallel or 4
    return llamacpp(n_parallel=n, n_ctx=(context_tokens * n) if context_tokens else None)
