"""The run as a view: a router run's stream items folded into its routing, its plans and one
node per subtask. Pure: no I/O, so every renderer draws from the same state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final, Literal, assert_never

from adapters.model import (
    ArtifactEvent,
    DataPart,
    Message,
    Part,
    ProgressEvent,
    StatusEvent,
    StreamItem,
    Task,
    TaskState,
    TextPart,
)

SNIPPET_CHARS: Final = 60

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


def plain_text(parts: Sequence[Part]) -> str:
    """The text parts of ``parts``, joined (other parts are left out)."""
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
        self.trace_id: str | None = None
        """The trace the run's spans are recorded in, when the caller knows it."""

    @property
    def task_id(self) -> str | None:
        """The run's task id (the gateway's ACP run), once an item has said it."""
        return self.task.task_id if self.task is not None else None

    def ids(self) -> dict[str, str | None]:
        """The run's task and trace ids, which ``effmesh trace`` takes."""
        return {"task_id": self.task_id, "trace_id": self.trace_id}

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
                    self.answer = plain_text(item.parts)
                return []
            case ProgressEvent():
                return []
            case _:
                assert_never(item)

    def _artifact(self, name: str, parts: Sequence[Part]) -> None:
        if name == "answer":
            self.answer = plain_text(parts)
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
