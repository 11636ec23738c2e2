"""Capacity search against servers of known capacity: prints the found value beside the truth.

Server: k parallel slots, FIFO queue, TTFT 50 ms, ITL 5 ms, 16 tokens (service 125 ms), on 127.0.0.1
(tests/probe/capacity_server.py). Concurrency search under TTFT <= 100 ms at 90 %: the truth is k (any wait
costs a whole service time). Poisson rate search under TTFT <= 150 ms at 75 %: the truth is the M/D/k queue
simulated on the same arrivals (the median over 200 other arrival draws is printed for scale); the search maximum
is 1.5x the saturation throughput k / service, since a level of 100 requests from an empty queue can pass above it.
Run: python bench/bench_capacity.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probe.goodput import Slo  # noqa: E402
from probe.search import search_capacity  # noqa: E402
from tests.probe.capacity_server import SlotServer, mdk_capacity, measure_level, unit_gaps  # noqa: E402

TTFT_S, ITL_S, TOKENS = 0.05, 0.005, 16
SERVICE_S = TTFT_S + (TOKENS - 1) * ITL_S


def concurrency_row(k: int) -> str:
    srv = SlotServer(k=k, ttft_s=TTFT_S, itl_s=ITL_S).start()
    slo = Slo(ttft_s=0.1, attainment=0.9)
    t = time.monotonic()
    try:
        cap = search_capacity(
            lambda c: measure_level(srv.url, max(20, 5 * int(c)), slo, concurrency=int(c)).outcome(c, slo),
            "concurrency", 64, slo.attainment,
        )  # fmt: skip
    finally:
        srv.stop()
    path = " ".join(f"{lv['value']}{'+' if lv['passed'] else '-'}" for lv in cap["levels"])
    return (f"| concurrency | k={k} | {cap['value']} | {k} | {cap['levels_measured']} | {time.monotonic() - t:.1f} "
            f"| {path} |")  # fmt: skip


def rate_row(k: int, seed: int, n: int = 100) -> str:
    srv = SlotServer(k=k, ttft_s=TTFT_S, itl_s=ITL_S).start()
    slo = Slo(ttft_s=0.15, attainment=0.75)  # at 90 % the answer for 100 requests hangs on single requests
    t = time.monotonic()
    try:
        cap = search_capacity(
            lambda r: measure_level(srv.url, n, slo, rate=r, seed=seed).outcome(r, slo),
            "rate", 1.5 * k / SERVICE_S, slo.attainment, max_levels=6,
        )  # fmt: skip
    finally:
        srv.stop()
    budget = slo.ttft_s - TTFT_S  # type: ignore[operator]
    truth = mdk_capacity(unit_gaps(n, seed), k, SERVICE_S, budget, slo.attainment)
    median = statistics.median(mdk_capacity(unit_gaps(n, s), k, SERVICE_S, budget, slo.attainment) for s in range(200))
    path = " ".join(f"{lv['value']}{'+' if lv['passed'] else '-'}" for lv in cap["levels"])
    err = cap["value"] / truth - 1 if cap["value"] else float("nan")
    return (f"| rate (seed {seed}) | k={k} | {cap['value']} | {truth:.2f} ({err:+.1%}; median {median:.2f}) "
            f"| {cap['levels_measured']} | {time.monotonic() - t:.1f} | {path} |")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one server of each kind")
    args = ap.parse_args()
    print("| search | server | found | truth | levels | seconds | path (+ pass, - fail) |")
    print("|---|---|---|---|---|---|---|")
    for k in (4,) if args.quick else (2, 4, 8):
        print(concurrency_row(k), flush=True)
    for k, seed in ((4, 1),) if args.quick else ((4, 1), (4, 2), (8, 1)):
        print(rate_row(k, seed), flush=True)


if __name__ == "__main__":
    main()
