"""The Speed page's sentences and explanations, filled in from its view."""

from __future__ import annotations

from calculators.engines import engine as engine_record
from calculators.serving.batched import SERVER_ROOFLINE_NORM
from calculators.serving.forecast import HEADLINE_REQUESTS
from ui.views.facts import SessionFacts
from ui.views.speed import SLO_ATTAINMENT, ServingView, SpeedView, calibration, cpu_model

BOUND_LABELS = {"memory": "memory-bandwidth bound", "compute": "compute bound", "kv": "KV-cache bound"}


def users(n: int) -> str:
    """'1 user', '4 users'."""
    return f"{n:,} user" if n == 1 else f"{n:,} users"


def intro() -> str:
    """What the forecast is and what it is fitted to."""
    n = sum(c.n_decode_points for c in calibration.CLASSES.values())
    return (
        "A small physical model: decode time = bytes read per token (active weights + KV cache) / (bandwidth x "
        "efficiency) + a fixed cost per layer + arithmetic; prefill = FLOPs / (FP16 peak x efficiency). Efficiencies "
        f"are fitted per device class to {n} published measurements (fit of {calibration.FITTED_ON}); ranges are the "
        "spread of the fit's residuals."
    )


MEDIAN_HELP = "Median request in the simulated closed loop of your users (p95 under 'Serving under load' below)."


def concurrency_caption(v: SpeedView) -> str:
    """The last point of the concurrency curve in words."""
    last, f = v.concurrency[-1], v.forecast
    at_limit = f.max_concurrency is not None and last.concurrency >= f.max_concurrency
    return (
        ("At most " if at_limit else "At ")
        + users(last.concurrency)
        + (
            f" fit in memory at {v.context_tokens:,} tokens each"
            if at_limit
            else f" with {v.context_tokens:,} tokens each"
        )
        + f": {last.aggregate_tokens_per_s:,.0f} tokens/s in total, {last.per_user_tokens_per_s:,.1f} per user, "
        f"median time to first token {last.ttft_s:,.2f} s in a closed loop ({BOUND_LABELS[last.bound]})."
    )


def method_markdown(v: SpeedView) -> str:
    """How the forecast is made and how good it is."""
    r, f = calibration.RESIDUALS, v.forecast
    cpu_facts = "\n" + cpu_facts_markdown(v) if v.cpu is not None else ""
    if f.threads is not None:
        return cpu_method_markdown(v) + cpu_facts
    if f.device_class in calibration.CLASSES:
        cp = calibration.CLASSES[f.device_class]
        cls_line = (
            f"- Device class **{f.device_class}**: bandwidth efficiency {cp.bandwidth_efficiency:.2f}, "
            f"{cp.layer_overhead_s * 1e6:.0f} µs per layer per token, prefill efficiency "
            f"{cp.prefill_efficiency:.2f} ({cp.n_decode_points} decode / {cp.n_prefill_points} prefill points)."
        )
    else:
        sp, factor = calibration.SERVER, engine_record(v.scenario.engine).serving_bandwidth_factor
        own = f" × {factor:.2f} for {v.scenario.engine}, fitted on its published serving runs" if factor != 1 else ""
        cls_line = (
            f"- Serving engine (**{v.scenario.engine}**): bandwidth efficiency {sp.bandwidth_efficiency:.2f}{own}, "
            f"arithmetic efficiency {sp.compute_efficiency:.2f}, fitted to {sp.n_points} TensorRT-LLM throughput "
            f"points (held-out median error {r['serving_holdout'][1]:.0%}). A step's weight reads and arithmetic "
            f"overlap partly: it takes their {SERVER_ROOFLINE_NORM:g}-norm, fitted on TensorRT-LLM's max-throughput "
            "runs. Under load, TTFT, end-to-end time and throughput come from a simulation of the engine's scheduler "
            "(`python bench/bench_serving.py`)."
        )
    hw, driver = v.hardware, ""
    if hw.driver_memory_mib and engine_record(v.scenario.engine).serving_scheduler:
        driver = (
            f" The engine's KV cache is its memory share of the {hw.driver_memory_mib:,.0f} MiB the driver reports "
            f"({_cell(hw.field_sources['driver_memory_mib'])}), not of the {hw.memory_label} on the label."
        )
    return (
        f"{cls_line}\n"
        f"- {f.hardware_name}: {f.peak_bandwidth_bytes_per_s / 1e9:,.0f} GB/s, "
        f"{f.fp16_flops_per_s / 1e12:,.1f} TFLOPS arithmetic peak used.{driver}\n"
        f"- Single-stream decode error on GPUs: median {r['decode_gpu_fit'][1]:.0%} / worst "
        f"{r['decode_gpu_fit'][2]:.0%} on the calibration points, median {r['decode_gpu_holdout'][1]:.0%} / worst "
        f"{r['decode_gpu_holdout'][2]:.0%} on held-out published points (hardware the fit never saw). CPUs are "
        f"weaker (held-out median {r['decode_cpu_holdout'][1]:.0%}).\n"
        "- Measurements and their sources: `calculators/measurements.yaml`; refit with "
        "`python bench/fit_throughput.py --write`." + cpu_facts
    )


