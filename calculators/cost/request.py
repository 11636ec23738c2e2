"""A cost request (scenario in catalog terms) and the plan it resolves to."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from calculators.cost.compare import CostInputs
from calculators.cost.inputs import Workload

# ---------------------------------------------------------------- from the catalog: prices with sources, capacities


@dataclass(frozen=True)
class Quote:
    """A price or figure as shown to the user: its value, where it came from and when."""

    value: float | None
    source: str  # URL, "typed in", or why there is none
    as_of: str | None = None
    label: str = ""


@dataclass(frozen=True)
class CostRequest:
    """Every input of a cost comparison by catalog id, plus typed overrides (None = from the catalog)."""

    workload: Workload
    model: str
    quant: str = "Q4_K_M"
    engine: str = "llama.cpp"
    hardware: str = "rtx-4090"
    gpus: int = 1  # devices per replica (tensor parallel)
    context_tokens: int = 8192
    prompt_tokens: int = 1000  # per request, for the forecast's TTFT
    output_tokens: int = 200  # per request
    cached_prefix_tokens: int = 0  # leading prompt tokens each request finds in the engine's prefix cache
    # Owned hardware.
    hardware_price_usd: float | None = None
    amortization_months: float = 36
    cost_of_capital: float = 0.0
    power_watts: float | None = None  # per device while computing; None = catalog TDP
    idle_watts: float | None = None
    electricity_usd_per_kwh: float = 0.15
    pue: float = 1.0
    fixed_usd_per_month: float = 0.0
    tokens_per_s: float | None = None  # measured aggregate output tokens/s of one owned replica
    measured_concurrency: int | None = None
    # Cloud.
    cloud_hardware: str | None = None  # None = the owned hardware if rentable, else the cheapest rentable fit
    cloud_model: str | None = None
    cloud_quant: str | None = None
    cloud_engine: str = "vllm"
    cloud_gpus: int | None = None
    cloud_provider: str | None = None
    cloud_usd_per_hour: float | None = None
    cloud_tokens_per_s: float | None = None  # measured aggregate output tokens/s of one cloud replica
    scale_to_zero: bool = False
    # Hosted API.
    api_model: str | None = None
    api_provider: str | None = None
    api_input_usd_per_mtok: float | None = None
    api_output_usd_per_mtok: float | None = None
    api_cached_input_usd_per_mtok: float | None = None


@dataclass(frozen=True)
class CostPlan:
    """A request resolved against the catalog: the pure inputs, each price's provenance, and the sizing."""

    request: CostRequest
    inputs: CostInputs
    quotes: dict[str, Quote]
    labels: dict[str, str]  # option -> "model quant on hardware"
    sizing: dict[str, str]  # option -> plain-words sizing sentence
    throughput_source: str  # of the owned option: "forecast" or "measured"
    missing: dict[str, MissingInput] = field(default_factory=dict)  # option -> what is missing (typed)
    api_substitute: HostedSubstitute | None = None  # set when the API prices the nearest hosted model instead


@dataclass(frozen=True)
class MissingInput:
    """Why an option has no cost, in the user's words, and the CostRequest fields that would supply it."""

    kind: Literal["hardware_price", "power", "owned_throughput", "cloud_price", "cloud_throughput", "api_price"]
    reason: str  # e.g. "no hosted-API price for Gemma 4 E4B in the catalog"
    request_fields: tuple[str, ...] = ()  # e.g. ("api_input_usd_per_mtok", "api_output_usd_per_mtok")


@dataclass(frozen=True)
class HostedSubstitute:
    """The hosted model the API option prices when nobody hosts the scenario's model."""

    requested_model_id: str
    model_id: str
    label: str  # "nobody hosts Gemma 4 E4B; nearest hosted: Gemma 4 26B A4B"


class CostInputError(ValueError):
    """A cost request that cannot be priced at all, in plain words; request_fields name the inputs at fault."""

    def __init__(self, message: str, request_fields: tuple[str, ...] = ()):
        super().__init__(message)
        self.request_fields = request_fields


class HalfApiPrice(CostInputError):
    """Only one of the hosted API's input and output prices was given."""
