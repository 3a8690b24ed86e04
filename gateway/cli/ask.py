"""``effmesh ask`` and ``effmesh calibrate``: the router agent from a terminal.

``ask`` sends one task to the router agent ``effmesh`` and shows the run as it happens:

- the items come from a gateway over ACP streaming (:func:`remote_items`, through
  :class:`~agents.remote.RemoteACPAgent`), or from a registry built in this process
  (:func:`local_items`); either way they are canonical stream items;
- :class:`RunView` folds those items into the run's state (routing, plans, one node per
  subtask) and says what changed, without any I/O;
- a renderer draws the view: on a terminal the plan tree is redrawn in place (ANSI cursor
  movement), anywhere else one line per event is printed as it happens, and ``--json``
  prints only the run's summary at the end.

Exit codes: 0 the run completed (possibly partly, the answer says what did not finish); 1 the
run started and failed; 2 it never started (bad usage or configuration, an unreachable or
refusing gateway); 130 interrupted (Ctrl-C cancels the run, remote or in-process, first).

``calibrate`` fits the complexity analyzer's weights to a labelled set of tasks and prints
them as a ``[routing.weights]`` table for effmesh.toml.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal, Protocol, TextIO, assert_never

import httpx

from adapters.errors import EffmeshError, InvalidParams
from adapters.model import (
    ArtifactEvent,
    DataPart,
    Invocation,
    Message,
    Part,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)
from agents.remote import RemoteACPAgent
from gateway.runtime import calls
from gateway.settings import SettingsError

ROUTER: Final = "effmesh"
"""The router's ACP agent name (an alias of the skill ``effmesh.run``)."""
ROUTER_SKILL: Final = "effmesh.run"
STRATEGIES: Final = ("single", "parallel", "sequential", "hierarchical")
PING_SECONDS: Final = 5.0
RUN_SECONDS: Final = 900.0
"""How long the remote run may stay silent: events can be minutes apart (a model writing a
plan, a slow subtask); the gateway's own timeouts bound the run itself."""
SNIPPET_CHARS: Final = 60
EXIT_COMPLETED, EXIT_FAILED, EXIT_NOT_STARTED, EXIT_INTERRUPTED = 0, 1, 2, 130

NodeState = Literal["pending", "running", "completed", "failed", "skipped"]
MARKS: Final[dict[NodeState, str]] = {
    "pending": "○",
    "running": "◐",
    "completed": "✓",
    "failed": "✗",
    "skipped": "⊘",
}
ASCII_MARKS: Final[dict[NodeState, str]] = {
    "pending": ".",
    "running": ">",
    "completed": "+",
    "failed": "x",
    "skipped": "-",
}
_FINISHED: Final[dict[str, NodeState]] = {
    "completed": "completed",
    "failed": "failed",
    "skipped": "skipped",
}


# -- the run as a view: pure -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Node:
    """One subtask as the run has shown it so far."""

    id: str
    """Its path: ``s2``, or ``s2.s1`` inside the plan of coordinated ``s2``."""
    skill: str
    depends_on: tuple[str, ...] = ()
    state: NodeState = "pending"
    attempt: int = 0
    seconds: float | None = None
    output: str = ""
    error: str | None = None

    @property
    def depth(self) -> int:
        return self.id.count(".")


@dataclass(frozen=True, slots=True)
class PlanView:
    parent: str | None
    """The coordinated subtask this plan splits (None: the run's own plan)."""
    planner: str
    ids: tuple[str, ...]
    """Its subtasks' paths, in the plan's order."""
    fallback: str | None = None
    """Why the model's plan was refused (the rules planner's plan replaced it)."""


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _event_of(item: StatusEvent) -> dict[str, Any] | None:
    """The routing event a status carries: its first data part that is an event object."""
    if item.message is None:
        return None
    for part in item.message.parts:
        if isinstance(part, DataPart) and isinstance(part.data, dict) and "event" in part.data:
            return part.data
    return None


def _text(parts: Sequence[Part]) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