def cpu_method_markdown(v: SpeedView) -> str:
    """How a forecast on a CPU with a catalog `cpu` block is made (calculators/cpu.py) and how good it is."""
    p, f, c = cpu_model.CPU_PARAMS, v.forecast, v.cpu
    sustained = cpu_model.sustained_bandwidth_bytes_per_s(c, p) / 1e9
    how = "measured" if c.sustained_bandwidth_gbs else f"{p.sustained_fraction:.0%} of the theoretical, fitted"
    return (
        f"- CPU decode model (`calculators/cpu.py`), {f.threads} threads on {c.cores} cores: a step reads the weights "
        f"and KV cache at min(sustained bandwidth {sustained:,.1f} GB/s ({how}), threads × {p.per_thread_gbs:.1f} "
        f"GB/s per thread), or does its int8 arithmetic at clock × SIMD width × {p.int8_ops_per_cycle:.1f} ops per "
        f"cycle per thread, whichever is slower, plus {p.sync_s_per_layer_thread * 1e6:.1f} µs of barriers per layer "
        "and thread; efficiency cores and SMT siblings slow the slowest thread.\n"
        f"- Fitted on {p.n_points} published llama.cpp / Ollama runs of {p.n_devices} CPUs "
        "(`calculators/cpu_measurements.yaml`, each with its source); the range "
        f"({p.decode_rel_low:+.0%} … {p.decode_rel_high:+.0%}) is the p10–p90 error on CPUs left out of the fit "
        "(`python bench/bench_cpu.py`). Prefill uses the CPU class of the fitted speed model.\n"
    )


# (label, CpuSpec field(s), how to show the value) of the catalog's CPU facts.
_CPU_FACTS = (
    ("Cores / hardware threads", ("cores", "threads"), lambda c: f"{c.cores} / {c.threads}"),
    (
        "Performance / efficiency cores",
        ("performance_cores", "efficiency_cores"),
        lambda c: None if c.performance_cores is None else f"{c.performance_cores} / {c.efficiency_cores}",
    ),
    (
        "Base / boost clock",
        ("base_clock_ghz", "boost_clock_ghz"),
        lambda c: " / ".join(f"{x:g} GHz" if x else "unknown" for x in (c.base_clock_ghz, c.boost_clock_ghz)),
    ),
    ("Instruction sets", ("isa",), lambda c: ", ".join(c.isa) or None),
    ("Widest SIMD register", ("vector_bits",), lambda c: c.vector_bits and f"{c.vector_bits} bits"),
    (
        "Memory",
        ("memory_type", "memory_channels", "memory_bus_bits"),
        lambda c: ", ".join(
            filter(
                None,
                (
                    c.memory_type,
                    c.memory_channels and f"{c.memory_channels} channels",
                    c.memory_bus_bits and f"{c.memory_bus_bits}-bit bus",
                ),
            )
        ),
    ),
    (
        "Sustained read bandwidth",
        ("sustained_bandwidth_gbs",),
        lambda c: c.sustained_bandwidth_gbs and f"{c.sustained_bandwidth_gbs:g} GB/s (measured)",
    ),
)


def _cell(text: str) -> str:
    """`text` safe inside a Markdown table cell; a bare URL as a `source` link."""
    text = text.replace("|", "\\|").replace("\n", " ")
    return f"[source]({text})" if text.startswith("http") and " " not in text else text


def cpu_facts_markdown(v: SpeedView) -> str:
    """The catalog's CPU facts of the device as a Markdown table, each with its source (derived ones say so)."""
    hw = v.hardware
    c = hw.cpu
    lines = [
        f"\n**{hw.name}** (catalog, as of {hw.as_of}); theoretical DRAM bandwidth {hw.memory_bandwidth_gbs:g} GB/s "
        f"({_cell(hw.field_sources.get('memory_bandwidth_gbs', hw.source))}).\n",
        "| CPU | value | source |",
        "|---|---|---|",
    ]
    for label, fields, show in _CPU_FACTS:
        value = show(c)
        if not value:
            continue
        sources = dict.fromkeys(c.field_sources.get(x, c.source) for x in fields)  # the record's unless a field's own
        derived = " (derived)" if any(x in c.derived for x in fields) else ""
        lines.append(f"| {label} | {value}{derived} | {' · '.join(_cell(s) for s in sources)} |")
    return "\n".join(lines)


