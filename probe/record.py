"""Runs recorded while they run: run_and_save, summaries rebuilt from stored samples, stored measurements.

The logic on top of the store (probe/store.py only persists): it may import the runner and the statistics.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from probe import results as R
from probe import stats
from probe.guard import ProbeInputError, normalize_base_url, public_endpoint
from probe.results import RequestResult
from probe.runner import ProbeSettings, RunReport, run_probe
from probe.store import SAMPLE_FIELDS, STORE_ERRORS, ProbeStore, database_url


def result_from_row(row: dict[str, Any]) -> RequestResult:
    """Rebuild a RequestResult from a stored sample."""
    r = RequestResult(**{f: row.get(f) for f in SAMPLE_FIELDS if f != "itl_s"})
    r.itl_s = list(row.get("itl_s") or [])
    r.index = row.get("idx") or 0
    r.cold_start = bool(row.get("cold_start"))
    r.content_messages = row.get("content_messages") or 0
    return r


def summaries_from_samples(sample_rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-level summaries from stored samples (warm-up excluded); wall time from the start offsets.

    An open-loop level is its rate: its samples' concurrency is the in-flight count each request saw, so grouping by
    it would split one level into many; its concurrency is the most in flight, as the live summary has it.
    """
    by_level: dict[tuple[float, float], list[dict[str, Any]]] = {}
    for row in sample_rows:
        if not row.get("warmup"):
            rate = row.get("rate")
            by_level.setdefault((1.0, rate) if rate is not None else (0.0, row["concurrency"]), []).append(row)
    out = []
    for is_rate, x in sorted(by_level):
        rows = by_level[(is_rate, x)]
        ends = [r["started_s"] + r["e2e_s"] for r in rows if r.get("started_s") is not None and r.get("e2e_s")]
        starts = [r["started_s"] for r in rows if r.get("started_s") is not None]
        wall = (max(ends) - min(starts)) if ends and starts else None
        c = max(r["concurrency"] for r in rows) if is_rate else int(x)
        level = stats.summarize_level(c, [result_from_row(r) for r in rows], wall)
        if is_rate:
            level.rate = x
        # The probe branch makes summarize_level return a typed LevelSummary; keep the stored JSON either way.
        out.append(level.to_json() if hasattr(level, "to_json") else level)
    return out


@dataclass(frozen=True)
class MeasuredSpeed:
    """A stored single-user decode measurement the speed and cost pages can use instead of a forecast."""

    decode_tokens_per_s: float  # 1 / TPOT p50 at the given concurrency
    run_id: str
    model: str
    backend: str | None
    endpoint: str
    created_at: dt.datetime
    concurrency: int
    ttft_p50_s: float | None
    server_decode_tokens_per_s: float | None  # Ollama's eval_count / eval_duration, when reported


def measured_decode_tokens_per_s(
    model_name: str, concurrency: int = 1, url: str | None = None, endpoint: str | None = None
) -> MeasuredSpeed | None:
    """The newest stored run of a model with a successful level at `concurrency`; None when there is none."""
    db_url = database_url(url)
    parsed = make_url(db_url)
    is_file_db = parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:"
    if is_file_db and not Path(str(parsed.database)).exists():
        return None  # reading must not create an empty database
    store = ProbeStore(db_url)
    try:
        for run in store.list_runs(limit=200, model=model_name):
            if endpoint and run["endpoint"] != public_endpoint(endpoint):
                continue
            summary = run.get("summary") or {}
            for lv in summary.get("runs", []):
                tpot = lv.get("tpot_s", {}).get("p50")
                if lv.get("concurrency") == concurrency and lv.get("ok") and tpot:
                    created = run["created_at"]
                    return MeasuredSpeed(
                        decode_tokens_per_s=1.0 / tpot,
                        run_id=run["id"],
                        model=run["model"],
                        backend=run["backend"],
                        endpoint=run["endpoint"],
                        created_at=created,
                        concurrency=concurrency,
                        ttft_p50_s=lv.get("ttft_s", {}).get("p50"),
                        server_decode_tokens_per_s=(lv.get("ttft_breakdown_s") or {}).get(
                            "server_decode_tokens_per_s_mean"
                        ),
                    )
    finally:
        store.close()
    return None


def run_and_save(store: ProbeStore, url: str, model: str, backend: str = "auto", **kwargs: Any) -> RunReport:
    """run_probe with every sample stored as it finishes; returns the RunReport with its run_id set."""
    settings = kwargs.pop("settings", None) or ProbeSettings()
    settings.validate()  # bad input raises before a row exists
    endpoint = normalize_base_url(url)
    opts = kwargs.get("options")  # a capacity run's workload (lengths' spread, shared prefix, turns) goes with it
    stored = asdict(settings) | ({"workload": opts.to_json()} if opts is not None else {})
    run_id = store.start_run(endpoint, None if backend == "auto" else backend, model.strip(), stored)
    t0 = time.perf_counter()
    user_on_result = kwargs.pop("on_result", None)

    def on_result(result: RequestResult) -> None:
        store.add_sample(run_id, result, t0)
        if user_on_result is not None:
            user_on_result(result)

    try:
        report = run_probe(
            url, model, backend, settings=settings, on_result=on_result, store=store, run_id=run_id, **kwargs
        )
    except ProbeInputError:
        store.delete_run(run_id)  # nothing was sent (e.g. host not allowed): leave no empty run behind
        raise
    report.run_id = run_id
    try:
        store.finish_run(run_id, report.to_json(), report.status, report.backend)
    except STORE_ERRORS as e:  # the samples are stored already; the caller still gets every figure
        report.errors.append({"kind": R.STORE_ERROR, "message": f"could not store the summary: {type(e).__name__}"})
    return report


def rebuilt_summary(run: dict[str, Any]) -> dict[str, Any]:
    """The summary of a run that never finished, rebuilt from its stored samples."""
    return {
        "backend": run["backend"],
        "model": run["model"],
        "run_id": run["id"],
        "endpoint": run["endpoint"],
        "status": run["status"],
        "runs": summaries_from_samples(run["samples"]),
        "rebuilt_from_samples": True,
    }


def load_run(store: ProbeStore, run_id: str) -> dict[str, Any] | None:
    """A stored run with its samples; the summary is rebuilt from the samples when the run never finished."""
    run = store.get_run(run_id)
    if run is not None and not run.get("summary"):
        run["summary"] = rebuilt_summary(run)
    return run
