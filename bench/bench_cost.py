"""Time the cost calculator: catalog resolution with forecasts, one comparison, a 240-point curve, and the tornado."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calculators.cost import (  # noqa: E402
    Capacity,
    CloudGpu,
    CostInputs,
    CostRequest,
    HostedApi,
    OwnedHardware,
    Workload,
    compare,
    cost_curves,
    plan_costs,
    sensitivities,
)
from model_specs import load_catalog  # noqa: E402


def per_call_ms(fn, n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t) / n * 1e3


def main() -> None:
    w = Workload(100e6, 20e6, peak_concurrency=8, utilization=0.5)
    cap = Capacity(400, 8, 1, 4000)
    inputs = CostInputs(w, OwnedHardware(2000, 450, 45, 24, 0.2), cap, CloudGpu(1.5), cap, HostedApi(0.14, 0.4))
    volumes = [1e6 * 1.05**i for i in range(240)]
    cat, req = load_catalog(), CostRequest(w, "gemma-4-e4b", hardware="rtx-4090")
    print(f"plan_costs (catalog prices + forecasts):     {per_call_ms(lambda: plan_costs(cat, req), 50):.3f} ms/call")
    print(f"compare (3 options, 3 break-evens, payback): {per_call_ms(lambda: compare(inputs), 2000):.3f} ms/call")
    print(
        f"cost curve, 240 volumes x 3 options:         {per_call_ms(lambda: cost_curves(inputs, volumes), 200):.3f} ms"
    )
    print(f"tornado (5 factors x 3 options x 2):         {per_call_ms(lambda: sensitivities(inputs), 200):.3f} ms")


if __name__ == "__main__":
    main()
