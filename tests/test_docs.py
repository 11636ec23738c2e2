"""The README stays true to the code: every CLI flag is documented."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md").read_text() + (ROOT / "docs" / "cost-cli.md").read_text()


def _flags(add_arguments) -> list[str]:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return [o for a in parser._actions for o in a.option_strings if o.startswith("--") and o != "--help"]


@pytest.mark.parametrize("module", ["calculators.cli_memory", "calculators.cli_speed", "calculators.cli_cost"])
def test_calculator_flags_are_documented(module):
    missing = [f for f in _flags(importlib.import_module(module).add_arguments) if f"`{f}" not in DOCS]
    assert not missing, f"{module}: flags missing from README.md / docs/cost-cli.md: {missing}"


def test_probe_flags_are_documented():
    from probe.__main__ import build_parser

    flags = [o for a in build_parser()._actions for o in a.option_strings if o.startswith("--") and o != "--help"]
    missing = [f for f in flags if f"`{f}" not in DOCS]
    assert not missing, f"probe flags missing from README.md: {missing}"
