"""All three options side by side: costs, break-evens, payback, cost curves."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from calculators.cost.breakeven import Breakeven, breakeven_monthly_tokens, payback_months
from calculators.cost.inputs import Capacity, CloudGpu, HostedApi, OwnedHardware, Workload
from calculators.cost.lines import CostLine, api_line, cloud_line, owned_line
from calculators.cost.options import OptionCost, api_cost, cloud_cost, owned_cost

OPTIONS = ("owned", "cloud", "api")
PAIRS = (("owned", "cloud"), ("owned", "api"), ("cloud", "api"))


# ---------------------------------------------------------------- the whole comparison


@dataclass(frozen=True)
class CostInputs:
    """Everything a comparison needs; an option left None is reported missing with the reason in `missing`."""

    workload: Workload
    owned: OwnedHardware | None = None
    owned_capacity: Capacity | None = None
    cloud: CloudGpu | None = None
    cloud_capacity: Capacity | None = None
    api: HostedApi | None = None
    missing: dict[str, str] = field(default_factory=dict)

    def line(self, option: str, w: Workload | None = None) -> CostLine | None:
        """The option's cost line for workload `w` (default: this workload); None when the option is missing."""
        w = w or self.workload
        if option == "owned" and self.owned and self.owned_capacity:
            return owned_line(w, self.owned_capacity, self.owned)
        if option == "cloud" and self.cloud and self.cloud_capacity:
            return cloud_line(w, self.cloud_capacity, self.cloud)
        if option == "api" and self.api:
            return api_line(w, self.api)
        return None

    def missing_reason(self, option: str) -> str:
        """Why an option cannot be priced."""
        return self.missing.get(option, f"no {option} inputs given")


@dataclass(frozen=True)
class Comparison:
    """The three options at one workload, the break-evens between them and the hardware payback."""

    options: dict[str, OptionCost | None]
    missing: dict[str, str]
    breakevens: tuple[Breakeven, ...]
    payback: dict[str, float | None]  # "vs_cloud", "vs_api" -> months (None = never or not comparable)
    payback_notes: dict[str, str]
    cheapest: str | None

    def to_dict(self) -> dict[str, Any]:
        """The CLI's JSON shape: owned / cloud / api objects, breakeven_monthly_tokens and payback_months."""
        out: dict[str, Any] = {}
        for name in OPTIONS:
            o = self.options.get(name)
            out[name] = (
                o.to_dict()
                if o
                else {"usd_per_month": None, "usd_per_mtok": None, "missing": self.missing.get(name, "not given")}
            )
        out["cheapest"] = self.cheapest
        out["breakeven_monthly_tokens"] = {b.key: b.monthly_tokens for b in self.breakevens}
        out["breakeven"] = {
            b.key: {
                "monthly_tokens": b.monthly_tokens,
                "cheaper_below": b.cheaper_below,
                "at_capacity_step": b.at_capacity_step,
                "note": b.note,
            }
            for b in self.breakevens
        }
        out["payback_months"] = dict(self.payback)
        out["payback_notes"] = dict(self.payback_notes)
        return out


def option_cost(inputs: CostInputs, option: str, w: Workload | None = None) -> OptionCost | None:
    """One option's cost at workload `w` (default: the inputs' workload); None when it is missing."""
    w = w or inputs.workload
    if option == "owned" and inputs.owned and inputs.owned_capacity:
        return owned_cost(w, inputs.owned_capacity, inputs.owned)
    if option == "cloud" and inputs.cloud and inputs.cloud_capacity:
        return cloud_cost(w, inputs.cloud_capacity, inputs.cloud)
    if option == "api" and inputs.api:
        return api_cost(w, inputs.api)
    return None


def compare(inputs: CostInputs) -> Comparison:
    """Price every available option, solve the break-evens of each pair and the hardware's payback."""
    options = {name: option_cost(inputs, name) for name in OPTIONS}
    missing = {name: inputs.missing_reason(name) for name, o in options.items() if o is None}
    breakevens = []
    for a, b in PAIRS:
        la, lb = inputs.line(a), inputs.line(b)
        if la is None or lb is None:
            gone = a if la is None else b
            breakevens.append(Breakeven(a, b, None, None, False, f"{gone} is not priced: {missing[gone]}"))
        else:
            breakevens.append(breakeven_monthly_tokens(la, lb, (a, b)))
    payback: dict[str, float | None] = {"vs_cloud": None, "vs_api": None}
    notes: dict[str, str] = {}
    owned = options["owned"]
    for alt in ("cloud", "api"):
        key = f"vs_{alt}"
        other = options[alt]
        if owned is None or other is None:
            notes[key] = "not comparable: " + (missing.get("owned") if owned is None else missing[alt])
            continue
        assert inputs.owned is not None
        upfront = inputs.owned.price_usd * owned.gpus
        running = owned.breakdown_usd_per_month["energy"] + owned.breakdown_usd_per_month["fixed"]
        months = payback_months(upfront, running, other.usd_per_month, inputs.owned.cost_of_capital)
        payback[key] = months
        if months is None:
            notes[key] = f"never: running the hardware costs at least as much as the {alt} option saves"
        else:
            notes[key] = f"{upfront:,.0f} USD upfront, saving {other.usd_per_month - running:,.2f} USD a month"
            if months > inputs.owned.amortization_months:
                notes[key] += f"; longer than the {inputs.owned.amortization_months:g}-month amortisation period"
    priced = {k: v for k, v in options.items() if v is not None}
    cheapest = min(priced, key=lambda k: priced[k].usd_per_month) if priced else None
    return Comparison(options, missing, tuple(breakevens), payback, notes, cheapest)


def cost_curves(inputs: CostInputs, monthly_tokens: Sequence[float]) -> dict[str, list[float | None]]:
    """Monthly cost of each option at each total volume (same mix, concurrency and utilisation)."""
    out: dict[str, list[float | None]] = {}
    for name in OPTIONS:
        line = inputs.line(name)
        out[name] = [None if line is None else line.usd_per_month(v) for v in monthly_tokens]
    return out


def curve_volumes(monthly_tokens: float, breakevens: Iterable[Breakeven], n: int = 240) -> list[float]:
    """n log-spaced volumes: two decades either side of the workload (at least 1 M), widened to show each break-even."""
    v_now = max(monthly_tokens, 1e6)
    found = [b.monthly_tokens for b in breakevens if b.monthly_tokens]
    lo = min([v_now / 100, *(v / 10 for v in found)])
    hi = max([v_now * 100, *(v * 10 for v in found)])
    return [lo * (hi / lo) ** (i / (n - 1)) for i in range(n)]
