"""Load the YAML spec database once, turning any validation error into one readable message."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from model_specs.schema import (
    ApiPrice,
    CloudPrice,
    Hardware,
    HardwareCatalog,
    ModelFamily,
    ModelSpec,
    PriceCatalog,
    QuantCatalog,
    QuantFormat,
    Source,
)

DATA_DIR = Path(__file__).parent / "data"
T = TypeVar("T", bound=BaseModel)
NON_MODEL_FILES = {"hardware.yaml", "quantization.yaml", "prices.yaml"}


class CatalogError(ValueError):
    """A catalog file is missing, is not YAML, or breaks the schema; the message names file and field."""


def _format_error(path: Path, err: ValidationError, raw: object) -> str:
    """One line per problem: file, dotted field path (with the record id where there is one), message."""
    lines = []
    for e in err.errors():
        loc = list(e["loc"])
        # Replace list indices of records with their id, so "models.3" reads "models[gemma-4-31b]".
        parts, node = [], raw
        for part in loc:
            if isinstance(part, int) and isinstance(node, list) and part < len(node):
                item = node[part]
                rid = item.get("id") if isinstance(item, dict) else None
                parts[-1] = f"{parts[-1]}[{rid or part}]" if parts else f"[{rid or part}]"
                node = item
            else:
                parts.append(str(part))
                node = node.get(part) if isinstance(node, dict) else None
        lines.append(f"{path.name}: {'.'.join(parts) or '(top level)'}: {e['msg']}")
    return "\n".join(lines)


def load_file(path: Path, model: type[T]) -> T:
    """Parse one YAML file into `model`, raising CatalogError naming the file and field on any problem."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise CatalogError(f"{path.name}: cannot read: {e.strerror}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise CatalogError(f"{path.name}:{where}: not valid YAML: {getattr(e, 'problem', e)}") from None
    if not isinstance(raw, dict):
        raise CatalogError(f"{path.name}: expected a mapping at the top level, got {type(raw).__name__}")
    try:
        return model.model_validate(raw)
    except ValidationError as e:
        raise CatalogError(_format_error(path, e, raw)) from None


@dataclass(frozen=True)
class Catalog:
    """The whole spec database, indexed by id."""

    models: dict[str, ModelSpec]
    model_sources: dict[str, dict[str, Source]]  # family -> source key -> Source
    hardware: dict[str, Hardware]
    quants: dict[str, QuantFormat]
    cloud_prices: tuple[CloudPrice, ...]
    api_prices: tuple[ApiPrice, ...]
    aliases: dict[str, str]  # old or alternative id -> current id (models and hardware)

    def model(self, model_id: str) -> ModelSpec:
        """Look up a model by id or alias; KeyError names the id."""
        mid = self.aliases.get(model_id, model_id)
        if mid not in self.models:
            raise KeyError(f"unknown model id '{model_id}'")
        return self.models[mid]

    def device(self, hardware_id: str) -> Hardware:
        """Look up a hardware entry by id or alias; KeyError names the id."""
        hid = self.aliases.get(hardware_id, hardware_id)
        if hid not in self.hardware:
            raise KeyError(f"unknown hardware id '{hardware_id}'")
        return self.hardware[hid]

    def quant(self, quant_id: str) -> QuantFormat:
        """Look up a quantisation format by name or alias, case-insensitively."""
        for q in self.quants.values():
            if quant_id.lower() in (q.id.lower(), *(a.lower() for a in q.aliases)):
                return q
        raise KeyError(f"unknown quantization '{quant_id}'")

    def source_of(self, model: ModelSpec, key: str) -> list[Source]:
        """Resolve a comma-separated source-key string of a model into Source records."""
        table = self.model_sources[model.family]
        return [table[k.strip()] for k in key.split(",")]

    @property
    def selectable_quants(self) -> list[str]:
        """Formats a user picks; GGML_* entries are block types used inside GGUF mixes."""
        return [q for q in self.quants if not q.startswith("GGML_")]

    @property
    def data_as_of(self) -> str:
        """Newest as-of date among hardware and prices, for the footer."""
        dates = [h.as_of for h in self.hardware.values()]
        dates += [p.as_of for p in (*self.cloud_prices, *self.api_prices)]
        return max(dates).isoformat() if dates else "unknown"


def load_catalog_from(data_dir: Path) -> Catalog:
    """Load and cross-check every YAML file under `data_dir`."""
    models: dict[str, ModelSpec] = {}
    sources: dict[str, dict[str, Source]] = {}
    aliases: dict[str, str] = {}
    for path in sorted(data_dir.glob("*.yaml")):
        if path.name in NON_MODEL_FILES:
            continue
        fam = load_file(path, ModelFamily)
        sources[fam.family] = fam.sources
        for m in fam.models:
            if m.id in models:
                raise CatalogError(f"{path.name}: models[{m.id}]: duplicate model id")
            if m.family != fam.family:
                raise CatalogError(f"{path.name}: models[{m.id}].family: '{m.family}' differs from '{fam.family}'")
            models[m.id] = m
            aliases.update({a: m.id for a in m.aliases})
    hw_path, q_path, p_path = (data_dir / n for n in ("hardware.yaml", "quantization.yaml", "prices.yaml"))
    hw = load_file(hw_path, HardwareCatalog).hardware
    hardware = {h.id: h for h in hw}
    if len(hardware) != len(hw):
        raise CatalogError(f"{hw_path.name}: duplicate hardware id")
    aliases.update({a: h.id for h in hw for a in h.aliases})
    quants = {q.id: q for q in load_file(q_path, QuantCatalog).formats}
    prices = load_file(p_path, PriceCatalog)
    for p in prices.cloud_gpu:
        if p.hardware not in hardware:
            raise CatalogError(f"{p_path.name}: cloud_gpu[{p.provider}].hardware: unknown hardware id '{p.hardware}'")
    clash = set(aliases) & (set(models) | set(hardware))
    if clash:
        raise CatalogError(f"aliases shadow existing ids: {sorted(clash)}")
    return Catalog(models, sources, hardware, quants, tuple(prices.cloud_gpu), tuple(prices.api), aliases)


@functools.cache
def load_catalog() -> Catalog:
    """The packaged catalog, loaded once per process."""
    return load_catalog_from(DATA_DIR)
