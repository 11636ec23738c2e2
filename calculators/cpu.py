"""CPU decode model: llama.cpp token generation on CPU cores that stream the weights from DRAM.

One decode step with n threads takes

    t = max(t_memory, t_compute) + layers x n x sync_s_per_layer_thread

    t_memory  = bytes read / min(sustained bandwidth, n x read rate of the slowest thread, complexes x link rate)
    t_compute = 2 x multiply-accumulates x q / (n x int8 ops/s of the slowest thread)

The sustained bandwidth is the measured multi-thread read figure (STREAM-like) x `measured_fraction` where the
catalog has one (decode's access pattern reaches a share of what a pure read loop does), else the theoretical DRAM
figure x `sustained_fraction`. A thread alone on a performance core reads `per_thread_gbs` and does
clock x (vector_bits / 128) ** simd_exponent x `int8_ops_per_cycle` int8 operations per second; on an efficiency
core both are x `little_core_ratio`, and two threads sharing a core (SMT) get half each. llama.cpp splits every
matrix evenly over its threads, so the slowest thread sets the pace. q = `kquant_factor` for K-/i-quants (their
super-block scales cost more unpacking per weight than Q4_0 / Q8_0). The threads meet at a barrier after every
operation, a cost that grows with the thread count (`sync_s_per_layer_thread`). Fewer threads than cores lower the
thread-bound terms; more threads than the bandwidth needs add only barrier cost, so speed saturates and then falls.
On AMD chiplet parts each core complex (CCD, or the CCX of a monolithic APU) reads memory through its own Infinity
Fabric link of fixed width, so the cores together pull at most complexes x `complex_read_gbs` (fitted) however wide
the DRAM bus: a Ryzen AI Max+ 395 has 256 GB/s of LPDDR5X but two CCDs, and its CPU decodes a 14B Q4_K_M model at a
rate that implies about 100 GB/s read (11.37 tok/s, geerlingguy/ai-benchmarks #21; derived). Where the catalog gives
no complex count the cap does not apply.

Everything is in base units (bytes, seconds, bytes/s, op/s). Pure functions; the fitted numbers come from
bench/bench_cpu.py on calculators/cpu_measurements.yaml plus the CPU rows of calculators/measurements.yaml.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from model_specs.schema import Hardware

GB = 1e9


@dataclass(frozen=True)
class CpuParams:
    """Fitted parameters of the CPU decode model (bench/bench_cpu.py)."""

    sustained_fraction: float  # share of the theoretical DRAM bandwidth all cores sustain (no measured figure)
    per_thread_gbs: float  # read bandwidth one thread on a performance core pulls, GB/s
    int8_ops_per_cycle: float  # int8 dot-product ops per cycle per thread at 128-bit SIMD (dequantisation included)
    kquant_factor: float  # K-/i-quant arithmetic per weight relative to Q4_0 / Q8_0
    sync_s_per_layer_thread: float  # barrier cost per layer per thread, seconds
    little_core_ratio: float  # efficiency-core speed relative to a performance core
    # Read bandwidth one core complex (AMD CCD / CCX) pulls through its link to the memory fabric, GB/s; applies only
    # where the catalog gives the complex count. None = no such cap.
    complex_read_gbs: float | None = None
    # Share of a measured multi-thread read bandwidth (STREAM-like, catalog sustained_bandwidth_gbs) decode reaches.
    measured_fraction: float = 1.0
    # How arithmetic scales with SIMD width: 1 = in proportion (chosen: held out, 1 beat 0 and 0.5; bench_cpu.py).
    simd_exponent: float = 1.0
    # Range of a forecast: measured / forecast - 1 for 80 % of the held-out runs (p10 / p90 of the bench).
    decode_rel_low: float = -0.25
    decode_rel_high: float = 0.25
    n_points: int = 0
    n_devices: int = 0


# Fitted by `python bench/bench_cpu.py` on 43 published decode speeds of 22 CPUs (2026-12-03). Held out (leave one
# device out, 45 rows): median 10.8 %, p90 27.0 %, worst 151 % (AmpereOne A192 under a 2024 Ollama, 3B and 8B models:
# a fixed cost per layer no other run shows, kept out of the fit, see cpu_measurements.yaml fit_exclude); without those
# two rows worst 39 % (QCS6490). The core-complex cap (complex_read_gbs) took the Ryzen AI Max+ 395 from +54 % to +2 %
# held out; decode reaches 85 % of a measured read bandwidth (Pi 5, Orion O6: llama.cpp #26484 reports 84-91 %).
# The held-out figures depend on the local minimum each fold's fit lands in: `bench_cpu.py --thorough` (12 starts,
# lower loss) gives median 12.7 %, p90 38.8 %, worst 51.6 % without the two AmpereOne rows (Graviton3's Q3_K rows
# +34-52 %: without them the K-quant arithmetic cost is set mostly by the Cix P1 row, a 2026 llama.cpp build on Armv9
# cores that needs it cheap; why, is not established). The original model gives 12.1 / 37.4 / 53.6 % either way.
CPU_PARAMS = CpuParams(
    sustained_fraction=0.6088,
    per_thread_gbs=14.22,
    int8_ops_per_cycle=11.64,
    kquant_factor=2.052,
    sync_s_per_layer_thread=1.989e-06,
    little_core_ratio=0.321,
    complex_read_gbs=50.66,
    measured_fraction=0.8512,
    decode_rel_low=-0.156,
    decode_rel_high=0.224,
    n_points=43,
    n_devices=22,
)


@dataclass(frozen=True)
class CpuCores:
    """What the model needs to know about a CPU (from a catalog `cpu` block or a measurement record)."""

    cores: int
    threads: int  # hardware threads
    theoretical_bandwidth_gbs: float
    performance_cores: int | None = None  # None = all cores alike
    clock_ghz: float | None = None  # highest published (P-core) boost
    vector_bits: int = 128
    sustained_bandwidth_gbs: float | None = None
    x86: bool = True
    core_complexes: int | None = None  # AMD CCDs / CCXs, each with its own read link to the memory fabric

    @property
    def big_cores(self) -> int:
        return self.performance_cores if self.performance_cores is not None else self.cores


@dataclass(frozen=True)
class CpuStep:
    """One decode step on a CPU, split into its terms (seconds)."""

    threads: int
    memory_s: float  # streaming the weights and KV at the effective bandwidth
    compute_s: float  # int8 dot-product arithmetic of the slowest thread
    sync_s: float  # barriers between operations
    bandwidth_bytes_per_s: float

    @property
    def total_s(self) -> float:
        # Loads and arithmetic overlap (hardware prefetch streams the next rows while the current ones are
        # multiplied): the slower of the two sets the pace. Summing them instead was worse held out (bench_cpu.py).
        return max(self.memory_s, self.compute_s) + self.sync_s

    @property
    def bound(self) -> str:
        return "compute" if self.compute_s > self.memory_s else "memory"


def cores_from_hardware(hw: Hardware) -> CpuCores | None:
    """The CPU description of a catalog entry, or None when it has no `cpu` block."""
    c = hw.cpu
    if c is None or not hw.memory_bandwidth_gbs:
        return None
    return CpuCores(
        cores=c.cores,
        threads=c.threads,
        theoretical_bandwidth_gbs=hw.memory_bandwidth_gbs,
        performance_cores=c.performance_cores,
        clock_ghz=c.boost_clock_ghz or c.base_clock_ghz,
        vector_bits=c.vector_bits or 128,
        sustained_bandwidth_gbs=c.sustained_bandwidth_gbs,
        x86="avx2" in c.isa,
        core_complexes=c.core_complexes,
    )


def default_threads(cpu: CpuCores, engine: str = "llama.cpp") -> int:
    """The thread count an engine picks by itself: llama.cpp takes the physical cores (only the P-cores of an x86
    hybrid, common/common.cpp cpu_get_num_math); Ollama takes the physical performance cores."""
    if (engine == "ollama" or cpu.x86) and cpu.big_cores:
        return cpu.big_cores
    return cpu.cores


def slowest_thread_factor(cpu: CpuCores, threads: int, little_core_ratio: float) -> float:
    """Speed of the slowest of `threads` threads relative to one thread alone on a performance core.

    The scheduler fills performance cores first, then efficiency cores, then SMT siblings; beyond the hardware
    threads, threads time-share."""
    if threads <= cpu.big_cores:
        return 1.0
    little = cpu.cores - cpu.big_cores
    factor = little_core_ratio if little else 1.0
    if threads <= cpu.cores:
        return factor
    factor = min(factor, 0.5) if cpu.threads > cpu.cores else factor
    if threads > cpu.threads:
        factor *= cpu.threads / threads
    return factor


def sustained_bandwidth_bytes_per_s(cpu: CpuCores, p: CpuParams) -> float:
    """All-core read bandwidth decode reaches: the measured figure x the fitted measured fraction, else the
    theoretical one x the fitted sustained fraction."""
    if cpu.sustained_bandwidth_gbs:
        return cpu.sustained_bandwidth_gbs * p.measured_fraction * GB
    return cpu.theoretical_bandwidth_gbs * p.sustained_fraction * GB


def decode_step(
    cpu: CpuCores,
    *,
    threads: int,
    read_bytes: float,
    macs: float,
    layers: int,
    kquant: bool,
    p: CpuParams = CPU_PARAMS,
    measured_bandwidth_bytes_per_s: float | None = None,
) -> CpuStep:
    """One decode step that reads `read_bytes` (weights + KV) and does `macs` multiply-accumulates with `threads`
    (at a measured bandwidth instead of the modelled one, when given)."""
    if threads < 1:
        raise ValueError("threads must be at least 1")
    f = slowest_thread_factor(cpu, threads, p.little_core_ratio)
    bw = min(sustained_bandwidth_bytes_per_s(cpu, p), threads * p.per_thread_gbs * GB * f)
    if cpu.core_complexes and p.complex_read_gbs:
        bw = min(bw, cpu.core_complexes * p.complex_read_gbs * GB)
    bw = measured_bandwidth_bytes_per_s or bw
    clock_hz = (cpu.clock_ghz or 2.0) * 1e9
    ops_per_thread = clock_hz * (cpu.vector_bits / 128) ** p.simd_exponent * p.int8_ops_per_cycle * f
    q = p.kquant_factor if kquant else 1.0
    compute = 2 * macs * q / (threads * ops_per_thread)
    sync = layers * threads * p.sync_s_per_layer_thread
    return CpuStep(threads, read_bytes / bw, compute, sync, bw)


def best_threads(
    cpu: CpuCores, *, read_bytes: float, macs: float, layers: int, kquant: bool, p: CpuParams = CPU_PARAMS
) -> int:
    """The thread count (1 .. hardware threads) with the shortest step."""
    best, best_t = 1, math.inf
    for n in range(1, cpu.threads + 1):
        t = decode_step(cpu, threads=n, read_bytes=read_bytes, macs=macs, layers=layers, kquant=kquant, p=p).total_s
        if t < best_t:
            best, best_t = n, t
    return best
