"""Break-even monthly volumes between options, and payback months of owned hardware."""

from __future__ import annotations

import math
from dataclasses import dataclass

from calculators.cost.lines import CostLine

MAX_BREAKEVEN_TOKENS = 1e16  # tokens/month; beyond this a break-even is reported as none
_MAX_SEGMENTS = 20_000


# ---------------------------------------------------------------- break-even and payback


@dataclass(frozen=True)
class Breakeven:
    """Total monthly tokens (at the workload's mix) where the cheaper of two options changes."""

    a: str
    b: str
    monthly_tokens: float | None
    cheaper_below: str | None  # the option that is cheaper at lower volume
    at_capacity_step: bool = False  # the cheaper option changes where one more replica is added (a jump)
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.a}_vs_{self.b}"


def _sign(x: float, tol: float) -> int:
    return 0 if abs(x) <= tol else (1 if x > 0 else -1)


def _envelope(line: CostLine) -> tuple[float, float, float, float]:
    """(intercept, slope, slack, from_tokens): cost(V) in [intercept + slope V, ... + slack) for V >= from_tokens."""
    if math.isinf(line.tokens_per_replica):
        return line.usd_fixed + line.usd_per_replica * line.min_replicas, line.usd_per_token, 0.0, 0.0
    # ceil(V / c) <= replicas < V / c + 1 once V is past the minimum replica count's capacity.
    slope = line.usd_per_token + line.usd_per_replica / line.tokens_per_replica
    return line.usd_fixed, slope, line.usd_per_replica, max(line.min_replicas, 1) * line.tokens_per_replica


def breakeven_monthly_tokens(
    a: CostLine, b: CostLine, names: tuple[str, str] = ("a", "b"), max_tokens: float = MAX_BREAKEVEN_TOKENS
) -> Breakeven:
    """First volume V > 0 where cost_a(V) - cost_b(V) changes sign.

    Between capacity steps both costs are linear, so the root in a stretch is -(intercept difference) / (slope
    difference); where the sign flips across a step, the step's volume is returned with at_capacity_step=True (no
    volume there gives equal costs). Stretches where the linear envelopes of the two step functions prove that the
    order cannot change are skipped, and "cheaper at every volume" is only said when the envelopes prove it.
    """
    na, nb = names

    def segment(line: CostLine, v: float) -> tuple[int, float]:
        """(replicas of the capacity segment holding v, the volume where that segment ends)."""
        if math.isinf(line.tokens_per_replica):
            return line.min_replicas, math.inf
        r = max(line.min_replicas, 1, math.ceil(v / line.tokens_per_replica))  # any traffic needs one replica
        return r, r * line.tokens_per_replica

    (ra, next_a), (rb, next_b) = segment(a, 0.0), segment(b, 0.0)
    ia, sa, slack_a, from_a = _envelope(a)
    ib, sb, slack_b, from_b = _envelope(b)
    sigma, k_env, v_env = sa - sb, ia - ib, max(from_a, from_b)
    m = a.usd_per_token - b.usd_per_token
    lo, s0 = 0.0, 0
    for _ in range(_MAX_SEGMENTS):
        hi = min(next_a, next_b, max_tokens)
        ka, kb = a.usd_fixed + a.usd_per_replica * ra, b.usd_fixed + b.usd_per_replica * rb
        k = ka - kb  # cost_a - cost_b = k + m V on (lo, hi]
        # Tolerance relative to the costs compared, so rounding never fakes a crossing.
        tol_lo = 1e-9 * max(1.0, abs(ka + a.usd_per_token * lo), abs(kb + b.usd_per_token * lo))
        tol_hi = 1e-9 * max(1.0, abs(ka + a.usd_per_token * hi), abs(kb + b.usd_per_token * hi))
        s_lo, s_hi = _sign(k + m * lo, tol_lo), _sign(k + m * hi, tol_hi)
        if s0 == 0:
            s0 = s_lo or _sign(m, 0.0)
        elif s_lo != s0:  # flipped (or became equal) across a capacity step
            return Breakeven(
                na, nb, lo, na if s0 < 0 else nb, True, "the cheaper option changes where one more replica is added"
            )
        if s0 and s_hi != s0:
            root = min(max(-k / m, lo), hi) if m else lo
            return Breakeven(na, nb, root, na if s0 < 0 else nb, False, "costs are equal here")
        if s0 and hi >= v_env:
            # For V >= hi: k_env + sigma V - slack_b < cost_a - cost_b < k_env + sigma V + slack_a, so `gap` bounds
            # how far the order is from flipping; it shrinks at `rate` per token when that is positive.
            gap = -(k_env + sigma * hi + slack_a) if s0 < 0 else k_env + sigma * hi - slack_b
            rate = -s0 * sigma
            tol = 1e-9 * max(1.0, abs(ia + sa * hi), abs(ib + sb * hi))
            if gap > tol and rate <= 0:
                cheap = na if s0 < 0 else nb
                return Breakeven(na, nb, None, cheap, False, f"{cheap} is cheaper at every volume")
            if gap > tol and hi < max_tokens and hi + (gap - tol) / rate > min(next_a, next_b):
                lo = min(hi + (gap - tol) / rate, max_tokens)  # the order cannot flip before here
                (ra, next_a), (rb, next_b) = segment(a, lo), segment(b, lo)
                continue
        if hi >= max_tokens:
            break
        lo = hi
        if hi == next_a:
            ra += 1
            next_a = ra * a.tokens_per_replica
        if hi == next_b:
            rb += 1
            next_b = rb * b.tokens_per_replica
    if s0 == 0:
        return Breakeven(na, nb, None, None, False, "the two options cost the same at every volume")
    cheap = na if s0 < 0 else nb
    return Breakeven(
        na, nb, None, cheap, False, f"{cheap} is cheaper up to at least {lo:.3g} tokens/month; no break-even below that"
    )


def payback_months(
    upfront_usd: float, owned_running_usd_per_month: float, alternative_usd_per_month: float, annual_rate: float = 0.0
) -> float | None:
    """Months until buying pays back against an alternative; None when it never does.

    Monthly saving S = alternative - owned running cost (power + fixed). Without cost of capital the payback is
    upfront / S; with a monthly rate r the discounted payback is -ln(1 - upfront x r / S) / ln(1 + r).
    """
    if upfront_usd <= 0:
        return 0.0
    saving = alternative_usd_per_month - owned_running_usd_per_month
    if saving <= 0:
        return None
    r = annual_rate / 12
    if r == 0:
        return upfront_usd / saving
    x = 1 - upfront_usd * r / saving
    if x <= 0:
        return None
    return -math.log(x) / math.log1p(r)
