"""Accuracy of calculators/gguf.py against GGUF sizes llama.cpp printed for real files; prints the table.

Run: python bench/bench_gguf_sizes.py   (sources of every row: bench/gguf_reference.py)
"""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gguf_reference import size_rows  # noqa: E402
from calculators.gguf import gguf_size  # noqa: E402

GiB = 1 << 30


def main() -> int:
    rows = size_rows()
    print(f"{'model':18s} {'type':10s} {'published':>10s} {'estimate':>10s} {'error':>8s}  packaging / source")
    scored: list[float] = []
    everything: list[float] = []
    for r in rows:
        est = gguf_size(r.model, r.ftype, **dict(r.options)).total_bytes / GiB
        err = est / r.size_gib - 1
        everything.append(abs(err))
        if r.scored:
            scored.append(abs(err))
        tag = "" if r.packaging == "llama-quantize" else f"[{r.packaging}] "
        print(f"{r.model.id:18s} {r.ftype:10s} {r.size_gib:8.2f} G {est:8.3f} G {100 * err:+7.2f}%  {tag}{r.source}")
    print()
    print(
        f"default llama-quantize rules, {len(scored)} files: median |error| {100 * statistics.median(scored):.2f} %, "
        f"worst {100 * max(scored):.2f} %  (goal: 1 % median, 3 % worst)"
    )
    print(
        f"all {len(everything)} files incl. custom recipes: median {100 * statistics.median(everything):.2f} %, "
        f"worst {100 * max(everything):.2f} %"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
