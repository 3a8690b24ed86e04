"""Running a plan over its dependency graph.

- Every subtask starts as soon as the subtasks it depends on have finished; independent ones
  run at once, at most ``concurrency`` agent calls at a time across the whole run (nested
  plans included; a coordinated subtask holds no slot while its own subtasks run).
- A dependent subtask gets its inputs' results: in place of each ``{sN}`` in its input, and,
  for a skill that takes free text, as a list of results after the input when it names none.
- Each agent call has its own timeout; a call that times out or finds its agent unavailable
  is tried again (``retries`` more times, with a growing pause). Other failures are final.
- A failed subtask fails only what depends on it: those are skipped, the rest goes on.
- Cancelling :meth:`Executor.run` cancels every running agent call (an agent that talks to a
  remote peer forwards the cancel to it through that peer's protocol).
- Events (``subtask.started`` / ``subtask.finished``, and ``plan`` for each nested plan) go to
  ``emit`` as they happen, so their order shows what ran concurrently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from adapters.errors import EffmeshError, Timeout, UpstreamUnavailable
from gateway.routing.plan import PLACEHOLDER, InvalidPlan, Plan, Subtask
from observability import tracing

MAX_OUTPUT_CHARS = 4000
"""A result passed on to a dependent subtask (or shown in an event) is cut here."""
EVENT_OUTPUT_CHARS = 300


class Dispatch(Protocol):
    async def __call__(self, skill: str, text: str, *, free_text: bool) -> str:
        """Run ``skill`` on ``text`` and return its result as text.

        Raises:
            EffmeshError: the call failed; the error's public text names why.
        """
        ...


Replan = Callable[[Subtask, str, int], Awaitable[Plan]]
"""(coordinated subtask, its input with dependencies filled in, depth of the new plan) -> plan."""
Emit = Callable[[dict[str, Any], str], Awaitable[None]]
"""(event, one human-readable line) -> None."""


@dataclass(frozen=True, slots=True)
class Outcome:
    id: str
    """The subtask's path: ``s2``, or ``s2.s1`` inside the plan of coordinated ``s2``."""
    skill: str
    input: str
    state: str
    """``completed``, ``failed`` or ``skipped``."""
    output: str = ""
    error: str | None = None
    seconds: float = 0.0
    attempts: int = 0
    children: tuple[Outcome, ...] = ()

    @property
    def ok(self) -> bool:
        return self.state == "completed"

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "skill": self.skill,
            "input": self.input,
            "state": self.state,
            "output": self.output,
            "seconds": round(self.seconds, 3),
            "attempts": self.attempts,
        }
        if self.error is not None:
            out["error"] = self.error
        if self.children:
            out["subtasks"] = [c.as_json() for c in self.children]
        return out


def fill(text: str, results: dict[str, str]) -> str:
    """``text`` with each ``{sN}`` replaced by the result of ``sN``."""
    return PLACEHOLDER.sub(lambda m: results.get(m.group(1), m.group(0)), text)


def with_inputs(subtask: Subtask, results: dict[str, str], *, free_text: bool) -> str:
    text = fill(subtask.input, results)
    named = set(PLACEHOLDER.findall(subtask.input))
    unnamed = [d for d in subtask.depends_on if d not in named]
    if not (free_text and unnamed):
        return text
    lines = [f"[{d}] {results[d]}" for d in unnamed]
    return text + "\n\nResults it builds on:\n" + "\n".join(lines)


def synthesize(plan: Plan, outcomes: Sequence[Outcome]) -> str:
    """One answer from a plan's outcomes: the final result when one subtask ends the plan,
    else every final result under its request; then what did not finish, by name."""
    by_id = {o.id.rsplit(".", 1)[-1]: o for o in outcomes}
    needed = {d for s in plan.subtasks for d in s.depends_on}
    sinks = [by_id[s.id] for s in plan.subtasks if s.id not in needed and s.id in by_id]
    done = [o for o in sinks if o.ok]
    if len(sinks) == 1 and done:
        body = done[0].output
    else:
        body = "\n\n".join(f"{o.input}\n{o.output}" for o in done)
    missing = [o for o in outcomes if not o.ok]
    if missing:
        lines = [
            f"- {o.id} ({o.skill}): {o.state}, {o.error}" if o.error else f"- {o.id}: {o.state}"
            for o in missing
        ]
        body = (body + "\n\n" if body else "") + "Not finished:\n" + "\n".join(lines)
    return body


