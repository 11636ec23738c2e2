"""Speed forecast of one scenario: TTFT, decode tokens/s, end-to-end latency with ranges, under load."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from calculators.memory import MemoryRequest, estimate

if TYPE_CHECKING:
    from calculators.memory import WeightBreakdown
    from model_specs.schema import Hardware, ModelSpec
from calculators.engines import engine as engine_record
from calculators.speed.device import DISK_READ_GBS, GB, HOST_BANDWIDTH_GBS, Device, GiB, resolve_device
from calculators.speed.geometry import ModelGeometry, geometry, resolve_model, wo_key
from calculators.speed.prefill import prefill_time
from calculators.speed.setup import _Setup, _setup
from calculators.speed.step import StepTime, step_time


def mean_depth_tokens(prompt_tokens: int, output_tokens: int) -> int:
    """Tokens in context halfway through the answer: where a forecast's decode speed is taken."""
    return prompt_tokens + output_tokens // 2


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
    threads: int | None = None  # CPU devices with a catalog `cpu` block: llama.cpp -t used
    ttft_s_p95: float | None = None  # under load: the simulated closed loop's 95th percentile (serving.under_load)

    def as_dict(self) -> dict:
        """JSON-ready fields (the CLI's output)."""
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["notes"] = list(self.notes)
        for k, v in d.items():
            if isinstance(v, float):
                d[k] = round(v, 6) if abs(v) < 1e6 else round(v)
        return d


_MEMORY_CACHE: dict[tuple, tuple[ModelSpec, object]] = {}


def _memory(model: ModelSpec, quant: str, dev: Device, engine: str, context: int, kv_dtype: str, gpus: int, wo=None):
    """The memory calculator's estimate on this device (None without a memory size); cached per input."""
    if dev.memory_bytes is None:
        return None
    key = (id(model), quant, dev.id, dev.memory_bytes, dev.kind, engine, context, kv_dtype, gpus, wo_key(wo))
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
    if engine_record(engine).offloads_layers and not dev.unified_memory:
        frac = min(1.0, short / max(geo.total_weight_bytes, 1))
        notes.append(
            f"does not fit in {dev.name} memory: about {frac:.0%} of the weights stay in host RAM "
            f"(read at ~{HOST_BANDWIDTH_GBS:g} GB/s, assumed)"
        )
        return frac
    notes.append(f"does not fit in {dev.name} memory ({short / GiB:.1f} GiB short): the forecast assumes it did")
    return 0.0


