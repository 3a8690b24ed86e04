"""Writing a benchmark's table into its marked section of the README."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def arguments() -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--out`` (JSON results) and ``--readme``."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--readme", type=Path)
    return parser


def publish(args: argparse.Namespace, name: str, result: Any, table: Callable[[Any], str]) -> None:
    """Write ``result`` to ``--out``, print its table, and put the table in the README's
    section ``name`` when ``--readme`` is given."""
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    md = table(result)
    print(md)
    if args.readme:
        rewrite_section(args.readme, name, md)


def rewrite_section(readme: Path, name: str, md: str) -> None:
    """Replace what lies between ``<!-- bench:<name>:start -->`` and ``...:end -->``.

    Raises:
        SystemExit: the README has no such section.
    """
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{readme} has no {start} ... {end} section")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}\n{md}{end}{tail}")
