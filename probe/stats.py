"""Statistics over measured requests: percentiles, per-level summary, cold starts, the concurrency knee."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from probe.results import RequestResult
from probe.summary import ErrorCount, Knee, LevelSummary, Percentiles, TtftBreakdown

# Ollama reports a load_duration of ~0.06-0.1 s for a model already in memory (docs.ollama.com/api/usage
# example: 101397084 ns; ollama-python stream example: 63915300 ns); loading weights from disk takes seconds.
# 0.5 s sits well between the two.
COLD_LOAD_S = 0.5
# Without server timings: a first TTFT this many times the warm median (and at least COLD_TTFT_MIN_S)
# is a cold start rather than noise.
COLD_TTFT_FACTOR = 3.0
COLD_TTFT_MIN_S = 0.5
# Knee: going up one rung must add at least this share of aggregate throughput to be worth it...
KNEE_MIN_GAIN = 0.10
# ...and a rung that adds less while median TTFT grows by this factor is only queueing.
KNEE_TTFT_GROWTH = 1.5


def percentiles(values: Sequence[float]) -> Percentiles:
    """p50/p90/p99/mean (linear interpolation, as numpy and vLLM bench serve compute them)."""
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return Percentiles()
    arr = np.asarray(vals, dtype=float)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return Percentiles(p50=float(p50), p90=float(p90), p99=float(p99), mean=float(arr.mean()))


def errors_by_kind(results: Sequence[RequestResult]) -> list[ErrorCount]:
    """One entry per distinct (kind, message) with its count, most frequent first."""
    counts = Counter((r.error_kind, r.error_message or "") for r in results if r.error_kind)
    return [ErrorCount(kind=k, message=m, count=n) for (k, m), n in counts.most_common()]


def summarize_level(concurrency: int, results: Sequence[RequestResult], wall_s: float | None) -> LevelSummary:
    """The summary of one load level (vLLM bench serve definitions)."""
    ok = [r for r in results if r.ok]
    tokens = [r.output_tokens for r in ok if r.output_tokens is not None]
    total = sum(tokens) if tokens else None
    per_user = [r.output_tokens / r.e2e_s for r in ok if r.output_tokens is not None and r.e2e_s and r.e2e_s > 0]
    sent = sorted(r.sent_s for r in results if r.sent_s is not None)
    lags = [r.sent_s - r.due_s for r in results if r.sent_s is not None and r.due_s is not None]
    lag = percentiles(lags)
    return LevelSummary(
        concurrency=concurrency,
        requests=len(results),
        ok=len(ok),
        errors=errors_by_kind(results),
        ttft_s=percentiles([r.ttft_s for r in ok if r.ttft_s is not None]),
        itl_s=percentiles([g for r in ok for g in r.itl_s]),
        tpot_s=percentiles([t for r in ok if (t := r.tpot_s) is not None]),
        e2e_s=percentiles([r.e2e_s for r in ok if r.e2e_s is not None]),
        # Aggregate: every output token of the level over the level's wall time.
        output_tokens_per_s=(total / wall_s) if total is not None and wall_s else None,
        output_tokens_total=total,
        per_user_output_tokens_per_s=float(np.mean(per_user)) if per_user else None,
        prompt_tokens_mean=_mean([r.prompt_tokens for r in ok if r.prompt_tokens is not None]),
        wall_s=wall_s,
        cold_starts=sum(1 for r in results if r.cold_start),
        usage_missing=bool(ok) and not tokens,
        ttft_breakdown_s=ttft_breakdown(ok),
        # n sends span n - 1 gaps: the rate the generator kept up, comparable with the rate asked for.
        achieved_rate=(len(sent) - 1) / (sent[-1] - sent[0]) if len(sent) > 1 and sent[-1] > sent[0] else None,
        schedule_lag_s={"p50": lag.p50, "p99": lag.p99},
    )


def ttft_breakdown(results: Sequence[RequestResult]) -> TtftBreakdown | None:
    """Mean TTFT split into queue+other, cold load and prefill, from Ollama's own durations."""
    rs = [r for r in results if r.ttft_s is not None and r.prompt_eval_s is not None]
    if not rs:
        return None
    load = [r.load_s or 0.0 for r in rs]
    prefill = [r.prompt_eval_s or 0.0 for r in rs]
    queue = [r.queue_s or 0.0 for r in rs]
    decode = [r.output_tokens / r.eval_s for r in rs if r.output_tokens and r.eval_s]
    return TtftBreakdown(
        ttft_mean=float(np.mean([r.ttft_s for r in rs])),
        queue_and_other_mean=float(np.mean(queue)),
        load_mean=float(np.mean(load)),
        prefill_mean=float(np.mean(prefill)),
        # Ollama's eval_count / eval_duration: the decode rate with queueing and network removed.
        server_decode_tokens_per_s_mean=float(np.mean(decode)) if decode else None,
    )