def _lengths(model: ModelSpec, context: int | None, prompt: int | None, output: int | None, concurrency: int):
    """(context, prompt, output) tokens with the defaults filled in; ValueError naming the first bad one."""
    context = min(8192, model.context_tokens) if context is None else context
    prompt = min(512, context // 2) if prompt is None else prompt
    output = max(1, min(256, context // 4)) if output is None else output
    for name, v in (("context", context), ("concurrency", concurrency)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive integer")
    if prompt < 0 or output < 1:
        raise ValueError("prompt tokens must be >= 0 and output tokens >= 1")
    if context > model.context_tokens:
        raise ValueError(f"context {context} exceeds {model.id}'s maximum of {model.context_tokens}")
    if prompt + output > context:
        raise ValueError(f"prompt + output ({prompt + output}) exceed the context ({context})")
    return context, prompt, output


def _e2e_s(ttft_s: float, token_s: float, output_tokens: int, waves: int, cold_s: float) -> float:
    """End-to-end seconds: first token, the other tokens, and for queued requests the mean wait of earlier waves.

    The point and both ends of its range go through this one function (with their own TTFT and token time), so
    the range always contains the point: the queueing term used to be left out of the range."""
    e2e = ttft_s + (output_tokens - 1) * token_s
    if waves > 1:
        e2e += (waves - 1) * (e2e - cold_s) / 2  # mean extra wait of queued requests
    return e2e


@dataclass(frozen=True)
class _Ranges:
    """Low / high multipliers of the rates, from the class's calibration spread (low <= 1 <= high)."""

    lo: float
    hi: float
    plo: float
    phi: float


def _ranges(s: _Setup) -> _Ranges:
    c = s.cls
    return _Ranges(
        min(1.0, 1 + c.decode_rel_low),
        max(1.0, 1 + c.decode_rel_high),
        min(1.0, 1 + c.prefill_rel_low),
        max(1.0, 1 + c.prefill_rel_high),
    )


def forecast(
    model: ModelSpec,
    quant: str,
    hardware: Hardware | Device,
    engine: str = "llama.cpp",
    context_tokens: int | None = None,
    prompt_tokens: int | None = None,
    output_tokens: int | None = None,
    concurrency: int = 1,
    gpus: int = 1,
    kv_dtype: str = "f16",
    efficiency_override: float | None = None,
    cold_start: bool = False,
    threads: int | None = None,
    weights_override: WeightBreakdown | None = None,
) -> SpeedForecast:
    """Decode / prefill speed, TTFT, end-to-end latency and aggregate throughput, each with a low-high range.

    Defaults: context min(8192, the model's maximum), a 512-token prompt and a 256-token answer (both capped to fit
    the context). Decode speed is per stream at `concurrency`, at the mean depth of the answer."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    context_tokens, prompt_tokens, output_tokens = _lengths(
        model, context_tokens, prompt_tokens, output_tokens, concurrency
    )
    notes: list[str] = []
    wo = weights_override  # exact weights of an actual file (calculators/gguf_file.py)
    est = _memory(model, quant, dev, engine, context_tokens, kv_dtype, gpus, wo)
    max_conc = est.max_concurrency if est is not None else None
    geo = geometry(model, quant, engine, wo)
    host_fraction = _offload_fraction(est, geo, dev, engine, notes)
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, efficiency_override, host_fraction, notes, threads, wo)
    notes = list(s.notes)
    depth = mean_depth_tokens(prompt_tokens, output_tokens)
    running = concurrency
    if max_conc is not None and max_conc >= 1 and concurrency > max_conc:
        running = max_conc
        notes.append(f"only {max_conc} sequences of {context_tokens} tokens fit in memory: the other requests queue")
    t_pf = prefill_time(s, prompt_tokens)
    step, sustained, ttft = _under_load(s, running, depth, prompt_tokens, output_tokens, t_pf)
    cold = geo.total_weight_bytes / (DISK_READ_GBS * GB) if cold_start else 0.0
    if cold_start:
        notes.append(f"cold start: weights read at ~{DISK_READ_GBS:g} GB/s from disk (assumed)")
    return _result(
        s, model, dev, geo, step, (context_tokens, prompt_tokens, output_tokens, concurrency, running),
        (t_pf, sustained, ttft + cold, cold), max_conc, host_fraction, notes,
    )  # fmt: skip


def _result(s, model, dev, geo, step, sizes, times, max_conc, host_fraction, notes) -> SpeedForecast:
    """The forecast record: point figures and their ranges (each range built from the point's own formula)."""
    context_tokens, prompt_tokens, output_tokens, concurrency, running = sizes
    t_pf, sustained, ttft, cold = times
    r = _ranges(s)
    waves = math.ceil(concurrency / running)
    aggregate = running / sustained
    pf_rate = prompt_tokens / t_pf if t_pf > 0 else 0.0  # no prompt: no prefill rate
    ttft_lo = (ttft - cold) / r.phi + cold
    ttft_hi = (ttft - cold) / r.plo + cold
    return SpeedForecast(
        model_id=model.id,
        quant=geo.quant,
        engine=s.engine,
        hardware_id=dev.id,
        hardware_name=dev.name,
        device_class=s.cls_name,
        context_tokens=context_tokens,
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        concurrency=concurrency,
        gpus=s.gpus,
        kv_dtype=s.kv_dtype,
        decode_tokens_per_s=1.0 / step.total_s,
        decode_tokens_per_s_low=r.lo / step.total_s,
        decode_tokens_per_s_high=r.hi / step.total_s,
        single_stream_decode_tokens_per_s=1.0
        / step_time(s, 1, mean_depth_tokens(prompt_tokens, output_tokens)).total_s,
        prefill_tokens_per_s=pf_rate,
        prefill_tokens_per_s_low=pf_rate * r.plo,
        prefill_tokens_per_s_high=pf_rate * r.phi,
        ttft_s=ttft,
        ttft_s_low=ttft_lo,
        ttft_s_high=ttft_hi,
        e2e_s=_e2e_s(ttft, step.total_s, output_tokens, waves, cold),
        e2e_s_low=_e2e_s(ttft_lo, step.total_s / r.hi, output_tokens, waves, cold),
        e2e_s_high=_e2e_s(ttft_hi, step.total_s / r.lo, output_tokens, waves, cold),
        aggregate_tokens_per_s=aggregate,
        aggregate_tokens_per_s_low=aggregate * r.lo,
        aggregate_tokens_per_s_high=aggregate * r.hi,
        per_user_tokens_per_s=1.0 / sustained,
        bound="kv" if running < concurrency else step.bound,
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
        threads=s.threads,
    )


def decode_vs_depth(
    model: ModelSpec,
    quant: str,
    hardware: Hardware | Device,
    engine: str = "llama.cpp",
    depths: Sequence[int] | None = None,
    kv_dtype: str = "f16",
    gpus: int = 1,
    efficiency_override: float | None = None,
    threads: int | None = None,  # CPU devices: llama.cpp -t (CPU hook)
    weights_override: WeightBreakdown | None = None,  # an actual file's exact weights
) -> list[tuple[int, float, float, float]]:
    """(depth, tokens/s, low, high) of one stream as the context fills up."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    if depths is None:
        top = model.context_tokens
        depths = [0] + [d for d in (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144) if d <= top]
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, efficiency_override, 0.0, [], threads, weights_override)
    lo, hi = 1 + s.cls.decode_rel_low, 1 + s.cls.decode_rel_high
    out = []
    for d in depths:
        v = 1.0 / step_time(s, 1, int(d)).total_s
        out.append((int(d), v, v * lo, v * hi))
    return out


def concurrency_curve(
    model: ModelSpec,
    quant: str,
    hardware: Hardware | Device,
    engine: str = "llama.cpp",
    context_tokens: int = 8192,
    prompt_tokens: int = 512,
    output_tokens: int = 256,
    kv_dtype: str = "f16",
    gpus: int = 1,
    levels: Sequence[int] | None = None,
    efficiency_override: float | None = None,
    threads: int | None = None,  # CPU devices: llama.cpp -t (CPU hook)
    weights_override: WeightBreakdown | None = None,  # an actual file's exact weights
) -> list[ConcurrencyPoint]:
    """Aggregate vs per-user speed as concurrency grows (stops at the memory calculator's max concurrency)."""
    model = resolve_model(model)
    dev = resolve_device(hardware)
    wo = weights_override
    est = _memory(model, quant, dev, engine, context_tokens, kv_dtype, gpus, wo)
    max_conc = est.max_concurrency if est is not None else None
    s = _setup(model, quant, dev, engine, kv_dtype, gpus, efficiency_override, 0.0, [], threads, wo)
    if levels is None:
        levels = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024]
    depth = mean_depth_tokens(prompt_tokens, output_tokens)
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
