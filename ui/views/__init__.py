"""One view-model per page: Scenario (+ catalog) -> every figure the page shows, built in one place.

The page, Home and the stakeholder report render the same object, so they cannot disagree. Calculator calls of the
pages live here (and only here), one module per page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def memo(store: dict[tuple, tuple[Any, Any]], key: tuple, catalog: Any, compute: Callable[[], T], size: int = 64) -> T:
    """`compute()` memoised under (catalog, key) in `store`: the slow tables (every variant ranked or forecast) are
    pure functions of the catalog and a few scenario fields, and a page reruns on every click."""
    hit = store.get((id(catalog), *key))
    if hit is not None and hit[0] is catalog:  # the same catalog object, not a new one at a reused address
        return hit[1]
    if len(store) >= size:
        store.clear()
    value = compute()
    store[(id(catalog), *key)] = (catalog, value)
    return value
