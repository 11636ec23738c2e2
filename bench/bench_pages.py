"""Page rerun time: each page under AppTest, warm (second and later runs), median of several runs.

Goal (DESIGN.md): a page rerun under 300 ms on a 2-core machine. Run: .venv/bin/python bench/bench_pages.py
"""

from __future__ import annotations

import logging
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from streamlit.testing.v1 import AppTest  # noqa: E402

from app_pages import PAGES  # noqa: E402

RUNS = 7
GOAL_S = 0.300


def main() -> int:
    """Time warm reruns of every page and print one line per page."""
    logging.disable(logging.WARNING)
    worst = 0.0
    print(f"{'page':<10} {'median ms':>10} {'max ms':>8}")
    for p in PAGES:
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.run()
        at.switch_page(p.file)
        at.run()  # first run of the page fills caches
        times = []
        for _ in range(RUNS):
            t0 = time.perf_counter()
            at.run()
            times.append(time.perf_counter() - t0)
        if at.exception:
            print(f"{p.url_path:<10} exception: {at.exception[0].value}")
            return 1
        med = statistics.median(times)
        worst = max(worst, med)
        print(f"{p.url_path:<10} {med * 1e3:>10.1f} {max(times) * 1e3:>8.1f}")
    print(
        f"slowest page median {worst * 1e3:.1f} ms (goal < {GOAL_S * 1e3:.0f} ms): {'OK' if worst < GOAL_S else 'OVER'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
