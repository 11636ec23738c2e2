"""Check published claims (footprints, fits, ratios) against the calculators, with a verdict each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from calculators import memory
from calculators.guide.claims import CLAIMS, Claim, Variant
from calculators.guide.rank import _fmt_tokens
from calculators.guide.targets import GB, GiB
from calculators.serving.forecast import served_forecast
from model_specs.loader import Catalog

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
    hw = cat.device(claim.hardware[0])
    kw = dict(engine=claim.engine, context_tokens=claim.context_tokens)
    a = served_forecast(cat.model(claim.model), claim.quant, hw, **kw)
    b = served_forecast(cat.model(claim.compare_model), claim.quant, hw, **kw)
    ratio = a.decode_tokens_per_s / b.decode_tokens_per_s
    verdict = ratio_verdict(ratio, claim.min_ratio)
    name_a, name_b = cat.model(claim.model).name, cat.model(claim.compare_model).name
    figure = f"{a.decode_tokens_per_s:,.0f} vs {b.decode_tokens_per_s:,.0f} tokens/s ({ratio:.0%})"
    detail = (
        f"Forecast single-user decode on {hw.name} at {claim.quant}: {name_a} "
        f"{a.decode_tokens_per_s:,.0f} tokens/s ({a.decode_tokens_per_s_low:,.0f}-"
        f"{a.decode_tokens_per_s_high:,.0f}), {name_b} {b.decode_tokens_per_s:,.0f} tokens/s "
        f"({b.decode_tokens_per_s_low:,.0f}-{b.decode_tokens_per_s_high:,.0f}): {ratio:.0%} "
        f"(the claim needs >= {claim.min_ratio:.0%})."
    )
    return ClaimCheck(claim, verdict, figure, detail, ratio=ratio)


def check_claims(cat: Catalog, claims: Sequence[Claim] = CLAIMS) -> list[ClaimCheck]:
    """Every claim checked."""
    return [check_claim(cat, c) for c in claims]
