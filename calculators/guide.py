"""Decision guide: rank model variants for a deployment target, and check published claims, from the calculators.

Nothing here is a lookup table of answers: every figure comes from calculators.memory (fit, margin, largest
context), calculators.throughput (decode speed with its range), calculators.cost (monthly cost) and the
catalog's published benchmark scores. Rules that turn figures into a rank are spelled out in `rank_key`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from calculators import memory
from calculators.claims import CLAIMS, Claim, Variant
from calculators.cost import CostRequest, Workload, cloud_prices_for, compare, plan_costs
from calculators.throughput import forecast
from model_specs.loader import Catalog
from model_specs.schema import ModelSpec

GB = 10**9
GiB = 2**30

# ---------------------------------------------------------------- targets, workloads


@dataclass(frozen=True)
class Target:
    """Where the model must run, as catalog devices, a GPU count and the engine people use there."""

    id: str
    label: str
    hardware_ids: tuple[str, ...]
    gpus: int = 1
    engine: str = "llama.cpp"
    why: str = ""


# Representative devices per target (ids from model_specs/data/hardware.yaml); the page shows this mapping.
TARGETS: tuple[Target, ...] = (
    Target("phone", "Phone", ("phone-8gb",), why="a current mid/high-end phone with 8 GB of RAM (llama.cpp on CPU)"),
    Target(
        "edge",
        "Raspberry Pi / Jetson",
        ("raspberry-pi-5-16gb", "jetson-orin-nano-super-8gb"),
        why="the largest Pi 5 and the Jetson Orin Nano Super (8 GB unified memory)",
    ),
    Target("laptop-cpu", "Laptop without GPU", ("laptop-ddr5-16gb",), why="16 GB of DDR5, CPU inference"),
    Target("mac-16", "16 GB Mac", ("m4-16gb",), why="an M4 MacBook Air / Mac mini with 16 GB unified memory"),
    Target("gpu-24", "24 GB GPU", ("rtx-4090", "rtx-3090"), why="the two common 24 GB consumer cards"),
    Target("server", "Server GPU", ("h100-80gb-sxm",), engine="vllm", why="one H100 80 GB SXM serving with vLLM"),
    Target(
        "multi-gpu",
        "Multi-GPU",
        ("rtx-4090",),
        gpus=2,
        engine="vllm",
        why="two RTX 4090s with tensor parallelism on vLLM",
    ),
)
TARGET_BY_ID = {t.id: t for t in TARGETS}

# A few sensible formats per engine: 4-bit, 8-bit and the published precision.
ENGINE_QUANTS: dict[str, tuple[str, ...]] = {
    "llama.cpp": ("Q4_K_M", "Q8_0", "BF16"),
    "ollama": ("Q4_K_M", "Q8_0", "BF16"),
    "vllm": ("AWQ", "FP8", "BF16"),
    "transformers": ("NF4", "BF16"),
}

# Which published scores speak to each workload. The catalog has no tool-use benchmark (no Tau2 / BFCL), so
# agentic work is judged on coding and hard-question scores, the closest proxies present.
WORKLOAD_BENCHMARKS: dict[str, tuple[str, ...]] = {
    "chat": ("LMArena (text)", "MMLU-Pro"),
    "agentic": ("LiveCodeBench v6", "GPQA Diamond", "MMLU-Pro"),
    "reasoning": ("AIME 2026", "LiveCodeBench v6", "GPQA Diamond", "Codeforces"),
}
WORKLOAD_LABELS = {"chat": "chat", "agentic": "agentic tool calls", "reasoning": "reasoning / maths / code"}


def quality_scores(models: Iterable[ModelSpec], workload: str) -> dict[str, tuple[float | None, dict[str, float]]]:
    """Per model: mean of its workload scores, each as % of the best published score among `models`, and the raw
    scores used. None when the model has none of the workload's benchmarks."""
    models = list(models)
    names = WORKLOAD_BENCHMARKS[workload]
    best = {n: max((m.benchmarks[n].value for m in models if n in m.benchmarks), default=None) for n in names}
    out: dict[str, tuple[float | None, dict[str, float]]] = {}
    for m in models:
        raw = {n: m.benchmarks[n].value for n in names if n in m.benchmarks}
        rel = [100 * v / best[n] for n, v in raw.items() if best[n]]
        out[m.id] = (sum(rel) / len(rel) if rel else None, raw)
    return out


