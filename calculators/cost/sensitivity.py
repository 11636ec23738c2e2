"""Sensitivity of each option's monthly cost to its inputs (tornado chart)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from calculators.cost.compare import OPTIONS, CostInputs, option_cost
from calculators.cost.inputs import _check

# ---------------------------------------------------------------- sensitivities


SENSITIVITY_FACTORS = ("utilization", "electricity price", "amortization", "API price", "throughput")


@dataclass(frozen=True)
class Sensitivity:
    """An option's monthly cost when one input moves down and up by `pct`."""

    factor: str
    option: str
    pct: float
    base_usd_per_month: float
    low_input_usd_per_month: float  # cost with the input at -pct
    high_input_usd_per_month: float  # cost with the input at +pct

    @property
    def swing_usd(self) -> float:
        """Width of the tornado bar."""
        return abs(self.high_input_usd_per_month - self.low_input_usd_per_month)


def _perturbed(inputs: CostInputs, factor: str, k: float) -> CostInputs:
    """Inputs with one factor multiplied by k."""
    if factor == "utilization":
        w = replace(inputs.workload, utilization=min(1.0, inputs.workload.utilization * k))
        return replace(inputs, workload=w)
    if factor == "electricity price" and inputs.owned:
        return replace(
            inputs, owned=replace(inputs.owned, electricity_usd_per_kwh=inputs.owned.electricity_usd_per_kwh * k)
        )
    if factor == "amortization" and inputs.owned:
        return replace(inputs, owned=replace(inputs.owned, amortization_months=inputs.owned.amortization_months * k))
    if factor == "API price" and inputs.api:
        return replace(inputs, api=inputs.api.scaled(k))
    if factor == "throughput":
        return replace(
            inputs,
            owned_capacity=inputs.owned_capacity.scaled(k) if inputs.owned_capacity else None,
            cloud_capacity=inputs.cloud_capacity.scaled(k) if inputs.cloud_capacity else None,
        )
    return inputs


def sensitivities(
    inputs: CostInputs, pct: float = 0.2, factors: Iterable[str] = SENSITIVITY_FACTORS
) -> tuple[Sensitivity, ...]:
    """Tornado data: each factor at -pct and +pct, for every priced option, biggest swing first."""
    _check(0 < pct < 1, "sensitivity percentage must be between 0 and 100 (exclusive)")
    out = []
    for name in OPTIONS:
        base = option_cost(inputs, name)
        if base is None:
            continue
        for f in factors:
            lo = option_cost(_perturbed(inputs, f, 1 - pct), name)
            hi = option_cost(_perturbed(inputs, f, 1 + pct), name)
            assert lo is not None and hi is not None
            out.append(Sensitivity(f, name, pct, base.usd_per_month, lo.usd_per_month, hi.usd_per_month))
    return tuple(sorted(out, key=lambda s: (OPTIONS.index(s.option), -s.swing_usd)))
