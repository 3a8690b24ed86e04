"""Renderers of a run's view: a tree redrawn in place on a terminal, one line per event
anywhere else, or the run's summary as JSON at the end."""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from typing import Protocol, TextIO

from gateway.cli.ask.view import ASCII_MARKS, MARKS, NodeState, RunView


class Renderer(Protocol):
    def update(self, view: RunView, lines: Sequence[str]) -> None:
        """Show the run after an event; ``lines`` describe that event."""
        ...

    def finish(self, view: RunView) -> None:
        """Show the finished run (its answer, when it has one)."""
        ...


class LineRenderer:
    """One line per event, written as it happens: for pipes, files and CI logs."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def update(self, view: RunView, lines: Sequence[str]) -> None:
        for line in lines:
            self.out.write(line + "\n")
        self.out.flush()

    def finish(self, view: RunView) -> None:
        if view.answer:
            self.out.write(f"\n{view.answer}\n")
        self.out.write(ids_line(view))
        self.out.flush()


def ids_line(view: RunView) -> str:
    """The run's last line, after an empty one: ``task <id>, trace <id>`` (the ids it
    knows), or nothing."""
    shown = [f"{key.removesuffix('_id')} {value}" for key, value in view.ids().items() if value]
    return f"\n{', '.join(shown)}\n" if shown else ""


class LiveRenderer:
    """The whole tree, redrawn in place on each event: the cursor moves up over the previous
    drawing and clears it. Lines are cut to the terminal's width (a wrapped line would throw
    off the count of lines to move up over) and the drawing to its height."""

    def __init__(self, out: TextIO, size: tuple[int, int] | None = None) -> None:
        self.out = out
        self.size = size
        self._drawn = 0

    def update(self, view: RunView, lines: Sequence[str]) -> None:
        self._draw(view.lines())

    def finish(self, view: RunView) -> None:
        self._draw(view.lines())
        if view.answer:
            self.out.write(f"\n{view.answer}\n")
        self.out.write(ids_line(view))
        self.out.flush()

    def _draw(self, lines: list[str]) -> None:
        columns, rows = self.size or shutil.get_terminal_size()
        if len(lines) > rows - 1 > 1:
            lines = [*lines[: rows - 2], f"... {len(lines) - rows + 2} more"]
        frame = "".join(fit(line, columns - 1) + "\n" for line in lines)
        up = f"\x1b[{self._drawn}A\r" if self._drawn else ""
        self.out.write(f"{up}\x1b[J{frame}")
        self.out.flush()
        self._drawn = len(lines)


def fit(line: str, width: int) -> str:
    """``line`` cut to ``width`` characters, marked as cut."""
    return line if len(line) <= width else line[: max(width - 1, 0)] + "…"


class JsonRenderer:
    """Nothing while the run goes; at the end, its ``run`` summary as JSON, with the keys
    ``task_id`` and ``trace_id`` (null when not known)."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def update(self, view: RunView, lines: Sequence[str]) -> None:
        pass

    def finish(self, view: RunView) -> None:
        if view.summary is not None or view.task_id is not None:
            body = {**(view.summary or {}), **view.ids()}
            self.out.write(json.dumps(body, indent=2, ensure_ascii=False) + "\n")
        self.out.flush()


def marks_for(out: TextIO) -> Mapping[NodeState, str]:
    """Symbols when ``out`` can encode them, else ASCII."""
    encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("-", "")
    return MARKS if encoding.startswith("utf") else ASCII_MARKS


def renderer_for(out: TextIO, *, as_json: bool) -> Renderer:
    if as_json:
        return JsonRenderer(out)
    if out.isatty():
        return LiveRenderer(out)
    return LineRenderer(out)
