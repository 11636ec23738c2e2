"""Typed probe results: percentiles, one level's summary, the knee; serialised to the CLI's JSON unchanged.

Field names are the JSON keys of DESIGN.md's CLI contract (units in the names: `_s`, `_per_s`, `_total`).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=False)


class Percentiles(_Model):
    """p50/p90/p99/mean of one metric, in the metric's unit (seconds for every latency)."""

    p50: float | None = None
    p90: float | None = None
    p99: float | None = None
    mean: float | None = None


class LagPercentiles(_Model):
    """How late requests were sent after they were due, seconds."""

    p50: float | None = None
    p99: float | None = None


class ErrorCount(_Model):
    """One distinct (kind, message) of a level with how often it happened."""

    kind: str
    message: str = ""
    count: int = 1


class TtftBreakdown(_Model):
    """Mean TTFT split from Ollama's own durations, seconds (the JSON key ttft_breakdown_s carries the unit)."""

    ttft_mean: float
    queue_and_other_mean: float
    load_mean: float
    prefill_mean: float
    server_decode_tokens_per_s_mean: float | None = None


class LevelSummary(_Model):
    """One load level: a concurrency (closed loop) or a request rate (open loop), vLLM bench serve definitions."""

    concurrency: int  # closed loop: users; open loop: the most requests that were in flight at once
    requests: int
    ok: int
    errors: list[ErrorCount] = []
    ttft_s: Percentiles = Percentiles()
    itl_s: Percentiles = Percentiles()
    tpot_s: Percentiles = Percentiles()
    e2e_s: Percentiles = Percentiles()
    output_tokens_per_s: float | None = None  # every output token of the level over its wall time
    output_tokens_total: int | None = None
    per_user_output_tokens_per_s: float | None = None
    prompt_tokens_mean: float | None = None
    wall_s: float | None = None
    cold_starts: int = 0
    usage_missing: bool = False
    ttft_breakdown_s: TtftBreakdown | None = None
    server: dict[str, Any] | None = None  # what the server said right after the level
    goodput: dict[str, Any] | None = None  # with an SLO: requests_per_s, output_tokens_per_s, attainment, cut_short
    rate: float | None = None  # requests/s asked for; None for a closed loop
    achieved_rate: float | None = None  # requests sent / seconds from the first send to the last
    schedule_lag_s: LagPercentiles = LagPercentiles()

    def to_json(self) -> dict[str, Any]:
        """The level's JSON (optional parts left out when absent, as before)."""
        d = self.model_dump()
        if d["ttft_breakdown_s"] is None:
            d.pop("ttft_breakdown_s")
        elif d["ttft_breakdown_s"]["server_decode_tokens_per_s_mean"] is None:
            d["ttft_breakdown_s"].pop("server_decode_tokens_per_s_mean")
        if d["server"] is None:
            d.pop("server")
        if d["goodput"] is None:
            d.pop("goodput")
        return d

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> LevelSummary:
        """A level from stored or printed JSON (fields added later default to unknown)."""
        return cls.model_validate(obj)

    @property
    def label(self) -> str:
        """How the level is named on charts: 'c=4' or '2 req/s'."""
        return f"c={self.concurrency}" if self.rate is None else f"{self.rate:g} req/s"


class Knee(_Model):
    """The last concurrency that still added throughput, where the next rung only queued."""

    concurrency: int
    next_concurrency: int
    throughput_gain: float  # fraction: +0.05 = 5 % more aggregate tokens/s
    ttft_p50_growth: float  # ratio of median TTFTs, next rung over this one
    explanation: str

    def to_json(self) -> dict[str, Any]:
        """The knee's JSON."""
        return self.model_dump()


def levels_from_json(objs: list[dict[str, Any]] | None) -> list[LevelSummary]:
    """Typed levels from a run summary's "runs" list."""
    return [LevelSummary.from_json(o) for o in objs or []]