# ---------------------------------------------------------------- ranking


@dataclass(frozen=True)
class GuideRequest:
    """What the user told the guide."""

    hardware_ids: tuple[str, ...]
    gpus: int = 1
    engine: str = "llama.cpp"
    context_tokens: int = 8192
    modalities: frozenset[str] = frozenset()  # beyond text: "image", "audio"
    private: bool = False  # no external API: hosted APIs are left out of the cost
    workload: str = "chat"
    monthly_input_tokens: float = 100e6
    monthly_output_tokens: float = 20e6
    concurrency: int = 1
    budget_usd_per_month: float | None = None
    min_tokens_per_s: float = 10.0  # per user; the low end of the forecast range must reach it
    min_margin_share: float = 0.05  # "fits with margin": at least this share of usable memory left free
    quants: tuple[str, ...] | None = None  # None: ENGINE_QUANTS[engine]
    model_ids: tuple[str, ...] | None = None  # None: every catalog model

    def __post_init__(self) -> None:
        if not self.hardware_ids:
            raise ValueError("pick at least one device")
        if self.workload not in WORKLOAD_BENCHMARKS:
            raise ValueError(f"unknown workload '{self.workload}' (known: {', '.join(WORKLOAD_BENCHMARKS)})")
        if self.context_tokens < 256 or self.concurrency < 1 or self.gpus < 1:
            raise ValueError("context must be >= 256 tokens, concurrency and GPUs >= 1")
        if self.monthly_input_tokens < 0 or self.monthly_output_tokens < 0:
            raise ValueError("monthly tokens must be >= 0")
        bad = set(self.modalities) - {"image", "audio", "video"}
        if bad:
            raise ValueError(f"unknown modalities: {sorted(bad)}")


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
    problems: list[str] = []
    missing = sorted(set(req.modalities) - set(model.modalities))
    if missing:
        problems.append(f"no {' or '.join(missing)} input")
    if ctx > model.context_tokens:
        problems.append(f"context {_fmt_tokens(ctx)} exceeds its maximum of {_fmt_tokens(model.context_tokens)}")
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
        need_bytes=(est.usable_bytes or 0) - (est.margin_bytes or 0),
        max_context_tokens=est.max_context_tokens,
    )
    if not est.fits:
        short = -(est.margin_bytes or 0) / GiB
        msg = f"needs {short:,.1f} GiB more than the {(est.usable_bytes or 0) / GiB:,.1f} GiB usable"
        if est.max_context_tokens:
            msg += f" (fits only up to {_fmt_tokens(est.max_context_tokens)} tokens)"
        return replace(base, problems=(msg,), sentence=f"Ruled out: {msg}.")
    try:
        # The forecast's default prompt and answer (512 and 256 tokens, capped to the context).
        f = forecast(
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
    usd, option, api_usd, why_no_cost = _monthly_cost(cat, req, model, quant, hw_id, ctx)
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


# ---------------------------------------------------------------- claims check

VerdictStatus = Literal["holds", "holds only with", "does not hold"]


@dataclass(frozen=True)
class Verdict:
    """Outcome of one check: the status, the condition it needs (for "holds only with"), and the figure."""

    status: VerdictStatus
    condition: str | None = None

    @property
    def text(self) -> str:
        """ "holds", "holds only with X" or "does not hold"."""
        return f"holds only with {self.condition}" if self.status == "holds only with" else self.status


def footprint_verdict(
    claimed_bytes: float, computed_bytes: float, conditions: Sequence[tuple[str, float]] = (), tolerance: float = 0.25
) -> Verdict:
    """A "~X GB" claim holds when the computed bytes are within +-tolerance of X; else the first condition whose
    figure is within it; else it does not hold."""
    if claimed_bytes <= 0:
        raise ValueError("claimed size must be > 0")

    def near(b: float) -> bool:
        return abs(b / claimed_bytes - 1) <= tolerance

    if near(computed_bytes):
        return Verdict("holds")
    for label, b in conditions:
        if near(b):
            return Verdict("holds only with", label)
    return Verdict("does not hold")


def fit_verdict(fits: bool, conditions: Sequence[tuple[str, bool]] = ()) -> Verdict:
    """A "runs on X" claim holds when the literal deployment fits; else the first condition that fits."""
    if fits:
        return Verdict("holds")
    for label, ok in conditions:
        if ok:
            return Verdict("holds only with", label)
    return Verdict("does not hold")


def ratio_verdict(ratio: float, min_ratio: float) -> Verdict:
    """A "nearly as fast as" claim holds when the speed ratio reaches `min_ratio`."""
    return Verdict("holds" if ratio >= min_ratio else "does not hold")


@dataclass(frozen=True)
class ClaimCheck:
    """A claim, its verdict, the computed figure and a sentence built from the numbers."""

    claim: Claim
    verdict: Verdict
    figure: str
    detail: str
    computed_bytes: float | None = None
    ratio: float | None = None

    def as_row(self) -> dict[str, Any]:
        """A flat record for tables and exports."""
        return {
            "claim": self.claim.text,
            "verdict": self.verdict.text,
            "computed": self.figure,
            "why": self.detail,
            "source": self.claim.source,
        }


def _apply(claim: Claim, v: Variant | None) -> Claim:
    """The claim with a reading's request changes applied (its "measure" is handled by the caller)."""
    changes = dict(v.changes) if v else {}
    changes.pop("measure", None)
    return replace(claim, **changes)


def _measure_bytes(cat: Catalog, c: Claim, measure: str) -> float:
    """The bytes a footprint claim is compared with: all weights, device-resident weights, or VRAM (see Measure)."""
    model = cat.model(c.model)
    if measure == "weights":
        return memory.weights(model, c.quant, c.engine, c.text_only).total_bytes
    est = memory.estimate(
        memory.MemoryRequest(
            model=model,
            quant=c.quant,
            context_tokens=c.context_tokens,
            kv_dtype=c.kv_dtype,
            engine=c.engine,
            text_only=c.text_only,
        )
    )
    if measure == "vram":
        return est.placement.gpu_bytes
    return est.placement.gpu_bytes - est.kv_cache_bytes - est.overhead_bytes  # device_weights


def _fit(cat: Catalog, c: Claim, v: Variant | None) -> tuple[bool, list[str]]:
    """Whether the (varied) claim fits on every one of its devices, and one phrase per device."""
    changes = dict(v.changes) if v else {}
    offload = bool(changes.pop("offload_experts", False))
    cc = replace(c, **changes)
    ok_all, phrases = True, []
    for hw_id in cc.hardware:
        hw = cat.device(hw_id)
        where = hw.name if cc.gpus == 1 else f"{cc.gpus} x {hw.name}"
        try:
            est = memory.estimate(
                memory.MemoryRequest(
                    model=cat.model(cc.model),
                    quant=cc.quant,
                    context_tokens=cc.context_tokens,
                    kv_dtype=cc.kv_dtype,
                    engine=cc.engine,
                    text_only=cc.text_only,
                    hardware=hw,
                    gpus=cc.gpus,
                    offload_experts=offload,
                )
            )
        except ValueError as e:
            ok_all = False
            phrases.append(f"{where}: {e}")
            continue
        need = (est.usable_bytes or 0) - (est.margin_bytes or 0)
        txt = (
            f"{where}: needs {need / GiB:,.1f} GiB of {(est.usable_bytes or 0) / GiB:,.1f} GiB usable "
            f"({cc.quant}, {cc.engine}, {_fmt_tokens(cc.context_tokens)} context)"
        )
        if offload:
            txt += f", plus {est.placement.host_bytes / GiB:,.1f} GiB of system RAM"
        txt += "; fits" if est.fits else "; does not fit"
        if not est.fits and est.max_context_tokens:
            txt += f" beyond {_fmt_tokens(est.max_context_tokens)} tokens"
        phrases.append(txt)
        ok_all = ok_all and bool(est.fits)
    return ok_all, phrases


def _closest_quant(cat: Catalog, c: Claim, target_bytes: float) -> tuple[str, float] | None:
    """The GGUF mix whose weight bytes come closest to a claimed figure (what the guide probably measured)."""
    best = None
    for q in cat.selectable_quants:
        try:
            b = memory.weights(cat.model(c.model), q, "llama.cpp", c.text_only).total_bytes
        except ValueError:
            continue
        if best is None or abs(b - target_bytes) < abs(best[1] - target_bytes):
            best = (q, b)
    return best


def check_claim(cat: Catalog, claim: Claim) -> ClaimCheck:
    """Test one claim with the calculators."""
    if claim.kind == "footprint":
        assert claim.claimed_gb is not None
        claimed = claim.claimed_gb * GB
        literal = _measure_bytes(cat, claim, claim.measure)
        conds = [
            (v.label, _measure_bytes(cat, _apply(claim, v), v.changes.get("measure", claim.measure)))
            for v in claim.conditions
        ]
        verdict = footprint_verdict(claimed, literal, conds)
        what = {
            "weights": "weights",
            "device_weights": "device-resident weights",
            "vram": f"VRAM at {_fmt_tokens(claim.context_tokens)} context",
        }[claim.measure]
        figure = f"{literal / GB:,.1f} GB ({literal / GiB:,.1f} GiB) {what}"
        detail = (
            f"The calculators give {literal / GB:,.1f} GB for {claim.quant} {what}, "
            f"{literal / claimed:,.2f}x the claimed {claim.claimed_gb:g} GB"
        )
        if verdict.status == "holds only with":
            b = dict(conds)[verdict.condition]
            detail += f"; with {verdict.condition} it is {b / GB:,.2f} GB"
        elif verdict.status == "does not hold":
            near = _closest_quant(cat, claim, claimed)
            if near and near[0] != claim.quant:
                detail += f"; {claim.claimed_gb:g} GB matches {near[0]} weights ({near[1] / GB:,.1f} GB) instead"
        return ClaimCheck(claim, verdict, figure, detail + ".", computed_bytes=literal)
    if claim.kind == "fits":
        ok, phrases = _fit(cat, claim, None)
        conds = []
        cond_phrases: dict[str, list[str]] = {}
        for v in claim.conditions:
            c_ok, c_ph = _fit(cat, claim, v)
            conds.append((v.label, c_ok))
            cond_phrases[v.label] = c_ph
        verdict = fit_verdict(ok, conds)
        detail = "; ".join(phrases)
        if verdict.status == "holds only with":
            detail += f". With {verdict.condition}: " + "; ".join(cond_phrases[verdict.condition])
        if verdict.status != "holds":
            works = [v.label for v in claim.instead if _fit(cat, claim, v)[0]]
            if works:
                detail += f". What fits instead: {', '.join(works)}"
        return ClaimCheck(claim, verdict, phrases[0].split(": ", 1)[1] if phrases else "", detail + ".")
    # speed_ratio
    assert claim.compare_model is not None
    hw = claim.hardware[0]
    a = forecast(cat.model(claim.model), claim.quant, hw, engine=claim.engine, context_tokens=claim.context_tokens)
    b = forecast(
        cat.model(claim.compare_model), claim.quant, hw, engine=claim.engine, context_tokens=claim.context_tokens
    )
    ratio = a.decode_tokens_per_s / b.decode_tokens_per_s
    verdict = ratio_verdict(ratio, claim.min_ratio)
    name_a, name_b = cat.model(claim.model).name, cat.model(claim.compare_model).name
    figure = f"{a.decode_tokens_per_s:,.0f} vs {b.decode_tokens_per_s:,.0f} tokens/s ({ratio:.0%})"
    detail = (
        f"Forecast single-user decode on {cat.device(hw).name} at {claim.quant}: {name_a} "
        f"{a.decode_tokens_per_s:,.0f} tokens/s ({a.decode_tokens_per_s_low:,.0f}-"
        f"{a.decode_tokens_per_s_high:,.0f}), {name_b} {b.decode_tokens_per_s:,.0f} tokens/s "
        f"({b.decode_tokens_per_s_low:,.0f}-{b.decode_tokens_per_s_high:,.0f}): {ratio:.0%} "
        f"(the claim needs >= {claim.min_ratio:.0%})."
    )
    return ClaimCheck(claim, verdict, figure, detail, ratio=ratio)


def check_claims(cat: Catalog, claims: Sequence[Claim] = CLAIMS) -> list[ClaimCheck]:
    """Every claim checked."""
    return [check_claim(cat, c) for c in claims]
