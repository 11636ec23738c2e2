"""Catalog price lookups: cloud GPU offers and hosted-API prices for a model, and which cloud GPU serves it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from calculators import memory
from calculators.cost.inputs import DEFAULT_INPUT_SHARE, Workload
from calculators.cost.request import CostRequest
from model_specs.loader import Catalog
from model_specs.schema import ApiPrice, CloudPrice, Hardware


def _norm(name: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", name.lower()).strip("-")


def cloud_prices_for(catalog: Catalog, hardware_id: str) -> list[CloudPrice]:
    """Catalog cloud prices for one device, cheapest first."""
    hid = catalog.aliases.get(hardware_id, hardware_id)
    return sorted((p for p in catalog.cloud_prices if p.hardware == hid), key=lambda p: p.usd_per_gpu_hour)


def api_prices_for(catalog: Catalog, model_id: str, w: Workload | None = None) -> list[ApiPrice]:
    """Catalog API prices for one model (by id, alias or provider model name), cheapest at the mix first.

    Free listings (0 / 0: rate-limited free tiers) go last, so a default pick is a price one can serve traffic at.
    """
    mid = catalog.aliases.get(model_id, model_id)
    names = {mid, model_id, *(catalog.models[mid].aliases if mid in catalog.models else [])}
    pats = [re.compile(rf"(^|[^a-z0-9]){re.escape(_norm(n))}($|[^a-z0-9])") for n in names]
    found = [p for p in catalog.api_prices if p.model in names or any(r.search(_norm(p.model)) for r in pats)]
    share = w.input_share if w else DEFAULT_INPUT_SHARE
    blended = {id(p): share * p.usd_per_mtok_input + (1 - share) * p.usd_per_mtok_output for p in found}
    return sorted(found, key=lambda p: (blended[id(p)] == 0, blended[id(p)]))


def _pick(prices: Sequence[Any], provider: str | None, what: str) -> Any | None:
    if provider is None:
        return prices[0] if prices else None
    for p in prices:
        if p.provider.lower() == provider.lower():
            return p
    known = ", ".join(sorted({p.provider for p in prices})) or "none"
    raise ValueError(f"no {what} price from provider '{provider}' in the catalog (known: {known})")


def _serves(catalog: Catalog, model_id: str, quant: str, engine: str, hw: Hardware, gpus: int, context: int) -> bool:
    """Whether the devices hold the weights and one request's KV cache (the memory calculator's fit)."""
    model = catalog.model(model_id)
    req = memory.MemoryRequest(
        model=model,
        quant=quant,
        context_tokens=min(context, model.context_tokens),
        engine=engine,
        hardware=hw,
        gpus=gpus,
    )
    try:
        return bool(memory.estimate(req).fits)
    except ValueError:  # the engine cannot run this format
        return False


def default_cloud_quant(catalog: Catalog, quant: str, engine: str) -> str:
    """The owned option's quantization when the cloud engine runs it, else AWQ (4-bit, what vLLM serves widely)."""
    q = catalog.quant(quant)
    if engine in q.engines or "AWQ" not in catalog.quants:
        return q.id
    return "AWQ"


def cloud_hardware_for(catalog: Catalog, req: CostRequest) -> Hardware:
    """The device to rent: as asked; else the owned device if rentable; else the cheapest rentable fit."""
    if req.cloud_hardware:
        return catalog.device(req.cloud_hardware)
    hw = catalog.device(req.hardware)
    if cloud_prices_for(catalog, hw.id) or req.cloud_usd_per_hour is not None:
        return hw
    model = catalog.model(req.cloud_model or req.model)
    quant = req.cloud_quant or default_cloud_quant(catalog, req.quant, req.cloud_engine)
    gpus = req.cloud_gpus or req.gpus
    for p in sorted(catalog.cloud_prices, key=lambda p: p.usd_per_gpu_hour):
        dev = catalog.hardware[p.hardware]
        if _serves(catalog, model.id, quant, req.cloud_engine, dev, gpus, req.context_tokens):
            return dev
    return hw
