"""Spec database of model variants, hardware, quantisation formats and prices."""

from model_specs.loader import Catalog, CatalogError, load_catalog, load_catalog_from
from model_specs.schema import Hardware, ModelSpec, QuantFormat

__all__ = ["Catalog", "CatalogError", "Hardware", "ModelSpec", "QuantFormat", "load_catalog", "load_catalog_from"]
