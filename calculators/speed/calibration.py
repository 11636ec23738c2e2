"""Fitted speed-model parameters. Generated file: do not edit by hand.

Produced by bench/fit_throughput.py --write on 2026-11-28 (numpy 2.4.6) from
calculators/measurements.yaml, sha256 bb67fa42521b44831b6f25576f7be0ac15af71e0a0c474110bf1eb53ee302ee2.
Residual |predicted / measured - 1| of tokens/s as (n, median, worst):
  decode_fit: (161, 0.0504, 0.392)
  decode_holdout: (86, 0.0735, 1.0302)
  decode_gpu_fit: (143, 0.0484, 0.392)
  decode_gpu_holdout: (80, 0.0681, 0.2945)
  decode_cpu_holdout: (6, 0.3891, 1.0302)
  prefill_fit: (47, 0.1913, 0.7032)
  prefill_holdout: (23, 0.1781, 2.6227)
  serving_fit: (20, 0.0201, 0.1502)
  serving_holdout: (20, 0.0793, 0.1444)
"""

from calculators.speed.params import ClassParams, ServerParams, SharedParams

DATA_SHA256 = "bb67fa42521b44831b6f25576f7be0ac15af71e0a0c474110bf1eb53ee302ee2"
FITTED_ON = "2026-11-28"
RESIDUALS = {
    "decode_fit": (161, 0.0504, 0.392),
    "decode_holdout": (86, 0.0735, 1.0302),
    "decode_gpu_fit": (143, 0.0484, 0.392),
    "decode_gpu_holdout": (80, 0.0681, 0.2945),
    "decode_cpu_holdout": (6, 0.3891, 1.0302),
    "prefill_fit": (47, 0.1913, 0.7032),
    "prefill_holdout": (23, 0.1781, 2.6227),
    "serving_fit": (20, 0.0201, 0.1502),
    "serving_holdout": (20, 0.0793, 0.1444),
}
SHARED = SharedParams(
    kv_read_ratio=0.75,
    moe_overhead_factor=1.5,
    kquant_compute_factor=3.0,
    ollama_token_overhead_s=0.000312166,
    prefill_half_tokens=64.0,
)
SERVER = ServerParams(
    bandwidth_efficiency=1.0,
    compute_efficiency=0.525,
    rel_low=-0.1,
    rel_high=0.1,
    n_points=20,
)
CLASSES = {
    "amd": ClassParams(
        bandwidth_efficiency=0.907908,
        layer_overhead_s=3.41182e-05,
        compute_efficiency=0.350838,
        prefill_efficiency=0.318824,
        decode_rel_low=-0.35,
        decode_rel_high=0.35,
        prefill_rel_low=-0.35,
        prefill_rel_high=0.35,
        n_decode_points=2,
        n_prefill_points=2,
    ),
    "apple": ClassParams(
        bandwidth_efficiency=0.94758,
        layer_overhead_s=0.000129491,
        compute_efficiency=0.524961,
        prefill_efficiency=0.770354,
        decode_rel_low=-0.159642,
        decode_rel_high=0.121344,
        prefill_rel_low=-0.15,
        prefill_rel_high=0.15,
        n_decode_points=64,
        n_prefill_points=16,
    ),
    "cpu": ClassParams(
        bandwidth_efficiency=0.613083,
        layer_overhead_s=0.000381313,
        compute_efficiency=0.350838,
        prefill_efficiency=0.5,
        decode_rel_low=-0.666667,
        decode_rel_high=0.35,
        prefill_rel_low=-0.35,
        prefill_rel_high=0.35,
        n_decode_points=8,
        n_prefill_points=0,
    ),
    "intel": ClassParams(
        bandwidth_efficiency=0.498392,
        layer_overhead_s=3.41182e-05,
        compute_efficiency=0.350838,
        prefill_efficiency=0.0965307,
        decode_rel_low=-0.35,
        decode_rel_high=0.35,
        prefill_rel_low=-0.35,
        prefill_rel_high=0.35,
        n_decode_points=2,
        n_prefill_points=2,
    ),
    "nvidia": ClassParams(
        bandwidth_efficiency=0.862039,
        layer_overhead_s=3.41182e-05,
        compute_efficiency=0.350838,
        prefill_efficiency=0.761576,
        decode_rel_low=-0.15078,
        decode_rel_high=0.104405,
        prefill_rel_low=-0.368045,
        prefill_rel_high=0.436952,
        n_decode_points=67,
        n_prefill_points=23,
    ),
    "nvidia-hbm": ClassParams(
        bandwidth_efficiency=0.654297,
        layer_overhead_s=8.94321e-05,
        compute_efficiency=0.350838,
        prefill_efficiency=0.194562,
        decode_rel_low=-0.267782,
        decode_rel_high=0.224824,
        prefill_rel_low=-0.35,
        prefill_rel_high=0.35,
        n_decode_points=18,
        n_prefill_points=4,
    ),
}