def probe_note(m: SessionFacts) -> str:
    """What the session's probe store holds for this model (a warning when it cannot be read)."""
    if m.store_error:
        return f"Stored probe runs cannot be read ({m.store_error}); the forecast uses the fitted efficiency."
    if m.stored_speed is None:
        return (
            "No stored probe run at concurrency 1 for this name. Run one on the Probe page to calibrate the "
            "forecast to your own machine."
        )
    r = m.stored_speed
    return (
        f"Probe run {r.run_id} ({r.created_at:%Y-%m-%d %H:%M}): {r.decode_tokens_per_s:.1f} tokens/s at concurrency 1."
    )


def slo_words(sv: ServingView) -> str:
    """The scenario's latency targets in words ('' without any)."""
    slo = sv.slo
    if slo is None:
        return ""
    parts = [f"time to first token <= {slo.ttft_s * 1e3:,.0f} ms"] if slo.ttft_s else []
    parts += [f">= {1 / slo.tpot_s:,.1f} tokens/s per user"] if slo.tpot_s else []
    return " and ".join(parts) + f" for {SLO_ATTAINMENT:.0%} of requests"


def serving_metrics(sv: ServingView) -> list[tuple[str, str]]:
    """(label, value) of the simulated serving figures the page shows in a row."""
    f = sv.fields
    return [
        ("TTFT p50 / p95 (simulated)", f"{f['ttft_s_p50'] * 1e3:,.0f} / {f['ttft_s_p95'] * 1e3:,.0f} ms"),
        ("Inter-token latency", f"{f['itl_s'] * 1e3:,.1f} ms"),
        (f"Aggregate decode ({users(sv.concurrency)})", f"{f['decode_aggregate_tokens_per_s']:,.0f} tokens/s"),
        ("Capacity at the SLO", capacity_value(sv)),
    ]


def capacity_value(sv: ServingView) -> str:
    """'N users / R req/s' at the SLO ('no target' without one, '< 1 user' when even one misses)."""
    by_users, by_rate = sv.capacity_users, sv.capacity_rate
    if by_users is None:
        return "no target"
    if not by_users["value"]:
        return "< 1 user"
    n = ("at least " if by_users["at_least"] else "") + users(by_users["value"])
    return n + (f" / {by_rate['value']:,.2f} req/s" if by_rate and by_rate["value"] else "")


def serving_caption(sv: ServingView, engine: str, prompt_tokens: int, output_tokens: int) -> str:
    """How the serving figures were simulated, and the SLO the capacity is measured against."""
    slots = {
        "llama.cpp": f" with {sv.concurrency:,} slot{'s' if sv.concurrency != 1 else ''} (-np {sv.concurrency})",
        "ollama": " (one slot, its default)",
    }
    su = sv.setup
    cached = su.load.cached_prefix_tokens if su else 0
    of_which = f" ({cached:,} of them in the prefix cache)" if cached else ""
    frontend = (
        f" Each request reaches the scheduler {su.engine.frontend_s * 1e3:.1f} ms after it is sent (API server; "
        "fitted on published vLLM and SGLang TTFT)."
        if su and su.engine.frontend_s
        else ""
    )
    text = (
        f"Simulated {engine} scheduler{slots.get(engine, ': continuous batching, chunked prefill, paged KV')}; "
        f"{users(sv.concurrency)} in a closed loop, {prompt_tokens:,} prompt{of_which} + {output_tokens:,} output "
        f"tokens each, {su.load.requests if su else HEADLINE_REQUESTS:,} requests.{frontend} Aggregate decode: all sequences decoding together, prefill excluded."
    )
    if sv.slo is None:
        return text + " Set a latency target on the Costs page to see the capacity at it." + measured_words(sv)
    return text + f" Capacity: the most users (or Poisson requests/s) with {slo_words(sv)}." + measured_words(sv)


def measured_words(sv: ServingView) -> str:
    """' Measured: N users at its SLO (probe run ...).' for a stored capacity run; '' without one."""
    c = sv.measured_capacity
    if not c:
        return ""
    unit = "users" if c.get("search") == "concurrency" else "requests/s"
    value = "below the smallest load" if c.get("value") is None else f"{c['value']:,.4g} {unit}"
    slo = c.get("slo") or {}
    targets = [f"{n} <= {slo[k] * 1e3:,.0f} ms" for k, n in (("ttft_s", "TTFT"), ("tpot_s", "TPOT")) if slo.get(k)]
    share = f" for {slo['attainment']:.0%} of requests" if slo.get("attainment") else ""
    return f" Measured capacity: {value} with {' and '.join(targets) or 'its SLO'}{share} ({sv.measured_label})."
