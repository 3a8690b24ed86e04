"""Writing a benchmark's table into its marked section of the README."""

from __future__ import annotations

from pathlib import Path


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
