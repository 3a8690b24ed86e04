"""Routing feedback from callers: a decision of the router marked right or wrong.

A caller marks a decision of one of its own routed tasks, by the task's id (the A2A task id,
the ACP run id, or the ``decision`` field of the run record that every protocol returns):
``{"task_id", "verdict"?: "right" | "wrong", "correct"?: STRATEGY}``. Giving ``correct``
alone is enough (the verdict follows from it); a wrong verdict without ``correct`` is kept and
counted, but calibration cannot learn from it. Only the decision's owner (the token that sent
the task) may mark it, and operators may mark any; to anyone else a decision is not found,
exactly like a decision that does not exist. Marking again replaces the earlier mark.

Marks go to a JSON-lines file beside the decision log (``decisions.jsonl`` ->
``decisions.marked.jsonl``), each the decision's own line plus the mark, which is what
``effmesh calibrate --feedback`` reads. Operators list every mark; other callers list the
marks on their own decisions. Reachable as ``POST`` / ``GET /routing/feedback`` and as the
router's skill ``feedback`` (MCP tool ``effmesh.feedback``, A2A skill ``feedback``).
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from adapters.errors import EffmeshError, InvalidParams, NotFound, UpstreamUnavailable
from adapters.model import DataPart, Invocation, Message, Skill, TextPart
from agents.base import NOBODY, principal_in
from gateway.routing.complexity import Strategy
from gateway.routing.feedback import VERDICTS, DecisionLog

PATH: Final = "/routing/feedback"
FIELDS: Final = ("task_id", "verdict", "correct")
_SHOWN: Final = ("id", "task", "strategy", "source", "confidence", "owner")
"""What a listing shows of a decision (never its embedding)."""
_STRATEGIES: Final = tuple(s.value for s in Strategy)

FEEDBACK: Final = Skill(
    "feedback",
    "Marks the routing decision of one of your own routed tasks right or wrong, with the "
    "strategy it should have had, so the operator can recalibrate routing on real traffic.",
    input_schema={
        "type": "object",
        "properties": {
            "task_id": {"type": "string", "minLength": 1, "maxLength": 200},
            "verdict": {"type": "string", "enum": list(VERDICTS)},
            "correct": {"type": "string", "enum": list(_STRATEGIES)},
        },
        "required": ["task_id"],
        "additionalProperties": False,
    },
    tags=("routing", "feedback"),
)


def marks_path(decisions: Path) -> Path:
    """Where the marks on the decisions logged at ``decisions`` are kept."""
    return decisions.with_name(f"{decisions.stem}.marked{decisions.suffix or '.jsonl'}")


def read_mark(fields: object) -> tuple[str, str | None, str | None]:
    """``(task_id, verdict, correct)`` from a caller's mark.

    Raises:
        InvalidParams: not an object of those fields, or values of the wrong kind.
    """
    if not isinstance(fields, Mapping):
        raise InvalidParams("send an object: {task_id, verdict?, correct?}")
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise InvalidParams(f"unknown field {unknown[0]!r}")
    task_id, verdict, correct = (fields.get(name) for name in FIELDS)
    if not isinstance(task_id, str) or not task_id.strip() or len(task_id) > 200:
        raise InvalidParams("task_id must be the id of a routed task")
    if verdict is not None and verdict not in VERDICTS:
        raise InvalidParams('verdict must be "right" or "wrong"')
    if correct is not None and correct not in _STRATEGIES:
        raise InvalidParams(f"correct must be one of {', '.join(_STRATEGIES)}")
    if verdict is None and correct is None:
        raise InvalidParams("give the right strategy (correct), a verdict, or both")
    return task_id, verdict, correct


class Marks:
    """The marks on one decision log's decisions (thread-safe)."""

    def __init__(self, log: DecisionLog, operators: frozenset[str] = frozenset()) -> None:
        self.log = log
        self.path = marks_path(log.path)
        self.operators = operators
        self._lock = threading.Lock()

    def _may(self, who: str | None, owner: object) -> bool:
        if who is not None and who in self.operators:
            return True
        return who != NOBODY and owner == who

    def mark(self, who: str | None, fields: object) -> dict[str, Any]:
        """Marks a decision for ``who`` (the caller's token name; None: no tokens in use);
        returns the mark.

        Raises:
            InvalidParams: a malformed mark, or one that contradicts itself.
            NotFound: no decision of that id that ``who`` may mark.
            UpstreamUnavailable: the log or the marks file cannot be read or written.
        """
        task_id, verdict, correct = read_mark(fields)
        try:
            decision = self.log.find(task_id)
        except (OSError, ValueError):
            raise UpstreamUnavailable("the routing decision log cannot be read") from None
        if decision is None or not self._may(who, decision.get("owner")):
            raise NotFound(f"no routing decision for task {task_id!r}")
        chosen = decision.get("strategy")
        if verdict is None:
            verdict = "right" if correct == chosen else "wrong"
        elif verdict == "right" and correct not in (None, chosen):
            raise InvalidParams(f"the router chose {chosen}: a right verdict cannot correct it")
        elif verdict == "wrong" and correct == chosen:
            raise InvalidParams(f"the router chose {chosen}: a wrong verdict needs another one")
        mark = {
            "verdict": verdict,
            "correct": chosen if verdict == "right" else correct,
            "marked_by": who,
            "marked_at": round(time.time(), 3),
        }
        line = json.dumps({**decision, **mark}, ensure_ascii=False) + "\n"
        try:
            with self._lock, self.path.open("a", encoding="utf-8") as out:
                out.write(line)
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            sys.stderr.write(f"effmesh: cannot keep a routing mark in {self.path}: {reason}\n")
            raise UpstreamUnavailable("the routing mark cannot be kept") from None
        return {"task_id": task_id, "chosen": chosen, **mark}

    def listing(self, who: str | None) -> list[dict[str, Any]]:
        """The marks ``who`` may see, the last one per decision, oldest first.

        Raises:
            UpstreamUnavailable: the marks file cannot be read.
        """
        latest: dict[str, dict[str, Any]] = {}
        try:
            with self._lock:
                lines = self.path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []
        except (OSError, UnicodeDecodeError):
            raise UpstreamUnavailable("the routing marks cannot be read") from None
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
                continue
            if self._may(who, entry.get("owner")):
                latest.pop(entry["id"], None)
                latest[entry["id"]] = {
                    **{k: entry.get(k) for k in _SHOWN},
                    **{k: entry.get(k) for k in ("verdict", "correct", "marked_by", "marked_at")},
                }
        return list(latest.values())


