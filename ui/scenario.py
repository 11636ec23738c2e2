"""The Scenario: every input a page can set, and its round trip to a URL query string."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from model_specs import Catalog

KvDtype = Literal["f16", "bf16", "fp8", "q8_0", "q4_0"]
EngineName = Literal["llama.cpp", "ollama", "vllm", "transformers"]
GuideTarget = Literal["phone", "edge", "laptop-cpu", "mac-16", "gpu-24", "server", "multi-gpu"]
GuideWorkload = Literal["chat", "agentic", "reasoning"]
ThroughputSource = Literal["forecast", "typed", "probe"]
CostOption = Literal["owned", "cloud", "api"]

DEFAULT_MODEL = "gemma-4-e4b"
DEFAULT_HARDWARE = "rtx-4090"


class Scenario(BaseModel):
    """Every input the dashboard's pages share; one instance per browser session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = DEFAULT_MODEL
    quant: str = "Q4_K_M"
    ctx: int = Field(default=8192, ge=256, le=1_048_576)
    engine: EngineName = "llama.cpp"
    kv: KvDtype = "f16"
    hw: str = DEFAULT_HARDWARE
    gpus: int = Field(default=1, ge=1, le=16)
    conc: int = Field(default=1, ge=1, le=1024)
    text_only: bool = False
    # Cost inputs.
    in_mtok: float = Field(default=100.0, ge=0, le=1e7)  # monthly input tokens, millions
    out_mtok: float = Field(default=20.0, ge=0, le=1e7)  # monthly output tokens, millions
    api_in: float | None = Field(default=None, ge=0, le=1000)  # USD per million input tokens; None = catalog
    api_out: float | None = Field(default=None, ge=0, le=1000)
    cloud_hr: float | None = Field(default=None, ge=0, le=1000)  # USD per GPU-hour; None = catalog
    hw_usd: float | None = Field(default=None, ge=0, le=1e7)  # purchase price; None = catalog
    months: int = Field(default=36, ge=1, le=120)  # amortisation
    kwh: float = Field(default=0.15, ge=0, le=10)  # USD per kWh
    util: float = Field(default=0.5, ge=0.01, le=1.0)  # share of hours the hardware is busy
    # Cost-page extras (optional; None = from the catalog or the fields above).
    cloud_hw: str | None = None  # hardware id to rent; None = `hw` if rentable, else the cheapest rentable fit
    cloud_model: str | None = None  # model on the rented GPU; None = `model`
    cloud_q: str | None = None  # quantization on the rented GPU; None = `quant` if vLLM runs it, else AWQ
    api_model: str | None = None  # model behind the hosted API; None = `model`
    ttft_s: float | None = Field(default=None, gt=0, le=600)  # latency target: p95 time to first token, s
    user_tps: float | None = Field(default=None, gt=0, le=10_000)  # latency target: output tokens/s per user
    watts: float | None = Field(default=None, ge=0, le=100_000)  # owned draw per device; None = catalog TDP
    s2z: bool = False  # cloud billed for busy hours only (scale-to-zero)
    # Decision-guide inputs (pages/guide.py); target ids are calculators.guide.TARGETS (a test keeps them equal).
    tgt: GuideTarget | None = None  # where the model must run; None = the sidebar's hardware, GPUs and engine
    work: GuideWorkload = "chat"  # which published scores matter
    mods: str = Field(default="", pattern=r"^((image|audio)(,(image|audio))*)?$")  # inputs beyond text
    private: bool = False  # no external API: hosted APIs left out
    budget: float | None = Field(default=None, ge=0, le=1e7)  # USD a month; None = no limit
    show_out: bool = False  # guide: list the ruled-out variants too
    # Memory-page inputs (llama.cpp / Ollama placement).
    ple_host: bool = True  # per-layer-embedding table in host memory (their default)
    moe_host: bool = False  # routed MoE experts in host memory (--cpu-moe)
    # Memory page, "Bring your own model" (ui/views/byo.py); read through the FetchGuard whenever a link is opened.
    gguf: str | None = Field(default=None, min_length=1, max_length=2000)  # GGUF path, http(s) URL or hf://...
    mmproj: str | None = Field(default=None, min_length=1, max_length=2000)  # the GGUF's vision/audio projector
    hf: str | None = Field(default=None, min_length=1, max_length=200)  # Hugging Face id ORG/NAME[@REVISION]
    hf_file: str | None = Field(default=None, min_length=1, max_length=500)  # a GGUF file of that repo, by path
    # Speed-page inputs; None = derived from the context (min(512, ctx/2) prompt, min(256, rest) output).
    prompt: int | None = Field(default=None, ge=0, le=1_048_576)  # prompt tokens per request
    out_tok: int | None = Field(default=None, ge=1, le=1_048_576)  # output tokens per request
    cold: bool = False  # cold start: weights loaded from disk first
    served: str | None = Field(default=None, max_length=200, pattern=r"^[\w.:/@+-]+$")  # probe name; None = model
    use_meas: bool = False  # speed: the stored probe measurement replaces the fitted efficiency
    thr: int | None = Field(default=None, ge=1, le=1024)  # speed: CPU threads (llama.cpp -t); None = engine default
    pfx: int = Field(default=0, ge=0, le=1_048_576)  # speed: leading prompt tokens in the engine's prefix cache
    # Cost-page inputs beyond the prices above.
    pue: float = Field(default=1.0, ge=1.0, le=3.0)  # facility overhead on owned power
    coc: float = Field(default=0.0, ge=0, le=100)  # cost of capital, annual %
    fixed: float = Field(default=0.0, ge=0, le=1e7)  # other fixed owned costs, USD a month
    tput: ThroughputSource = "forecast"  # owned throughput: forecast, a typed rate or a stored probe run
    meas_tps: float = Field(default=50.0, ge=0.1, le=1e7)  # typed aggregate output tokens/s
    meas_run: str | None = Field(default=None, pattern=r"^[0-9a-f]{1,32}@[0-9]{1,4}$")  # stored run "id@concurrency"
    cap_run: str | None = Field(default=None, pattern=r"^[0-9a-f]{1,32}$")  # stored capacity run priced at its SLO
    cloud_prov: str | None = Field(default=None, max_length=100)  # cloud provider; None = the catalog's cheapest
    api_prov: str | None = Field(default=None, max_length=100)  # API provider; None = the catalog's cheapest
    sens: int = Field(default=20, ge=5, le=50)  # sensitivity: each input moved by this many %
    tor: CostOption | None = None  # option the sensitivity chart is drawn for; None = the first priced
    # Variants-page inputs.
    fams: str | None = Field(default=None, pattern=r"^[\w.,-]*$")  # families shown, comma-separated; None = all
    score: str | None = Field(default=None, max_length=100)  # benchmark of the quality chart; None = the first

    # Probe page (pages/probe.py, ui/views/probe.py): the run form; never the API key. Limits as probe/guard.py.
    p_url: str = Field(default="http://127.0.0.1:11434", max_length=300)  # endpoint base URL
    p_backend: Literal["auto", "ollama", "openai"] = "auto"
    p_model: str = Field(default="", max_length=200)  # model name as the server knows it
    p_loop: Literal["closed", "open"] = "closed"  # closed: users (p_conc); open: requests/s (p_rate)
    p_conc: str = Field(default="1,2,4", pattern=r"^\d{1,3}(,\d{1,3}){0,15}$")  # users per level
    # requests/s per level
    p_rate: str = Field(default="1,2,4", pattern=r"^\d{1,4}(\.\d{1,3})?(,\d{1,4}(\.\d{1,3})?){0,15}$")
    p_arrival: Literal["poisson", "constant", "gamma"] = "poisson"
    p_burst: float = Field(default=1.0, gt=0, le=100)  # gamma shape: 1 = Poisson
    p_dur: float | None = Field(default=None, gt=0, le=3600)  # seconds per level; None = p_req requests
    p_req: int = Field(default=8, ge=1, le=1024)  # requests per level
    p_maxc: int | None = Field(default=None, ge=1, le=256)  # open loop: most requests in flight; None = no cap
    p_seed: int = Field(default=0, ge=0, le=2**31 - 1)  # open-loop schedule seed
    p_workers: int = Field(default=1, ge=1, le=64)  # worker processes
    p_ptok: int = Field(default=128, ge=1, le=131_072)  # prompt tokens (approx.)
    p_otok: int = Field(default=64, ge=1, le=32_768)  # max output tokens
    p_warm: int = Field(default=1, ge=0, le=8)  # warm-up requests
    p_rto: float = Field(default=60.0, ge=1, le=3600)  # read timeout, s
    p_dl: float = Field(default=600.0, ge=5, le=7200)  # deadline of the whole run, s
    p_save: bool = True  # store the run
    p_search: Literal["off", "concurrency", "rate"] = "off"  # capacity mode: search users or requests/s under the SLO
    p_smax: float = Field(default=16.0, ge=1, le=1024)  # search maximum (users or requests/s)
    p_ttft: float | None = Field(default=None, gt=0, le=3_600_000)  # SLO: time to first token, ms; None = no target
    p_tpot: float | None = Field(default=None, gt=0, le=3_600_000)  # SLO: time per output token, ms
    p_e2e: float | None = Field(default=None, gt=0, le=3_600_000)  # SLO: whole request, ms
    p_att: float = Field(default=0.95, gt=0, le=1)  # SLO: share of requests that must meet every target
    p_cmp: str = Field(default="", pattern=r"^([0-9a-f]{1,32}(,[0-9a-f]{1,32}){0,15})?$")  # stored runs compared
    p_fc_model: str | None = None  # forecast vs measured: catalog model; None = guessed from the served name
    p_fc_q: str | None = None  # forecast vs measured: quantization; None = the server's or the scenario's

    @field_validator("gguf", "mmproj")
    @classmethod
    def _no_credentials(cls, v: str | None) -> str | None:
        """A location goes into the link: a user:password@ part (a credential) is refused, never carried."""
        if v and "://" in v and urlsplit(v).password is not None:
            raise ValueError("a URL with a password in it cannot go into a link")
        return v


