"""The Speed page's sentences and explanations, filled in from its view."""

from __future__ import annotations

from ui.views.speed import SpeedView, calibration

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
        f"time to first token {last.ttft_s:,.2f} s when all arrive together ({BOUND_LABELS[last.bound]})."
    )


def method_markdown(v: SpeedView) -> str:
    """How the forecast is made and how good it is."""
    r, f = calibration.RESIDUALS, v.forecast
    if f.device_class in calibration.CLASSES:
        cp = calibration.CLASSES[f.device_class]
        cls_line = (
            f"- Device class **{f.device_class}**: bandwidth efficiency {cp.bandwidth_efficiency:.2f}, "
            f"{cp.layer_overhead_s * 1e6:.0f} µs per layer per token, prefill efficiency "
            f"{cp.prefill_efficiency:.2f} ({cp.n_decode_points} decode / {cp.n_prefill_points} prefill points)."
        )
    else:
        sp = calibration.SERVER
        cls_line = (
            f"- Serving engine (**{v.scenario.engine}**): bandwidth efficiency {sp.bandwidth_efficiency:.2f}, "
            f"arithmetic efficiency {sp.compute_efficiency:.2f}, fitted to {sp.n_points} TensorRT-LLM throughput "
            f"points (held-out median error {r['serving_holdout'][1]:.0%})."
        )
    return (
        f"{cls_line}\n"
        f"- {f.hardware_name}: {f.peak_bandwidth_bytes_per_s / 1e9:,.0f} GB/s, "
        f"{f.fp16_flops_per_s / 1e12:,.1f} TFLOPS arithmetic peak used.\n"
        f"- Single-stream decode error on GPUs: median {r['decode_gpu_fit'][1]:.0%} / worst "
        f"{r['decode_gpu_fit'][2]:.0%} on the calibration points, median {r['decode_gpu_holdout'][1]:.0%} / worst "
        f"{r['decode_gpu_holdout'][2]:.0%} on held-out published points (hardware the fit never saw). CPUs are "
        f"weaker (held-out median {r['decode_cpu_holdout'][1]:.0%}).\n"
        "- Measurements and their sources: `calculators/measurements.yaml`; refit with "
        "`python bench/fit_throughput.py --write`."
    )
