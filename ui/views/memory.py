"""Memory page view: weights, KV cache, overhead, total and fit of the scenario; KV curves; the fit matrix."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from calculators import memory
from calculators.memory import GPU_RUNTIME_RESERVE_BYTES, VLLM_NON_TORCH_BYTES  # noqa: F401 - for the page's text
from model_specs import Catalog
from model_specs.schema import Hardware, ModelSpec
from ui.scenario import Scenario
from ui.views.byo import ByoResult, Upload, resolve_byo

PLACEMENT_ENGINES = ("llama.cpp", "ollama")  # engines whose host/GPU placement the page's toggles change
# Powers of two for the KV-against-context chart; the model's maximum ends the curve.
# The KV chart's reference lines (drawn dotted), beside one line per engine.
REFERENCE_KV_CURVES = frozenset({memory.GLOBAL_KV_CURVE, memory.SLIDING_KV_CURVE, memory.NAIVE_KV_CURVE})
KV_LADDER_TOKENS = (1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144)


@dataclass(frozen=True)
class KvDetail:
    """The KV cache formula's terms: bytes per token per layer kind and the cells the engine allocates."""

    full_layers: int
    sliding_layers: int
    kv_shared_layers: int
    window_tokens: int | None
    full_bytes_per_token: int
    sliding_bytes_per_token: int
    full_cells: int
    sliding_cells: int


@dataclass(frozen=True)
class MemoryView:
    """Every number the Memory page shows, for one scenario (and an optional uploaded model)."""

    scenario: Scenario
    model: ModelSpec
    hardware: Hardware
    context_tokens: int  # the scenario's context, capped at the model's maximum
    estimate: memory.MemoryEstimate | None  # None when the engine cannot run this format / KV type
    error: str | None
    usable_bytes: int
    usable_rule: str
    byo: ByoResult = ByoResult()  # the scenario's own model (GGUF, Hub id, upload), sized instead of the catalog's

    @property
    def context_capped(self) -> bool:
        """Whether the scenario asked for more context than the model supports."""
        return self.context_tokens < self.scenario.ctx

    @property
    def total_bytes(self) -> int | None:
        """Weights + tied output copy + KV cache + overhead (the headline figure)."""
        return None if self.estimate is None else self.estimate.total_bytes

    @property
    def output_copy_bytes(self) -> int:
        """The second copy of a tied output matrix llama.cpp / Ollama load on the GPU (in the total, not the weights)."""
        return 0 if self.estimate is None else self.estimate.components.get("output_copy", 0)

    @property
    def shortfall_bytes(self) -> int | None:
        """How many bytes are missing when it does not fit (None when it fits or there is no device)."""
        e = self.estimate
        if e is None or e.margin_bytes is None or e.margin_bytes >= 0:
            return None
        return -e.margin_bytes

    @cached_property
    def kv_detail(self) -> KvDetail:
        """The KV formula's terms for this model, KV type, engine and concurrency."""
        s, m = self.scenario, self.model
        g = memory.kv_geometry(m)
        full_b, swa_b = memory.kv_bytes_per_token(m, s.kv)
        cells = memory.kv_cells(m, self.context_tokens, s.engine, s.conc)
        return KvDetail(
            g.full_layers,
            g.sliding_layers,
            m.text.attention.kv_shared_layers,
            g.window,
            full_b,
            swa_b,
            cells.full_cells,
            cells.sliding_cells,
        )

    @cached_property
    def kv_ladder_tokens(self) -> list[int]:
        """Contexts of the KV-against-context chart."""
        return [c for c in KV_LADDER_TOKENS if c < self.model.context_tokens] + [self.model.context_tokens]

    @cached_property
    def kv_curves_bytes(self) -> dict[str, list[int]]:
        """KV bytes at each ladder context, per engine and for the reference lines."""
        return memory.kv_curve(self.model, self.kv_ladder_tokens, self.scenario.kv, self.scenario.conc)


@dataclass(frozen=True)
class FitView:
    """Largest fitting context of every catalog model on every catalog device."""

    model_names: list[str]
    device_names: list[str]
    max_context_tokens: list[list[int]]  # [model][device]
    ladder_tokens: tuple[int, ...]


def memory_request(
    s: Scenario, model: ModelSpec, hardware: Hardware, weights: memory.WeightBreakdown | None = None
) -> memory.MemoryRequest:
    """The calculator request of the scenario (the page's placement toggles apply to llama.cpp and Ollama);
    `weights`: an actual file's exact weights instead of the recipe's."""
    placement = s.engine in PLACEMENT_ENGINES
    return memory.MemoryRequest(
        model=model,
        quant=s.quant,
        context_tokens=min(s.ctx, model.context_tokens),
        batch=s.conc,
        kv_dtype=s.kv,
        engine=s.engine,
        text_only=s.text_only,
        hardware=hardware,
        gpus=s.gpus,
        offload_ple=s.ple_host if placement else None,
        offload_experts=s.moe_host,
        weights_override=weights,
    )


def build_memory_view(s: Scenario, cat: Catalog, upload: Upload | None = None) -> MemoryView:
    """The Memory page's view of `s`, sizing its own model (GGUF, Hub id, else `upload`) instead when one is readable."""
    byo = resolve_byo(s, upload)
    own = byo.byo
    model = own.model if own else cat.model(s.model)
    hardware = cat.device(s.hw)
    usable, rule = memory.usable_memory_bytes(hardware, s.gpus)
    try:
        est, err = memory.estimate(memory_request(s, model, hardware, own.weights if own else None)), None
    except ValueError as e:
        est, err = None, str(e)
    return MemoryView(s, model, hardware, min(s.ctx, model.context_tokens), est, err, usable, rule, byo)


def build_fit_view(s: Scenario, cat: Catalog) -> FitView:
    """The fit matrix at the scenario's format, engine, KV type and concurrency; ValueError when it cannot be made."""
    models, devices = list(cat.models.values()), list(cat.hardware.values())
    fm = memory.fit_matrix(
        models, devices, [s.quant], engine=s.engine, kv_dtype=s.kv, batch=s.conc, text_only=s.text_only, gpus=s.gpus
    )
    return FitView(
        [m.name for m in models],
        [d.name for d in devices],
        fm.max_context_tokens[:, 0, :].tolist(),
        tuple(fm.contexts),
    )