# URL key -> field; keys are the field names, short and stable (documented in README).
URL_KEYS: tuple[str, ...] = tuple(Scenario.model_fields)
DEFAULTS = Scenario()
MAX_VALUE_CHARS = 2000  # the longest query value read (a GGUF URL can be long)


def _coerce(field: str, raw: str) -> Any:
    """Parse one query-string value for `field`; raises ValueError when it cannot be."""
    ann = Scenario.model_fields[field].annotation
    args = set(getattr(ann, "__args__", ()))
    optional = type(None) in args
    if optional and raw == "":
        return None
    if ann is bool:
        if raw.lower() in ("1", "true", "yes"):
            return True
        if raw.lower() in ("0", "false", "no"):
            return False
        raise ValueError(raw)
    if ann is int or int in args:
        return int(raw)
    if ann is float or float in args:
        v = float(raw)
        if not math.isfinite(v):
            raise ValueError(raw)
        return v
    return raw


# Fields that hold catalog ids, and which table they must be found in.
CATALOG_IDS = {
    "model": "model",
    "cloud_model": "model",
    "api_model": "api model",
    "hw": "hardware",
    "cloud_hw": "hardware",
    "quant": "quantization",
    "cloud_q": "quantization",
    "cloud_prov": "cloud provider",
    "api_prov": "API provider",
    "score": "benchmark",
    "fams": "model family",
}


