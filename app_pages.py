"""The dashboard's pages in menu order (one place: app.py, the tests and the README check read it)."""

from __future__ import annotations

from typing import NamedTuple


class PageInfo(NamedTuple):
    """One navigation entry."""

    file: str
    title: str
    url_path: str
    icon: str


PAGES = [
    PageInfo("pages/home.py", "Home", "home", ":material/home:"),
    PageInfo("pages/variants.py", "Variants", "variants", ":material/view_list:"),
    PageInfo("pages/memory.py", "Memory", "memory", ":material/memory:"),
    PageInfo("pages/speed.py", "Speed", "speed", ":material/speed:"),
    PageInfo("pages/costs.py", "Costs", "costs", ":material/payments:"),
    PageInfo("pages/probe.py", "Probe", "probe", ":material/network_check:"),
    PageInfo("pages/guide.py", "Guide", "guide", ":material/explore:"),
]
