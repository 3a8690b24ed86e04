"""The ``ask`` command: its options, the choice of source and renderer, and the loop that
shows a run until it ends and turns its outcome into an exit code."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TextIO

import httpx

from adapters.errors import EffmeshError
from adapters.model import StreamItem, TaskState
from gateway.cli.ask.render import Renderer, marks_for, renderer_for
from gateway.cli.ask.sources import (
    invocation_for,
    local_items,
    reachable,
    remote_items,
    traced,
)
from gateway.cli.ask.view import RunView, plain_text
from gateway.cli.exits import EXIT_COMPLETED, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_NOT_STARTED
from gateway.settings import SettingsError


@dataclass(frozen=True, slots=True)
class AskOptions:
    task: str
    url: str = "http://127.0.0.1:8640"
    token: str | None = None
    local: bool = False
    config: str | None = None
    strategy: str | None = None
    planner: str | None = None
    as_json: bool = False


def ask(options: AskOptions, out: TextIO, err: TextIO) -> int:
    """Run ``options.task`` through the router, showing it on ``out``; returns the exit code.

    Errors are one line on ``err``. Ctrl-C cancels the run and returns 130.
    """
    try:
        return asyncio.run(_ask(options, out, err))
    except KeyboardInterrupt:
        # asyncio.run cancelled the run (which cancels it remotely or stops every subtask)
        # before handing the interrupt on.
        err.write("effmesh: canceled\n")
        return EXIT_INTERRUPTED


async def _ask(options: AskOptions, out: TextIO, err: TextIO) -> int:
    if not options.task.strip():
        err.write("effmesh: the task is empty\n")
        return EXIT_NOT_STARTED
    invocation = invocation_for(options.task, options.strategy, options.planner)
    view = RunView(marks_for(out))
    source: AsyncGenerator[StreamItem, None]
    if options.local:
        source = local_items(options.config, invocation)
    else:
        try:
            url = httpx.URL(options.url)
        except httpx.InvalidURL:
            url = None
        if url is None or url.scheme not in ("http", "https") or not url.host:
            err.write(f"effmesh: --url {options.url!r} is not an http(s) URL\n")
            return EXIT_NOT_STARTED
        if await reachable(options.url, options.token):
            # An in-process run records no spans (the OpenTelemetry SDK is the gateway's).
            invocation, view.trace_id = traced(invocation)
            source = remote_items(options.url, options.token, invocation)
        else:
            err.write(f"effmesh: no gateway answers at {options.url}; running in-process\n")
            source = local_items(options.config, invocation)
    return await follow(source, view, renderer_for(out, as_json=options.as_json), err)


async def follow(
    source: AsyncGenerator[StreamItem, None], view: RunView, renderer: Renderer, err: TextIO
) -> int:
    """Show ``source``'s items until the run ends; returns the exit code."""
    try:
        async for item in source:
            lines = view.feed(item)
            if lines:
                renderer.update(view, lines)
    except EffmeshError as exc:
        err.write(f"effmesh: {exc.public_message}\n")
        return EXIT_FAILED if view.routing is not None else EXIT_NOT_STARTED
    except SettingsError as exc:
        err.write(f"effmesh: {exc}\n")
        return EXIT_NOT_STARTED
    finally:
        # A no-op when the run ended; otherwise (the renderer failed) it stops the run now,
        # not whenever the generator is collected.
        await source.aclose()
    task = view.task
    renderer.finish(view)
    if task is None:
        err.write("effmesh: the run ended without an outcome\n")
        return EXIT_FAILED
    if task.state is TaskState.COMPLETED:
        if task.metadata.get("effmesh.partial") is True:
            err.write("effmesh: some subtasks did not finish (see the answer)\n")
        return EXIT_COMPLETED
    why = plain_text(task.status_message.parts).strip() if task.status_message else ""
    reason = why.splitlines()[0] if why else f"it ended {task.state.value}"
    err.write(f"effmesh: the run failed: {reason}\n")
    return EXIT_FAILED