def _catalog_id(kind: str, value: str, catalog: Catalog) -> str | None:
    """The canonical id for `value` in the catalog table `kind` (aliases resolved), or None if absent."""
    if kind == "quantization":
        try:
            return catalog.quant(value).id
        except KeyError:
            return None
    if kind == "api model" and any(p.model == value for p in catalog.api_prices):
        return value
    if kind == "model family":
        families = {m.family for m in catalog.models.values()}
        return value if all(f in families for f in value.split(",") if f) else None
    if kind in ("cloud provider", "API provider", "benchmark"):
        known = {
            "cloud provider": {p.provider for p in catalog.cloud_prices},
            "API provider": {p.provider for p in catalog.api_prices},
            "benchmark": {b for m in catalog.models.values() for b in m.benchmarks},
        }[kind]
        return value if value in known else None
    table = catalog.hardware if kind == "hardware" else catalog.models
    value = catalog.aliases.get(value, value)
    return value if value in table else None


def scenario_from_query(params: Mapping[str, str | list[str]], catalog: Catalog) -> tuple[Scenario, list[str]]:
    """Build a Scenario from URL query params; invalid or unknown values fall back to defaults.

    Returns the scenario and one human-readable notice per ignored value.
    """
    values: dict[str, Any] = {}
    notices: list[str] = []
    for key in URL_KEYS:
        if key not in params:
            continue
        raw = params[key]
        if isinstance(raw, list):
            if not raw:
                continue
            raw = raw[-1]
        raw = str(raw)
        if len(raw) > MAX_VALUE_CHARS:  # a value is never cut short: a shortened location would be another one
            notices.append(f"ignored {key}={raw[:60]!r}...: longer than {MAX_VALUE_CHARS} characters")
            continue
        shown = raw if len(raw) <= 200 else raw[:200] + "..."
        try:
            value = _coerce(key, raw)
            Scenario.model_validate({**values, key: value})
        except (ValueError, TypeError):
            notices.append(f"ignored {key}={shown!r}: not a valid value")
            continue
        if key in CATALOG_IDS and value is not None:
            value = _catalog_id(CATALOG_IDS[key], value, catalog)
            if value is None:
                notices.append(f"ignored {key}={shown!r}: no such {CATALOG_IDS[key]} in the catalog")
                continue
        values[key] = value
    return Scenario.model_validate(values), notices


def scenario_to_query(s: Scenario) -> dict[str, str]:
    """Query params for `s`, leaving out values equal to the defaults so links stay short."""
    out: dict[str, str] = {}
    for key in URL_KEYS:
        v = getattr(s, key)
        if v == getattr(DEFAULTS, key):
            continue
        out[key] = ("1" if v else "0") if isinstance(v, bool) else ("" if v is None else str(v))
    return out