def feedback_reply(marks: Marks, invocation: Invocation) -> Message:
    """The router's ``feedback`` skill: the mark in the invocation (one object, as a data part
    or as JSON text), made for the caller the gateway named.

    Raises:
        InvalidParams / NotFound / UpstreamUnavailable: as :meth:`Marks.mark`.
    """
    parts = invocation.message.parts
    fields: object = None
    if len(parts) == 1 and isinstance(parts[0], DataPart):
        fields = parts[0].data
    elif len(parts) == 1 and isinstance(parts[0], TextPart):
        try:
            fields = json.loads(parts[0].text)
        except ValueError:
            fields = None
    done = marks.mark(principal_in(invocation.metadata), fields)
    line = f"marked the routing of {done['task_id']} {done['verdict']}"
    if done["correct"] is not None:
        line += f" ({done['correct']})"
    return Message("agent", (TextPart(line), DataPart(done)))


def routes(marks: Marks | None) -> list[BaseRoute]:
    """``POST`` / ``GET /routing/feedback`` over ``marks`` (None: the gateway keeps no
    decision log, and both answer not found, saying so)."""
    # The HTTP side is loaded with the app only: the router used as a library (a specialist
    # process, `effmesh ask --local`) loads neither the guard nor its identity stack.
    from gateway import errors  # noqa: PLC0415
    from gateway.security.guard import principal_of  # noqa: PLC0415

    def refusal(request: Request, err: EffmeshError) -> Response:
        status, body, headers = errors.http_error(request.url.path, err)
        return Response(body, status, headers=headers, media_type="application/json")

    def store() -> Marks:
        if marks is None:
            raise NotFound("routing feedback is off: the gateway keeps no decision log")
        return marks

    async def mark(request: Request) -> Response:
        try:
            target = store()
            try:
                fields = json.loads(await request.body())
            except ValueError:
                raise InvalidParams("the body must be a JSON object") from None
            return JSONResponse(target.mark(principal_of(request.scope), fields))
        except EffmeshError as exc:
            return refusal(request, exc)

    async def listing(request: Request) -> Response:
        try:
            return JSONResponse({"marks": store().listing(principal_of(request.scope))})
        except EffmeshError as exc:
            return refusal(request, exc)

    return [Route(PATH, mark, methods=["POST"]), Route(PATH, listing, methods=["GET"])]
