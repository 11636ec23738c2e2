"""Tables for showing a run (plain rows, milliseconds at this edge only); no streamlit here."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from probe.summary import LevelSummary

METRICS = (("ttft_s", "TTFT"), ("itl_s", "ITL"), ("tpot_s", "TPOT"), ("e2e_s", "E2E"))
# st.session_state key under which the probe page publishes "use my measurement" for the speed/cost pages.
USE_MEASUREMENT_KEY = "probe_use_measurement"


def _ms(v: float | None) -> float | None:
    return None if v is None else round(v * 1e3, 3)


def percentile_rows(levels: Iterable[LevelSummary]) -> list[dict[str, Any]]:
    """One row per (level, metric) with p50/p90/p99/mean in milliseconds."""
    rows = []
    for lv in levels:
        for key, label in METRICS:
            p = getattr(lv, key)
            rows.append(
                {"level": lv.label, "metric": label}
                | {f"{q} (ms)": _ms(getattr(p, q)) for q in ("p50", "p90", "p99", "mean")}
            )
    return rows


def level_rows(levels: Iterable[LevelSummary]) -> list[dict[str, Any]]:
    """Headline figures per level (open-loop levels add the asked and achieved rate and the send lag)."""
    rows = []
    for lv in levels:
        row: dict[str, Any] = {"concurrency": lv.concurrency}
        if lv.rate is not None:
            row |= {
                "rate (req/s)": lv.rate,
                "achieved (req/s)": _round(lv.achieved_rate, 2),
                "send lag p99 (ms)": _ms(lv.schedule_lag_s.p99),
            }
        rows.append(
            row
            | {
                "ok / requests": f"{lv.ok} / {lv.requests}",
                "TTFT p50 (ms)": _ms(lv.ttft_s.p50),
                "TPOT p50 (ms)": _ms(lv.tpot_s.p50),
                "aggregate output tok/s": _round(lv.output_tokens_per_s),
                "per-user output tok/s": _round(lv.per_user_output_tokens_per_s),
                "output tokens": lv.output_tokens_total,
                "prompt tokens (server, mean)": _round(lv.prompt_tokens_mean),
                "cold starts": lv.cold_starts,
            }
        )
    return rows


def breakdown_rows(levels: Iterable[LevelSummary]) -> list[dict[str, Any]]:
    """Mean TTFT split (Ollama durations) per level, in milliseconds; empty when the server gave none."""
    rows = []
    for lv in levels:
        bd = lv.ttft_breakdown_s
        if bd:
            rows.append(
                {
                    "concurrency": str(lv.concurrency) if lv.rate is None else lv.label,
                    "queue + other (ms)": _ms(bd.queue_and_other_mean),
                    "model load (ms)": _ms(bd.load_mean),
                    "prefill (ms)": _ms(bd.prefill_mean),
                    "server decode tok/s": _round(bd.server_decode_tokens_per_s_mean),
                }
            )
    return rows


def error_rows(run_errors: Iterable[dict[str, Any]], levels: Iterable[LevelSummary]) -> list[dict[str, Any]]:
    """Run-level and per-level errors in one table."""
    rows = [{"level": "run", "kind": e["kind"], "count": 1, "message": e["message"]} for e in run_errors]
    for lv in levels:
        rows += [{"level": lv.label, "kind": e.kind, "count": e.count, "message": e.message} for e in lv.errors]
    return rows


def _round(v: float | None, nd: int = 1) -> float | None:
    return None if v is None else round(v, nd)


def _norm(s: str) -> str:
    return re.sub(r"[^a-z0-9]", "", s.lower())


def guess_spec_model(served_name: str, model_ids: Iterable[str]) -> str | None:
    """The catalog id a served model name most likely is ('gemma4:e4b-it-q4_K_M' -> 'gemma-4-e4b'), or None."""
    name = _norm(served_name.split("/")[-1])
    best = None
    for mid in model_ids:
        n = _norm(mid)
        if n and n in name and (best is None or len(n) > len(_norm(best))):
            best = mid
    return best


def spec_vs_server_rows(spec: Any, server: dict[str, Any]) -> list[dict[str, Any]]:
    """Architecture facts the server reported (/api/show, /v1/models) beside the catalog's ModelSpec."""
    text = spec.text
    pairs = [
        ("layers", server.get("layers"), text.num_layers),
        ("attention heads", server.get("heads"), text.attention.num_heads),
        ("KV heads (global layers)", server.get("kv_heads"), text.attention.full.kv_heads),
        ("hidden size", server.get("embedding_length"), text.hidden_size),
        ("trained context (tokens)", server.get("context_length"), spec.context_tokens),
        ("served context (tokens)", server.get("loaded_context_length") or server.get("max_model_len"), None),
        ("parameters", server.get("parameter_count") or server.get("parameter_size"), None),
        ("quantization", server.get("quantization"), None),
        ("bytes in GPU memory", server.get("size_vram_bytes"), None),
    ]
    return [
        {
            "fact": name,
            "server": None if s is None else str(s),
            "spec": None if c is None else str(c),
            "match": None if s is None or c is None else str(s) == str(c),
        }
        for name, s, c in pairs
        if s is not None
    ]


def forecast_rows(
    forecast_decode_tokens_per_s: float, forecast_ttft_s: float, measured: dict[str, float]
) -> list[dict[str, Any]]:
    """The single-user forecast beside the measurement (measured_single_user), with measured / forecast."""

    def row(figure: str, forecast: float, value: float, scale: float = 1.0) -> dict[str, Any]:
        return {
            "figure": figure,
            "forecast": round(forecast * scale, 1),
            "measured": round(value * scale, 1),
            "measured / forecast": round(value / forecast, 2) if forecast else None,
        }

    return [
        row("decode tokens/s (1 user)", forecast_decode_tokens_per_s, measured["decode_tokens_per_s"]),
        row("TTFT (ms)", forecast_ttft_s, measured["ttft_s"], 1e3),
    ]


def measured_single_user(levels: Iterable[LevelSummary]) -> dict[str, float] | None:
    """Concurrency-1 decode speed (1 / TPOT p50) and TTFT p50, the figures a forecast predicts (closed loop)."""
    for lv in levels:
        tpot = lv.tpot_s.p50
        if lv.rate is None and lv.concurrency == 1 and lv.ok and tpot and lv.ttft_s.p50 is not None:
            return {"decode_tokens_per_s": 1.0 / tpot, "ttft_s": lv.ttft_s.p50}
    return None
