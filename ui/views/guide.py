"""Guide page view: the ranking of every variant for the scenario's target and workload, and the claims check."""

from __future__ import annotations

from dataclasses import dataclass

from calculators.guide import (  # noqa: F401 - the targets, formats and workloads the page lists
    ENGINE_QUANTS,
    TARGET_BY_ID,
    TARGETS,
    WORKLOAD_BENCHMARKS,
    WORKLOAD_LABELS,
    Candidate,
    ClaimCheck,
    GuideRequest,
    check_claims,
    rank,
)
from model_specs import Catalog
from ui.scenario import Scenario
from ui.views import memo

DEFAULT_MIN_TOKENS_PER_S = 10.0  # slowest acceptable decode when the scenario sets none


@dataclass(frozen=True)
class GuideView:
    """Every number the Guide page shows for one scenario."""

    scenario: Scenario
    request: GuideRequest
    where: str  # the target's label, or the sidebar's devices
    ranked: list[Candidate]
    error: str | None

    @property
    def fitting(self) -> list[Candidate]:
        """Candidates that are not ruled out, best first."""
        return [c for c in self.ranked if c.status != "ruled out"]

    def rows(self, show_ruled_out: bool | None = None) -> list[dict]:
        """The ranking table's rows (ruled-out variants as the scenario says, unless told)."""
        show = self.scenario.show_out if show_ruled_out is None else show_ruled_out
        return [c.as_row() for c in self.ranked if show or c.status != "ruled out"]


def guide_request(s: Scenario) -> GuideRequest:
    """The guide's request for a scenario: its target (or the sidebar hardware) and the guide inputs."""
    if s.tgt:
        t = TARGET_BY_ID[s.tgt]
        hw, gpus, engine = t.hardware_ids, t.gpus, t.engine
    else:
        hw, gpus, engine = (s.hw,), s.gpus, s.engine
    return GuideRequest(
        hardware_ids=hw,
        gpus=gpus,
        engine=engine,
        context_tokens=s.ctx,
        modalities=frozenset(m for m in s.mods.split(",") if m),
        private=s.private,
        workload=s.work,
        monthly_input_tokens=s.in_mtok * 1e6,
        monthly_output_tokens=s.out_mtok * 1e6,
        concurrency=s.conc,
        budget_usd_per_month=s.budget,
        min_tokens_per_s=s.user_tps or DEFAULT_MIN_TOKENS_PER_S,
    )


def sidebar_hardware(s: Scenario, cat: Catalog) -> str:
    """The sidebar's devices, e.g. '2 x NVIDIA GeForce RTX 4090'."""
    name = cat.device(s.hw).name
    return name if s.gpus == 1 else f"{s.gpus} x {name}"


_RANKED: dict[tuple, tuple] = {}
_CLAIMS: dict[tuple, tuple] = {}


def build_guide_view(s: Scenario, cat: Catalog) -> GuideView:
    """The Guide page's view of `s` (rankings memoised per request: ranking sizes every variant)."""
    req = guide_request(s)
    where = TARGET_BY_ID[s.tgt].label if s.tgt else sidebar_hardware(s, cat)
    try:
        return GuideView(s, req, where, memo(_RANKED, (repr(req),), cat, lambda: rank(cat, req), 32), None)
    except ValueError as e:
        return GuideView(s, req, where, [], str(e))


def claims(cat: Catalog) -> tuple[ClaimCheck, ...]:
    """Published guides' claims, each recomputed with the calculators (memoised per catalog)."""
    return memo(_CLAIMS, (), cat, lambda: tuple(check_claims(cat)), 4)
