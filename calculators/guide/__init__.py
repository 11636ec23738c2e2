"""Decision guide: rank model variants for a deployment target, and check published claims, from the calculators.

Nothing here is a lookup table of answers: every figure comes from calculators.memory (fit, margin, largest
context), calculators.throughput (decode speed with its range), calculators.cost (monthly cost) and the
catalog's published benchmark scores. Rules that turn figures into a rank are spelled out in `rank_key`."""

from calculators.guide.checks import (
    ClaimCheck,
    Verdict,
    VerdictStatus,
    check_claim,
    check_claims,
    fit_verdict,
    footprint_verdict,
    ratio_verdict,
)
from calculators.guide.claims import CLAIMS, PUBLISHED_GUIDES, Claim, ClaimKind, Measure, Variant
from calculators.guide.rank import STATUS_ORDER, Candidate, Status, evaluate, explain, rank, rank_key
from calculators.guide.targets import (
    ENGINE_QUANTS,
    GB,
    TARGET_BY_ID,
    TARGETS,
    WORKLOAD_BENCHMARKS,
    WORKLOAD_LABELS,
    GiB,
    GuideRequest,
    Target,
    quality_scores,
)

__all__ = [
    "CLAIMS",
    "Candidate",
    "Claim",
    "ClaimCheck",
    "ClaimKind",
    "ENGINE_QUANTS",
    "GB",
    "GiB",
    "GuideRequest",
    "Measure",
    "PUBLISHED_GUIDES",
    "STATUS_ORDER",
    "Status",
    "TARGETS",
    "TARGET_BY_ID",
    "Target",
    "Variant",
    "Verdict",
    "VerdictStatus",
    "WORKLOAD_BENCHMARKS",
    "WORKLOAD_LABELS",
    "check_claim",
    "check_claims",
    "evaluate",
    "explain",
    "fit_verdict",
    "footprint_verdict",
    "quality_scores",
    "rank",
    "rank_key",
    "ratio_verdict",
]
