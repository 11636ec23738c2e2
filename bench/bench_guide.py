"""Time the decision guide: one ranking per target (every model x 3 formats), the claims check, a full report."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from calculators.guide import TARGETS, GuideRequest, check_claims, rank  # noqa: E402
from model_specs import load_catalog  # noqa: E402
from ui.report import build_report  # noqa: E402
from ui.scenario import Scenario  # noqa: E402


def _ms(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000


def main() -> None:
    """Print best-of-3 wall times in milliseconds."""
    cat = load_catalog()
    rank(cat, GuideRequest(hardware_ids=("rtx-4090",)))  # warm the calculators' caches
    for t in TARGETS:
        req = GuideRequest(hardware_ids=t.hardware_ids, gpus=t.gpus, engine=t.engine, context_tokens=8192)
        n = len(rank(cat, req))
        print(f"guide rank {t.id:<11} {n:3d} variants  {_ms(lambda r=req: rank(cat, r)):8.1f} ms")
    print(f"claims check ({len(check_claims(cat))} claims)        {_ms(lambda: check_claims(cat)):8.1f} ms")
    print(f"full report (default scenario)        {_ms(lambda: build_report(Scenario(), cat)):8.1f} ms")


if __name__ == "__main__":
    main()
