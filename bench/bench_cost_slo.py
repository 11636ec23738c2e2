"""Cost at the SLO from a real capacity search: a k-slot test server on 127.0.0.1, searched for its capacity under
an SLO, stored in a throwaway SQLite store, then priced on the Costs view for a scenario with catalog prices.

Server: k = 4 parallel slots, FIFO queue, TTFT 50 ms, ITL 5 ms, 16 tokens (tests/probe/capacity_server.py).
SLO: TTFT <= 100 ms for 90 % of requests; the truth is k = 4 users per replica.
Run: python bench/bench_cost_slo.py [--peak-users N]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from model_specs import load_catalog  # noqa: E402
from probe.goodput import Slo  # noqa: E402
from probe.search import search_capacity  # noqa: E402
from probe.store import ProbeStore  # noqa: E402
from tests.probe.capacity_server import SlotServer, measure_level  # noqa: E402
from ui.scenario import Scenario, scenario_to_query  # noqa: E402
from ui.views.costs import build_cost_view  # noqa: E402
from ui.views.facts import SessionFacts  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--peak-users", type=int, default=10)
    args = ap.parse_args()
    srv = SlotServer(k=4, ttft_s=0.05, itl_s=0.005).start()
    slo = Slo(ttft_s=0.1, attainment=0.9)
    url = f"sqlite:///{tempfile.mkdtemp()}/probe.sqlite"
    store = ProbeStore(url)
    run_id = store.start_run(srv.url, "openai", "gemma-4-e4b", {"search": "concurrency"})
    store.start_capacity(run_id, "concurrency", 64, slo.to_json())
    try:
        cap = search_capacity(
            lambda c: measure_level(srv.url, max(20, 5 * int(c)), slo, concurrency=int(c)).outcome(c, slo),
            "concurrency", 64, slo.attainment, on_level=lambda lv: store.add_capacity_level(run_id, lv),
        )  # fmt: skip
    finally:
        srv.stop()
    cap["slo"] = slo.to_json()
    store.finish_capacity(run_id, cap)
    store.finish_run(run_id, {"runs": []}, "complete")
    facts = SessionFacts(capacity_runs=tuple(store.list_capacities()))
    store.close()
    os.environ.pop("DATABASE_URL", None)
    sc = Scenario(model="gemma-4-e4b", hw="rtx-4090", conc=args.peak_users, cap_run=run_id)
    v = build_cost_view(sc, load_catalog(), facts)
    print(
        f"capacity: {cap['value']} users (truth 4), goodput {cap['goodput_output_tokens_per_s']:.1f} output tokens/s,"
    )
    print(f"  attainment {cap['attainment']:.2f}, path {[(lv['value'], lv['passed']) for lv in cap['levels']]}")
    print(f"scenario: ?{'&'.join(f'{k}={x}' for k, x in scenario_to_query(sc).items())}")
    print(
        f"peak {v.slo.replicas.peak_load:g} users; busy-hour output {v.slo.replicas.busy_output_tokens_per_s:.2f} tokens/s"
    )
    for name in ("owned", "cloud"):
        print(f"{name} ({v.plan.labels[name]}): {v.slo.sentence(name)}")
    print("| option | capacity | per replica | replicas | USD a month | USD per M output tokens |")
    print("|---|---|---|---|---|---|")
    for r in v.slo_rows():
        print("| " + " | ".join(str(x) for x in r.values()) + " |")


if __name__ == "__main__":
    main()
