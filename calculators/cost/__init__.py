"""Cost models: owned hardware vs cloud GPU vs hosted API, with break-even volumes, payback and sensitivities.

Pure functions in USD, seconds and tokens. Throughput is a plain input (output tokens/s of one replica, see
`Capacity`), so every figure can be checked by hand; `capacity_from_forecast` is the thin adapter that builds
it from the speed forecast. Assumptions, stated once (docs/cost-cli.md repeats them):

- A month is 730 hours (8760 h / 12) and 30.42 days.
- Traffic arrives during `utilization` x 730 busy hours a month. Enough replicas are provisioned to (a) hold
  the peak concurrency within the latency target and (b) serve the month's tokens inside those busy hours.
- A replica is `gpus_per_replica` devices serving one copy of the model; replica work time is
  output_tokens / output_tokens_per_s + input_tokens / prefill_tokens_per_s (prefill left out when unknown).
  From the forecast, a replica's rate is taken at the concurrency the workload implies (the peak, or the average
  load of the busy hours by Little's law if larger), capped by the latency target and the KV cache.
- Owned hardware draws `busy_watts` per device while it computes and `idle_watts` for the rest of the month,
  times PUE; it is bought outright (no resale value) and paid off in equal monthly instalments over the
  amortisation period (an annuity at the annual cost of capital / 12 a month; straight line at rate 0).
- Cloud always-on bills every hour of the month for every provisioned GPU; scale-to-zero bills only the busy
  hours (no cold-start or minimum-billing charges).
- Hosted API: tokens / 1e6 x price; a `cached_input_share` of input tokens is billed at the cached price where
  one is known (by default the cached prompt prefix's share of the prompt, `prefix_cached_input_share`).
- Break-even volumes keep the input:output mix, peak concurrency, utilisation and replica throughput fixed and
  vary only the total monthly tokens; between capacity steps every cost is linear in volume, so the break-even is solved in closed
  form segment by segment."""

from calculators.cost.breakeven import MAX_BREAKEVEN_TOKENS, Breakeven, breakeven_monthly_tokens, payback_months
from calculators.cost.capacity import (
    ForecastAt,
    ForecastFactory,
    capacity_from_forecast,
    capacity_from_measured,
    default_forecast_factory,
    measured_efficiency,
    measured_forecast_factory,
    sizing_sentence,
)
from calculators.cost.compare import (
    OPTIONS,
    PAIRS,
    Comparison,
    CostInputs,
    compare,
    cost_curves,
    curve_volumes,
    option_cost,
)
from calculators.cost.inputs import (
    DAYS_PER_MONTH,
    DEFAULT_IDLE_SHARE,
    DEFAULT_INPUT_SHARE,
    HOURS_PER_MONTH,
    Capacity,
    CloudGpu,
    HostedApi,
    OwnedHardware,
    Workload,
    prefix_cached_input_share,
)
from calculators.cost.lines import (
    CostLine,
    api_blended_usd_per_mtok,
    api_line,
    cloud_line,
    monthly_capital_usd,
    owned_line,
)
from calculators.cost.options import OptionCost, api_cost, cloud_cost, owned_cost
from calculators.cost.plan import plan_costs
from calculators.cost.prices import (
    api_prices_for,
    cloud_hardware_for,
    cloud_prices_for,
    default_cloud_quant,
    nearest_hosted_model,
)
from calculators.cost.request import (
    CostInputError,
    CostPlan,
    CostRequest,
    HalfApiPrice,
    HostedSubstitute,
    MissingInput,
    Quote,
)
from calculators.cost.sensitivity import SENSITIVITY_FACTORS, Sensitivity, sensitivities
from calculators.cost.slo import (
    MeasuredCapacity,
    SloCost,
    SloCostError,
    SloReplicas,
    cloud_slo_cost,
    owned_slo_cost,
    slo_replicas,
)

__all__ = [
    "Breakeven",
    "Capacity",
    "CloudGpu",
    "Comparison",
    "CostInputError",
    "CostInputs",
    "CostLine",
    "CostPlan",
    "CostRequest",
    "DAYS_PER_MONTH",
    "DEFAULT_IDLE_SHARE",
    "DEFAULT_INPUT_SHARE",
    "ForecastAt",
    "ForecastFactory",
    "HOURS_PER_MONTH",
    "HalfApiPrice",
    "HostedApi",
    "HostedSubstitute",
    "MAX_BREAKEVEN_TOKENS",
    "MeasuredCapacity",
    "MissingInput",
    "OPTIONS",
    "OptionCost",
    "OwnedHardware",
    "PAIRS",
    "Quote",
    "SENSITIVITY_FACTORS",
    "Sensitivity",
    "SloCost",
    "SloCostError",
    "SloReplicas",
    "Workload",
    "api_blended_usd_per_mtok",
    "api_cost",
    "api_line",
    "api_prices_for",
    "breakeven_monthly_tokens",
    "capacity_from_forecast",
    "capacity_from_measured",
    "cloud_cost",
    "cloud_hardware_for",
    "cloud_line",
    "cloud_slo_cost",
    "cloud_prices_for",
    "compare",
    "cost_curves",
    "curve_volumes",
    "default_cloud_quant",
    "default_forecast_factory",
    "measured_efficiency",
    "measured_forecast_factory",
    "monthly_capital_usd",
    "nearest_hosted_model",
    "option_cost",
    "owned_cost",
    "owned_line",
    "owned_slo_cost",
    "payback_months",
    "prefix_cached_input_share",
    "plan_costs",
    "sensitivities",
    "sizing_sentence",
    "slo_replicas",
]
