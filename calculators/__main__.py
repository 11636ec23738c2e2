"""JSON CLI: python -m calculators memory|speed|cost ... --json (see DESIGN.md for the contract)."""

from __future__ import annotations

import argparse
import importlib
import json
import sys

# Each subcommand lives in its own module exposing add_arguments(parser) and run(args) -> dict.
COMMANDS = {
    "memory": "calculators.cli_memory",
    "speed": "calculators.cli_speed",
    "cost": "calculators.cli_cost",
}


class UsageError(Exception):
    """Bad input: printed as one line on stderr, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse prints usage + exits 2; keep it to one line
        raise UsageError(message)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the subcommand and print its result as one JSON object."""
    parser = _Parser(prog="python -m calculators", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    modules = {}
    for name, mod_name in COMMANDS.items():
        mod = importlib.import_module(mod_name)
        p = sub.add_parser(name, help=(mod.__doc__ or "").strip().splitlines()[0])
        mod.add_arguments(p)
        p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        modules[name] = mod
    try:
        args = parser.parse_args(argv)
        result = modules[args.command].run(args)
    except (UsageError, ValueError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"error: {msg}".splitlines()[0], file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, default=str))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
