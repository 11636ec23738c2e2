"""Evaluate and rank model variants for a target from the memory, speed and cost calculators."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from calculators import memory
from calculators.cost import CostRequest, Workload, cloud_prices_for, compare, plan_costs
from calculators.guide.targets import ENGINE_QUANTS, WORKLOAD_LABELS, GiB, GuideRequest, quality_scores
from calculators.serving.forecast import served_forecast
from model_specs.loader import Catalog
from model_specs.schema import ModelSpec

Status = Literal["recommended", "works", "ruled out"]
STATUS_ORDER: dict[str, int] = {"recommended": 0, "works": 1, "ruled out": 2}


@dataclass(frozen=True)
class Candidate:
    """One variant (model x format) on one device, with the figures that ranked it."""

    model_id: str
    model_name: str
    quant: str
    hardware_id: str
    hardware_name: str
    gpus: int
    engine: str
    context_tokens: int
    status: Status = "ruled out"
    problems: tuple[str, ...] = ()
    fits: bool | None = None
    margin_bytes: int | None = None
    usable_bytes: int | None = None
    need_bytes: int | None = None
    max_context_tokens: int | None = None
    decode_tokens_per_s: float | None = None
    decode_tokens_per_s_low: float | None = None
    decode_tokens_per_s_high: float | None = None
    ttft_s: float | None = None
    usd_per_month: float | None = None
    cost_option: str | None = None  # "owned" or "cloud"
    api_usd_per_month: float | None = None
    quality_score: float | None = None
    quality_detail: dict[str, float] = field(default_factory=dict)
    bits_per_weight: float = 16.0
    rank: int = 0
    sentence: str = ""

    def as_row(self) -> dict[str, Any]:
        """A flat record for tables, CSV and JSON (sizes in GiB, speeds in tokens/s, money in USD)."""
        return {
            "rank": self.rank,
            "status": self.status,
            "model": self.model_name,
            "model_id": self.model_id,
            "quant": self.quant,
            "hardware": self.hardware_name if self.gpus == 1 else f"{self.gpus} x {self.hardware_name}",
            "engine": self.engine,
            "fits": self.fits,
            "margin_gib": _gib(self.margin_bytes),
            "usable_gib": _gib(self.usable_bytes),
            "max_context_tokens": self.max_context_tokens,
            "decode_tokens_per_s": _r1(self.decode_tokens_per_s),
            "decode_tokens_per_s_low": _r1(self.decode_tokens_per_s_low),
            "decode_tokens_per_s_high": _r1(self.decode_tokens_per_s_high),
            "ttft_s": None if self.ttft_s is None else round(self.ttft_s, 3),
            "usd_per_month": None if self.usd_per_month is None else round(self.usd_per_month, 2),
            "cost_option": self.cost_option,
            "api_usd_per_month": None if self.api_usd_per_month is None else round(self.api_usd_per_month, 2),
            "quality_score": _r1(self.quality_score),
            "why": self.sentence,
        }


def _gib(b: float | None) -> float | None:
    return None if b is None else round(b / GiB, 2)


def _r1(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def rank_key(c: Candidate) -> tuple:
    """Order: status (all requirements met, then works with caveats, then ruled out); then the workload's
    quality score (higher first, unknown last); then bits per weight (at equal published score a higher-precision
    format loses less to quantisation, which the catalog does not quantify); then forecast decode speed."""
    q = -c.quality_score if c.quality_score is not None else math.inf
    return (STATUS_ORDER[c.status], q, -c.bits_per_weight, -(c.decode_tokens_per_s or 0.0))


def _fmt_tokens(n: int) -> str:
    """'8K' for whole multiples of 1024, else '57,856'."""
    return f"{n // 1024}K" if n >= 1024 and n % 1024 == 0 else f"{n:,}"


def _money(x: float) -> str:
    return f"${x:,.0f}" if x >= 100 else f"${x:,.2f}"


def _monthly_cost(
    cat: Catalog, req: GuideRequest, model: ModelSpec, quant: str, hw_id: str, ctx: int
) -> tuple[float | None, str | None, float | None, str | None]:
    """(usd_per_month, option, api_usd_per_month, why-not) from calculators.cost for this variant."""
    hw = cat.hardware[hw_id]
    rentable = bool(cloud_prices_for(cat, hw_id))
    w = Workload(req.monthly_input_tokens, req.monthly_output_tokens, peak_concurrency=req.concurrency)
    prompt = max(1, min(1000, ctx // 2))
    creq = CostRequest(
        workload=w,
        model=model.id,
        quant=quant,
        engine=req.engine,
        hardware=hw_id,
        gpus=req.gpus,
        context_tokens=ctx,
        prompt_tokens=prompt,
        output_tokens=max(1, min(200, ctx - prompt)),
        cloud_hardware=hw_id,
        cloud_engine=req.engine,
        cloud_gpus=req.gpus,
    )
    try:
        cmp = compare(plan_costs(cat, creq).inputs)
    except (ValueError, KeyError) as e:
        return None, None, None, str(e)
    api = cmp.options.get("api")
    api_usd = None if (req.private or api is None) else api.usd_per_month
    owned = cmp.options.get("owned")
    if owned is not None:
        return owned.usd_per_month, "owned", api_usd, None
    cloud = cmp.options.get("cloud")
    if rentable and cloud is not None:
        return cloud.usd_per_month, "cloud", api_usd, None
    why = cmp.missing.get("owned", f"no price for {hw.name}")
    return None, None, api_usd, why


def evaluate(
    cat: Catalog,
    req: GuideRequest,
    model: ModelSpec,
    quant: str,
    hw_id: str,
    quality: tuple[float | None, dict[str, float]],
) -> Candidate:
    """Figures and status of one variant on one device."""
    hw = cat.hardware[hw_id]
    try:
        bits = cat.quant(quant).bits_per_weight
    except KeyError:
        bits = 16.0
    ctx = req.context_tokens
    base = Candidate(
        model.id,
        model.name,
        quant,
        hw_id,
        hw.name,
        req.gpus,
        req.engine,
        ctx,
        quality_score=quality[0],
        quality_detail=quality[1],
        bits_per_weight=bits,
    )
    problems = _input_problems(req, model)
    if problems:
        return replace(base, problems=tuple(problems), sentence=f"Ruled out: {'; '.join(problems)}.")
    mreq = memory.MemoryRequest(
        model=model,
        quant=quant,
        context_tokens=ctx,
        batch=req.concurrency,
        engine=req.engine,
        text_only=not req.modalities,
        hardware=hw,
        gpus=req.gpus,
    )
    try:
        est = memory.estimate(mreq)
    except ValueError as e:
        return replace(base, problems=(str(e),), sentence=f"Ruled out: {e}.")
    base = replace(
        base,
        fits=est.fits,
        margin_bytes=est.margin_bytes,
        usable_bytes=est.usable_bytes,
        need_bytes=est.need_bytes,
        max_context_tokens=est.max_context_tokens,
    )
    if not est.fits:
        short = -(est.margin_bytes or 0) / GiB
        msg = f"needs {short:,.1f} GiB more than the {(est.usable_bytes or 0) / GiB:,.1f} GiB usable"
        if est.max_context_tokens:
            msg += f" (fits only up to {_fmt_tokens(est.max_context_tokens)} tokens)"
        return replace(base, problems=(msg,), sentence=f"Ruled out: {msg}.")
    return _fitting(cat, req, model, quant, hw, est, base)


def _input_problems(req: GuideRequest, model: ModelSpec) -> list[str]:
    """What rules a model out before any calculation: a missing modality, too long a context."""
    problems = []
    missing = sorted(set(req.modalities) - set(model.modalities))
    if missing:
        problems.append(f"no {' or '.join(missing)} input")
    if req.context_tokens > model.context_tokens:
        problems.append(
            f"context {_fmt_tokens(req.context_tokens)} exceeds its maximum of {_fmt_tokens(model.context_tokens)}"
        )
    return problems


def _fitting(cat: Catalog, req: GuideRequest, model: ModelSpec, quant: str, hw, est, base: Candidate) -> Candidate:
    """A variant that fits: its speed, its monthly cost, and what keeps it from being recommended."""
    problems: list[str] = []
    ctx = req.context_tokens
    try:
        # The forecast's default prompt and answer (512 and 256 tokens, capped to the context); the headline under
        # load, as the Speed page gives it.
        f = served_forecast(
            model, quant, hw, engine=req.engine, context_tokens=ctx, concurrency=req.concurrency, gpus=req.gpus
        )
        base = replace(
            base,
            decode_tokens_per_s=f.decode_tokens_per_s,
            decode_tokens_per_s_low=f.decode_tokens_per_s_low,
            decode_tokens_per_s_high=f.decode_tokens_per_s_high,
            ttft_s=f.ttft_s,
        )
    except ValueError as e:
        problems.append(f"no speed forecast ({e})")
    usd, option, api_usd, why_no_cost = _monthly_cost(cat, req, model, quant, hw.id, ctx)
    base = replace(base, usd_per_month=usd, cost_option=option, api_usd_per_month=api_usd)
    margin_share = (est.margin_bytes or 0) / est.usable_bytes if est.usable_bytes else 0.0
    if margin_share < req.min_margin_share:
        problems.append(
            f"only {(est.margin_bytes or 0) / GiB:,.2f} GiB to spare "
            f"(under {req.min_margin_share:.0%} of usable memory)"
        )
    if base.decode_tokens_per_s_low is not None and base.decode_tokens_per_s_low < req.min_tokens_per_s:
        problems.append(
            f"decode may be as slow as {base.decode_tokens_per_s_low:,.1f} tokens/s (target {req.min_tokens_per_s:g})"
        )
    if req.budget_usd_per_month is not None and usd is not None and usd > req.budget_usd_per_month:
        problems.append(f"costs {_money(usd)}/month, over the {_money(req.budget_usd_per_month)} budget")
    status: Status = "works" if problems else "recommended"
    c = replace(base, status=status, problems=tuple(problems))
    return replace(c, sentence=explain(c, req, why_no_cost))


def explain(c: Candidate, req: GuideRequest, why_no_cost: str | None = None) -> str:
    """One sentence, built from the candidate's numbers, saying why it sits where it does."""
    if c.status == "ruled out":
        return f"Ruled out: {'; '.join(c.problems)}."
    parts = [
        f"fits with {(c.margin_bytes or 0) / GiB:,.1f} GiB to spare of {(c.usable_bytes or 0) / GiB:,.1f} GiB "
        f"at {_fmt_tokens(c.context_tokens)} tokens for {req.concurrency} user{'' if req.concurrency == 1 else 's'} "
        f"(largest context {_fmt_tokens(c.max_context_tokens or 0)} tokens)"
    ]
    if c.decode_tokens_per_s is not None:
        parts.append(
            f"decodes ~{c.decode_tokens_per_s:,.0f} tokens/s per user "
            f"({c.decode_tokens_per_s_low:,.0f}-{c.decode_tokens_per_s_high:,.0f})"
        )
    if c.usd_per_month is not None:
        what = "owning" if c.cost_option == "owned" else "renting"
        parts.append(
            f"{_money(c.usd_per_month)}/month {what} the hardware for "
            f"{req.monthly_input_tokens / 1e6:,.0f} M in + {req.monthly_output_tokens / 1e6:,.0f} M out tokens"
        )
    elif why_no_cost:
        parts.append("no monthly cost (no purchase or rental price in the catalog)")
    if c.api_usd_per_month is not None:
        parts.append(f"a hosted API would cost {_money(c.api_usd_per_month)}/month")
    if c.quality_score is not None:
        scores = ", ".join(f"{k} {v:g}" for k, v in c.quality_detail.items())
        parts.append(f"{WORKLOAD_LABELS[req.workload]} score {c.quality_score:.0f}/100 of the best ({scores})")
    else:
        parts.append(f"no published {WORKLOAD_LABELS[req.workload]} scores in the catalog")
    s = "; ".join(parts) + "."
    if c.problems:
        s += " Caveats: " + "; ".join(c.problems) + "."
    return s[0].upper() + s[1:]


def rank(cat: Catalog, req: GuideRequest) -> list[Candidate]:
    """Every model x format x device of the request, evaluated and ranked (1 = best)."""
    models = [cat.models[m] for m in (req.model_ids or tuple(cat.models))]
    quality = quality_scores(cat.models.values(), req.workload)
    quants = req.quants or ENGINE_QUANTS[req.engine]
    out = [evaluate(cat, req, m, q, h, quality[m.id]) for m in models for q in quants for h in req.hardware_ids]
    out.sort(key=rank_key)
    return [replace(c, rank=i + 1) for i, c in enumerate(out)]
