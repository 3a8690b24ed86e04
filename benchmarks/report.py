"""Writing a benchmark's table into its marked section of the benchmark page.

Each benchmark owns one section of ``docs/benchmarks.md`` (``--doc``), between
``<!-- bench:<name>:start -->`` and ``<!-- bench:<name>:end -->``; the prose around the
markers is written by hand and left as it is.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def arguments() -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--out`` (JSON results) and ``--doc`` (the
    Markdown page whose section the table replaces, ``docs/benchmarks.md``)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--doc", type=Path, help="rewrite this benchmark's section of this page")
    return parser


def publish(args: argparse.Namespace, name: str, result: Any, table: Callable[[Any], str]) -> None:
    """Write ``result`` to ``--out``, print its table, and put the table in the page's
    section ``name`` when ``--doc`` is given."""
    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    md = table(result)
    print(md)
    if args.doc:
        rewrite_section(args.doc, name, md)


def rewrite_section(doc: Path, name: str, md: str) -> None:
    """Replace what lies between ``<!-- bench:<name>:start -->`` and ``...:end -->`` in ``doc``.

    Raises:
        SystemExit: ``doc`` has no such section.
    """
    start, end = f"<!-- bench:{name}:start -->", f"<!-- bench:{name}:end -->"
    text = doc.read_text()
    if start not in text or end not in text:
        raise SystemExit(f"{doc} has no {start} ... {end} section")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    doc.write_text(f"{head}{start}\n{md}{end}{tail}")