def _mean(values: Sequence[float]) -> float | None:
    return float(np.mean(values)) if values else None


def mark_cold_starts(results: Sequence[RequestResult]) -> None:
    """Flag requests whose server load time says the model was loaded for them."""
    for r in results:
        if r.load_s is not None and r.load_s >= COLD_LOAD_S:
            r.cold_start = True


def detect_cold_start(warmup: Sequence[RequestResult], measured: Sequence[RequestResult]) -> dict[str, Any]:
    """Whether the first request paid a model load, from load_duration or an outlying first TTFT."""
    first = next((r for r in [*warmup, *measured] if r.ttft_s is not None), None)
    if first is None:
        return {"detected": False}
    rest = [r.ttft_s for r in measured if r is not first and r.ok and r.ttft_s is not None and r.concurrency == 1]
    if not rest:
        rest = [r.ttft_s for r in measured if r is not first and r.ok and r.ttft_s is not None]
    out: dict[str, Any] = {"detected": False, "first_ttft_s": first.ttft_s}
    if first.load_s is not None:
        out["load_s"] = first.load_s
        if first.load_s >= COLD_LOAD_S:
            out.update(detected=True, evidence="server load_duration")
    if rest:
        warm = float(np.median(rest))
        out["warm_ttft_p50_s"] = warm
        if not out["detected"] and first.ttft_s >= max(COLD_TTFT_MIN_S, COLD_TTFT_FACTOR * warm):
            out.update(detected=True, evidence="first TTFT far above the warm median")
    if out["detected"]:
        first.cold_start = True
    return out


KNEE_NOTES = {
    "ollama": (
        "Ollama serves at most OLLAMA_NUM_PARALLEL requests per model at once; further requests wait "
        "in its queue (raise OLLAMA_NUM_PARALLEL, at the cost of context memory per slot)."
    ),
    "openai": (
        "The server's batch is full (vLLM --max-num-seqs or KV-cache blocks; llama.cpp --parallel slots); "
        "further requests wait in its queue."
    ),
}


def _slots_note(server: dict[str, Any] | None) -> str:
    slots = (server or {}).get("parallel_slots")
    return f" This llama.cpp server reports {slots} parallel slot(s) (/props total_slots)." if slots else ""


def find_knee(levels: Sequence[LevelSummary], backend: str, server: dict[str, Any] | None = None) -> Knee | None:
    """The last concurrency that still added throughput, where the next rung only queued (closed loops only)."""
    rungs = sorted(
        (lv for lv in levels if lv.rate is None and lv.output_tokens_per_s and lv.ttft_s.p50 is not None),
        key=lambda lv: lv.concurrency,
    )
    for lo, hi in zip(rungs, rungs[1:], strict=False):
        lo_tps, hi_tps = lo.output_tokens_per_s or 0.0, hi.output_tokens_per_s or 0.0  # both set: filtered above
        lo_ttft, hi_ttft = lo.ttft_s.p50 or 0.0, hi.ttft_s.p50 or 0.0
        gain = hi_tps / lo_tps - 1.0
        growth = hi_ttft / lo_ttft if lo_ttft > 0 else math.inf
        if gain < KNEE_MIN_GAIN and growth >= KNEE_TTFT_GROWTH:
            return Knee(
                concurrency=lo.concurrency,
                next_concurrency=hi.concurrency,
                throughput_gain=gain,
                ttft_p50_growth=growth,
                explanation=(
                    f"from {lo.concurrency} to {hi.concurrency} concurrent requests aggregate "
                    f"throughput changed by {gain:+.0%} while median TTFT grew {growth:.1f}x: "
                    "the extra requests only queue. " + KNEE_NOTES.get(backend, "") + _slots_note(server)
                ),
            )
    return None
