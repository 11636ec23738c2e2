"""Write probe/data/synthetic_chats.jsonl and synthetic_prompts.jsonl: SYNTHETIC workloads (not ShareGPT data).

Random common English words (probe.prompt.WORDS) in the ShareGPT line shape and the {"prompt", "max_tokens"}
shape, with lengths drawn from fixed seeds, so tests and docs have a small reproducible file. Prints a summary.
Run: python bench/make_synthetic_workload.py
"""

from __future__ import annotations

import json
import random
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from probe.prompt import WORDS  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "probe" / "data"


def text(rng: random.Random, mean: float, sd: float) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(max(1, round(rng.gauss(mean, sd)))))


def main() -> None:
    rng = random.Random(20261203)
    chats = []
    for _ in range(40):
        conv = []
        for _ in range(rng.choice((1, 2, 2, 3))):
            conv += [{"from": "human", "value": text(rng, 120, 60)}, {"from": "gpt", "value": text(rng, 80, 40)}]
        chats.append({"conversations": conv})
    prompts = [{"prompt": text(rng, 200, 80), "max_tokens": rng.choice((16, 32, 64, 128))} for _ in range(12)]
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "synthetic_chats.jsonl").write_text("".join(json.dumps(c) + "\n" for c in chats))
    (OUT / "synthetic_prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in prompts))
    human = [len(m["value"].split()) for c in chats for m in c["conversations"] if m["from"] == "human"]
    gpt = [len(m["value"].split()) for c in chats for m in c["conversations"] if m["from"] == "gpt"]
    print(f"synthetic_chats.jsonl: {len(chats)} chats, {len(human)} turns, "
          f"human words mean {statistics.mean(human):.0f}, gpt words mean {statistics.mean(gpt):.0f}")  # fmt: skip
    print(f"synthetic_prompts.jsonl: {len(prompts)} prompts")


if __name__ == "__main__":
    main()