class Executor:
    def __init__(
        self,
        dispatch: Dispatch,
        *,
        emit: Emit,
        free_text: Callable[[str], bool],
        replan: Replan | None = None,
        concurrency: int = 4,
        timeout: float = 60.0,
        retries: int = 1,
        backoff: float = 0.2,
    ) -> None:
        self._dispatch = dispatch
        self._emit = emit
        self._free_text = free_text
        self._replan = replan
        self._slots = asyncio.Semaphore(concurrency)
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff

    async def run(self, plan: Plan, *, depth: int = 0, prefix: str = "") -> list[Outcome]:
        """Every subtask's outcome, in the plan's order."""
        futures: dict[str, asyncio.Future[Outcome]] = {
            s.id: asyncio.get_running_loop().create_future() for s in plan.subtasks
        }

        async def one(subtask: Subtask) -> None:
            needs = [await futures[d] for d in subtask.depends_on]
            attributes = {
                "effmesh.subtask.id": prefix + subtask.id,
                "effmesh.subtask.skill": subtask.skill,
                "effmesh.subtask.depends_on": subtask.depends_on,
                "effmesh.subtask.depth": depth,
            }
            with tracing.span(f"subtask {prefix}{subtask.id}", attributes=attributes) as span:
                outcome = await self._subtask(subtask, needs, depth, prefix)
                span.set_attribute("effmesh.subtask.state", outcome.state)
                span.set_attribute("effmesh.subtask.attempts", outcome.attempts)
                if not outcome.ok:
                    span.set_status(tracing.Status(tracing.StatusCode.ERROR, outcome.error))
            futures[subtask.id].set_result(outcome)

        async with asyncio.TaskGroup() as group:
            for subtask in plan.subtasks:
                group.create_task(one(subtask))
        return [futures[s.id].result() for s in plan.subtasks]

    async def _subtask(
        self, subtask: Subtask, needs: list[Outcome], depth: int, prefix: str
    ) -> Outcome:
        path = prefix + subtask.id
        failed = [o.id for o in needs if not o.ok]
        if failed:
            outcome = Outcome(
                path, subtask.skill, subtask.input, "skipped", error=f"needs {failed[0]}"
            )
            await self._finished(outcome)
            return outcome
        results = {o.id.rsplit(".", 1)[-1]: o.output[:MAX_OUTPUT_CHARS] for o in needs}
        if subtask.coordinated:
            return await self._coordinated(subtask, path, results, depth)
        text = with_inputs(subtask, results, free_text=self._free_text(subtask.skill))
        started = time.perf_counter()
        attempt = 0
        error: str | None = None
        output = ""
        async with self._slots:
            while True:
                attempt += 1
                await self._emit(
                    {
                        "event": "subtask.started",
                        "id": path,
                        "skill": subtask.skill,
                        "input": text[:EVENT_OUTPUT_CHARS],
                        "attempt": attempt,
                    },
                    f"{path} started: {subtask.skill}",
                )
                try:
                    async with asyncio.timeout(self.timeout):
                        output = await self._dispatch(
                            subtask.skill, text, free_text=self._free_text(subtask.skill)
                        )
                    error = None
                    break
                except TimeoutError:
                    error = f"no result within {self.timeout:g} s"
                    transient = True
                except (Timeout, UpstreamUnavailable) as exc:
                    error, transient = exc.public_message, True
                except EffmeshError as exc:
                    error, transient = exc.public_message, False
                except Exception:  # noqa: BLE001 - an agent's bug fails its subtask only
                    error, transient = "the agent failed", False
                if not transient or attempt > self.retries:
                    break
                await asyncio.sleep(self.backoff * 2 ** (attempt - 1))
        state = "failed" if error is not None else "completed"
        outcome = Outcome(
            path,
            subtask.skill,
            subtask.input,
            state,
            output[:MAX_OUTPUT_CHARS],
            error,
            time.perf_counter() - started,
            attempt,
        )
        await self._finished(outcome)
        return outcome

    async def _coordinated(
        self, subtask: Subtask, path: str, results: dict[str, str], depth: int
    ) -> Outcome:
        started = time.perf_counter()
        text = with_inputs(subtask, results, free_text=True)
        await self._emit(
            {
                "event": "subtask.started",
                "id": path,
                "skill": subtask.skill,
                "input": text[:EVENT_OUTPUT_CHARS],
                "attempt": 1,
            },
            f"{path} started: planning it again",
        )
        if self._replan is None:
            outcome = Outcome(
                path, subtask.skill, subtask.input, "failed", error="no coordinator to plan it"
            )
            await self._finished(outcome)
            return outcome
        try:
            plan = await self._replan(subtask, text, depth + 1)
        except InvalidPlan as exc:
            outcome = Outcome(path, subtask.skill, subtask.input, "failed", error=str(exc))
            await self._finished(outcome)
            return outcome
        await self._emit(
            {"event": "plan", "parent": path, "depth": depth + 1, **plan.as_json()},
            f"{path} planned: " + ", ".join(f"{s.id} {s.skill}" for s in plan.subtasks),
        )
        children = await self.run(plan, depth=depth + 1, prefix=f"{path}.")
        ok = any(c.ok for c in children)
        outcome = Outcome(
            path,
            subtask.skill,
            subtask.input,
            "completed" if ok else "failed",
            synthesize(plan, children)[:MAX_OUTPUT_CHARS],
            None if ok else "every part failed",
            time.perf_counter() - started,
            1,
            tuple(children),
        )
        await self._finished(outcome)
        return outcome

    async def _finished(self, outcome: Outcome) -> None:
        event: dict[str, Any] = {
            "event": "subtask.finished",
            "id": outcome.id,
            "skill": outcome.skill,
            "state": outcome.state,
            "output": outcome.output[:EVENT_OUTPUT_CHARS],
            "seconds": round(outcome.seconds, 3),
            "attempts": outcome.attempts,
        }
        line = f"{outcome.id} {outcome.state}: {outcome.skill}"
        if outcome.error is not None:
            event["error"] = outcome.error
            line += f" ({outcome.error})"
        await self._emit(event, line)