class RunView:
    """A router run folded from its stream items.

    :meth:`feed` takes the items in the order they arrive and returns lines describing what
    changed (one per event, for plain output); :meth:`lines` draws the whole run as a tree.
    Events it does not know are ignored: an older renderer keeps working with a newer router.
    """

    def __init__(self, marks: Mapping[NodeState, str] = MARKS) -> None:
        self.marks = marks
        self.routing: dict[str, Any] | None = None
        self.plans: dict[str | None, PlanView] = {}
        self.nodes: dict[str, Node] = {}
        self.answer: str | None = None
        self.summary: dict[str, Any] | None = None
        self.task: Task | None = None
        """The last task state seen; after the stream ends, the run's outcome."""

    @property
    def running(self) -> bool:
        """Whether the run has not ended yet (as far as its items have said)."""
        return self.task is None or self.task.state in (TaskState.SUBMITTED, TaskState.WORKING)

    def feed(self, item: StreamItem) -> list[str]:
        match item:
            case StatusEvent():
                event = _event_of(item)
                return self._event(event) if event is not None else []
            case ArtifactEvent():
                self._artifact(item.artifact.name or item.artifact.artifact_id, item.artifact.parts)
                return []
            case Task():
                self.task = item
                for artifact in item.artifacts:
                    self._artifact(artifact.name or artifact.artifact_id, artifact.parts)
                return []
            case Message():
                # An agent that answers with a message instead of a task.
                if item.role == "agent" and self.answer is None:
                    self.answer = _text(item.parts)
                return []
            case ProgressEvent():
                return []
            case _:
                assert_never(item)

    def _artifact(self, name: str, parts: Sequence[Part]) -> None:
        if name == "answer":
            self.answer = _text(parts)
        elif name == "run":
            found = [p.data for p in parts if isinstance(p, DataPart) and isinstance(p.data, dict)]
            if found:
                self.summary = found[0]

    def _event(self, event: dict[str, Any]) -> list[str]:
        kind = event.get("event")
        if kind == "routing":
            self.routing = event
            return self._routing_lines()
        if kind == "plan":
            return self._plan(event)
        if kind == "subtask.started" and isinstance(event.get("id"), str):
            node = self._node(event)
            attempt = event.get("attempt")
            node = replace(node, state="running", attempt=attempt if type(attempt) is int else 1)
            self.nodes[node.id] = node
            again = f", attempt {node.attempt}" if node.attempt > 1 else ""
            pad = "  " * node.depth
            return [f"{pad}{self.marks['running']} {node.id} started: {node.skill}{again}"]
        if kind == "subtask.finished" and isinstance(event.get("id"), str):
            node = self._node(event)
            seconds = event.get("seconds")
            error = event.get("error")
            node = replace(
                node,
                state=_FINISHED.get(str(event.get("state")), "failed"),
                seconds=float(seconds) if isinstance(seconds, int | float) else None,
                output=str(event.get("output", "")),
                error=error if isinstance(error, str) else None,
            )
            self.nodes[node.id] = node
            return [self.node_line(node)]
        return []

    def _node(self, event: dict[str, Any]) -> Node:
        """The node an event is about; one no plan announced joins its parent's plan."""
        ident: str = event["id"]
        if ident not in self.nodes:
            self.nodes[ident] = Node(ident, str(event.get("skill", "?")))
            parent = ident.rpartition(".")[0] or None
            plan = self.plans.get(parent, PlanView(parent, "?", ()))
            self.plans[parent] = replace(plan, ids=(*plan.ids, ident))
        return self.nodes[ident]

    def _plan(self, event: dict[str, Any]) -> list[str]:
        parent = event.get("parent")
        parent = parent if isinstance(parent, str) else None
        prefix = f"{parent}." if parent else ""
        ids: list[str] = []
        for sub in event.get("subtasks") or []:
            if not isinstance(sub, dict) or not isinstance(sub.get("id"), str):
                continue
            path = prefix + sub["id"]
            deps = sub.get("depends_on") or []
            ids.append(path)
            self.nodes[path] = Node(
                path,
                str(sub.get("skill", "?")),
                tuple(str(d) for d in deps if isinstance(d, str)),
            )
        fallback = event.get("fallback")
        plan = PlanView(
            parent,
            str(event.get("planner", "?")),
            tuple(ids),
            fallback if isinstance(fallback, str) and fallback else None,
        )
        self.plans[parent] = plan
        pad = "  " * (parent.count(".") + 1 if parent else 0)
        steps = ", ".join(
            f"{i} {self.nodes[i].skill}" + self._after(self.nodes[i]) for i in plan.ids
        )
        head = f"{parent} planned" if parent else "plan"
        out = [f"{pad}{head} by {plan.planner}: {steps}"]
        if plan.fallback:
            out.append(f"{pad}  model plan refused: {plan.fallback}")
        return out

    @staticmethod
    def _after(node: Node) -> str:
        return f" (after {', '.join(node.depends_on)})" if node.depends_on else ""

    def _routing_lines(self) -> list[str]:
        r = self.routing or {}
        score = r.get("score")
        shown = f"{score:.2f}" if type(score) in (int, float) else "?"
        out = [f"routing: {r.get('strategy', '?')}, score {shown}"]
        if isinstance(r.get("reason"), str) and r["reason"]:
            out.append(f"  {r['reason']}")
        factors = [_factor(f) for f in r.get("factors") or []]
        if any(factors):
            out.append("  factors: " + ", ".join(f for f in factors if f))
        return out

    def node_line(self, node: Node) -> str:
        line = f"{'  ' * node.depth}{self.marks[node.state]} {node.id} {node.skill}"
        line += self._after(node)
        if node.state == "running" and node.attempt > 1:
            line += f", attempt {node.attempt}"
        if node.seconds is not None and node.state != "skipped":
            line += f" {node.seconds:.2f}s"
        detail = node.error if node.state in ("failed", "skipped") else node.output
        if detail:
            line += f": {snippet(detail)}"
        return line

    def lines(self) -> list[str]:
        """The run as a tree: the routing header, the plan, each subtask under its plan."""
        if self.routing is None:
            return ["routing..."]
        out = self._routing_lines()
        top = self.plans.get(None)
        if top is None:
            return [*out, "planning..." if self.running else "no plan"]
        out.append(f"plan by {top.planner}, {len(top.ids)} subtasks")
        if top.fallback:
            out.append(f"  model plan refused: {top.fallback}")
        self._tree(top, out)
        return out

    def _tree(self, plan: PlanView, out: list[str]) -> None:
        for ident in plan.ids:
            node = self.nodes[ident]
            out.append(self.node_line(node))
            sub = self.plans.get(ident)
            if sub is not None:
                pad = "  " * (node.depth + 1)
                refused = f"; model plan refused: {sub.fallback}" if sub.fallback else ""
                out.append(f"{pad}planned by {sub.planner}{refused}")
                self._tree(sub, out)


def _factor(raw: Any) -> str:
    """``name value`` for one complexity factor (empty when it has no number to show)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
        return ""
    for key in ("score", "value"):
        value = raw.get(key)
        if type(value) in (int, float):
            return f"{raw['name']} {value:.2f}"
    return ""


# -- renderers -------------------------------------------------------------------------------


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
        self.out.flush()


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
    """Nothing while the run goes; its ``run`` summary as JSON at the end."""

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def update(self, view: RunView, lines: Sequence[str]) -> None:
        pass

    def finish(self, view: RunView) -> None:
        if view.summary is not None:
            self.out.write(json.dumps(view.summary, indent=2, ensure_ascii=False) + "\n")
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


# -- where the items come from ---------------------------------------------------------------


def invocation_for(task: str, strategy: str | None, planner: str | None) -> Invocation:
    """The router's input: the task as text, or with options as ``{"task", ...}``."""
    part: Part = TextPart(task)
    if strategy is not None or planner is not None:
        fields = {"task": task, "strategy": strategy, "planner": planner}
        part = DataPart({k: v for k, v in fields.items() if v is not None})
    return Invocation(ROUTER, Message("user", (part,)), mode="stream")


def _auth(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


async def reachable(url: str, token: str | None) -> bool:
    """Whether something answers HTTP at ``url``'s ACP endpoint (whatever its status: a
    gateway that refuses the token is reachable, and says why when the run starts)."""
    async with httpx.AsyncClient(headers=_auth(token), timeout=PING_SECONDS) as http:
        try:
            await http.get(f"{url.rstrip('/')}/acp/ping")
        except httpx.TransportError:
            return False
    return True


async def remote_items(
    url: str, token: str | None, invocation: Invocation
) -> AsyncGenerator[StreamItem, None]:
    """The run on the gateway at ``url``, over ACP streaming. Cancelling the iteration cancels
    the remote run (RemoteACPAgent posts the ACP cancel).

    Raises:
        EffmeshError: the gateway refused the run, or the connection failed.
    """
    base = f"{url.rstrip('/')}/acp"
    # Named by its URL: that is what its errors ("ACP agent ... is unreachable") should show.
    agent = RemoteACPAgent(base, base, timeout=RUN_SECONDS, headers=_auth(token))
    try:
        async for item in agent.run(invocation, task_id=calls.new_task_id()):
            yield item
    finally:
        await agent.close()


async def local_items(
    config: str | None, invocation: Invocation
) -> AsyncGenerator[StreamItem, None]:
    """The run in this process, on the registry ``effmesh serve`` would build from ``config``
    (its model servers started here and stopped at the end).

    Raises:
        SettingsError: a bad configuration.
        EffmeshError: an agent or model that cannot start, or no router.
    """
    # Only an in-process run needs the whole gateway (and its model stack) imported.
    from gateway import settings  # noqa: PLC0415
    from gateway.models import ModelPool  # noqa: PLC0415
    from gateway.server import build_registry  # noqa: PLC0415

    cfg = settings.load(config)
    models = ModelPool(cfg)
    try:
        registry = await build_registry(cfg, models)
        route = registry.route(ROUTER_SKILL, None)
        async for item in calls.stream(
            route,
            invocation,
            calls.new_task_id(),
            scope=calls.scope_for(None),
            principal=None,
        ):
            yield item
    finally:
        await models.aclose()


# -- effmesh ask -------------------------------------------------------------------------------


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
            source = remote_items(options.url, options.token, invocation)
        else:
            err.write(f"effmesh: no gateway answers at {options.url}; running in-process\n")
            source = local_items(options.config, invocation)
    view = RunView(marks_for(out))
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
    why = _text(task.status_message.parts).strip() if task.status_message else ""
    reason = why.splitlines()[0] if why else f"it ended {task.state.value}"
    err.write(f"effmesh: the run failed: {reason}\n")
    return EXIT_FAILED


# -- effmesh calibrate ------------------------------------------------------------------------


def read_labelled(path: str) -> list[tuple[str, str]]:
    """(task, strategy) pairs from a JSON list of ``{"task": str, "strategy": str, ...}``, or
    an object holding that list as ``tasks`` (the shape of tests/data/routing_tasks.json);
    other fields of an entry (a language, a count) are ignored.

    Raises:
        InvalidParams: the file cannot be read, is not JSON, or an entry is malformed.
    """
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidParams(f"cannot read {path}: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise InvalidParams(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise InvalidParams(f"{path} is not JSON (line {exc.lineno}: {exc.msg})") from None
    if isinstance(raw, dict) and "tasks" in raw:
        raw = raw["tasks"]
    if not isinstance(raw, list) or not raw:
        raise InvalidParams(f"{path} must hold a non-empty JSON list of labelled tasks")
    out: list[tuple[str, str]] = []
    for i, entry in enumerate(raw):
        where = f"{path}[{i}]"
        if not isinstance(entry, dict) or not {"task", "strategy"} <= set(entry):
            raise InvalidParams("must be an object with task and strategy", path=where)
        task, strategy = entry["task"], entry["strategy"]
        if not isinstance(task, str) or not task.strip():
            raise InvalidParams("must be a non-empty string", path=f"{where}.task")
        if strategy not in STRATEGIES:
            raise InvalidParams(f"must be one of {', '.join(STRATEGIES)}", path=f"{where}.strategy")
        out.append((task, strategy))
    return out


def weights_toml(weights: Mapping[str, float]) -> str:
    """A ``[routing.weights]`` table for effmesh.toml."""
    lines = ["[routing.weights]"]
    # repr of a float always reads back as a TOML float (never as an integer).
    lines += [f"{name} = {round(float(value), 6)!r}" for name, value in weights.items()]
    return "\n".join(lines) + "\n"


def calibrate(path: str, out_path: str | None, out: TextIO, err: TextIO) -> int:
    """Fit the complexity weights to the labelled tasks in ``path``; returns the exit code."""
    from gateway.routing.complexity import Strategy  # noqa: PLC0415 - imports the analyzer
    from gateway.routing.complexity import calibrate as fit  # noqa: PLC0415

    try:
        examples = [(task, Strategy(label)) for task, label in read_labelled(path)]
        result = fit(examples, None)
    except EffmeshError as exc:
        err.write(f"effmesh: {exc.public_message}\n")
        return EXIT_NOT_STARTED
    block = weights_toml(result.weights.as_dict())
    out.write(
        f"accuracy on {len(examples)} tasks: {result.start_accuracy:.1%} with the default "
        f"weights, {result.accuracy:.1%} calibrated\n"
    )
    if out_path is None:
        out.write(f"\n# paste into effmesh.toml\n{block}")
        return EXIT_COMPLETED
    try:
        Path(out_path).write_text(block, encoding="utf-8")
    except OSError as exc:
        err.write(f"effmesh: cannot write {out_path}: {exc.strerror or type(exc).__name__}\n")
        return EXIT_NOT_STARTED
    out.write(f"wrote [routing.weights] to {out_path}\n")
    return EXIT_COMPLETED
