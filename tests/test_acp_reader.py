"""A remote ACP run's events as its caller reads them (``adapters.acp.RunReader``), and ACP
runs that answer with a message. Events are built with acp-sdk's own models, in the order its
server emits them for an agent that yields message parts."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from acp_sdk.models import (
    Message,
    MessageAwaitRequest,
    MessageCompletedEvent,
    MessageCreatedEvent,
    MessagePart,
    MessagePartEvent,
    Run,
    RunAwaitingEvent,
    RunCompletedEvent,
    RunCreatedEvent,
    RunInProgressEvent,
)
from pydantic import BaseModel

from adapters import acp
from adapters import model as c
from adapters.model import TaskState
from gateway.runtime.runner import apply

rule = pytest.mark.rule
RUN_ID = uuid.uuid4()


def wire(event: BaseModel) -> dict[str, Any]:
    return event.model_dump(mode="json", exclude_none=True)


def run(status: str, **fields: Any) -> Run:
    return Run(run_id=RUN_ID, agent_name="upstream", status=status, **fields)


def streamed_answer(chunks: list[str]) -> list[dict[str, Any]]:
    """What acp-sdk's server sends for an agent that yields ``chunks`` as message parts."""
    parts = [MessagePart(content=text) for text in chunks]
    message = Message(role="agent/upstream", parts=parts)
    return [
        wire(RunCreatedEvent(run=run("created"))),
        wire(RunInProgressEvent(run=run("in-progress"))),
        wire(MessageCreatedEvent(message=Message(role="agent/upstream", parts=[]))),
        *(wire(MessagePartEvent(part=p)) for p in parts),
        wire(MessageCompletedEvent(message=message)),
        wire(RunCompletedEvent(run=run("completed", output=[message]))),
    ]


def texts(task: c.Task) -> list[str]:
    return [p.text for a in task.artifacts for p in a.parts if isinstance(p, c.TextPart)]


@rule("acp.decode.remote_run")
def test_a_streamed_answer_is_chunks_of_one_output_and_then_the_whole_run() -> None:
    reader = acp.RunReader(str(RUN_ID))
    items = [item for event in streamed_answer(["a", "b", "c"]) for item in reader.feed(event)]
    kinds = [type(item).__name__ for item in items]
    assert kinds == [
        "Task",
        "StatusEvent",
        "ArtifactEvent",
        "ArtifactEvent",
        "ArtifactEvent",
        "Task",
    ]
    chunks = [item for item in items if isinstance(item, c.ArtifactEvent)]
    assert [(e.artifact.artifact_id, e.append) for e in chunks] == [
        ("output-0", False),
        ("output-0", True),
        ("output-0", True),
    ]
    assert not reader.open
    # Folded as the gateway's runtime folds any agent's items: no early end, nothing lost.
    task = c.Task("t", TaskState.SUBMITTED)
    seen = []
    for item in items:
        task = apply(task, item)
        seen.append(texts(task))
    assert seen[2:5] == [["a"], ["a", "b"], ["a", "b", "c"]]
    assert task.state is TaskState.COMPLETED
    assert texts(task) == ["a", "b", "c"]


@rule("acp.decode.remote_run")
def test_a_resumed_run_does_not_start_again_and_is_open_until_it_ends() -> None:
    reader = acp.RunReader(str(RUN_ID), resumed=True)
    assert reader.open
    assert reader.feed(wire(RunCreatedEvent(run=run("created")))) == []
    (working,) = reader.feed(wire(RunInProgressEvent(run=run("in-progress"))))
    assert isinstance(working, c.StatusEvent)
    assert working.state is TaskState.WORKING
    assert reader.open


@rule("acp.decode.remote_run.awaiting")
def test_a_run_that_awaits_asks_a_question_whose_id_names_it() -> None:
    reader = acp.RunReader(str(RUN_ID))
    question = Message(parts=[MessagePart(content="which one?")])
    event = RunAwaitingEvent(
        run=run("awaiting", await_request=MessageAwaitRequest(message=question))
    )
    (asked,) = reader.feed(wire(event))
    assert isinstance(asked, c.StatusEvent)
    assert asked.state is TaskState.INPUT_REQUIRED
    assert asked.message is not None
    assert asked.message.message_id == reader.question_id
    assert asked.message.role == "agent"  # acp-sdk's Message defaults to the user's role
    assert [p.text for p in asked.message.parts if isinstance(p, c.TextPart)] == ["which one?"]
    assert not reader.open
    again = acp.RunReader(str(RUN_ID))
    again.feed(wire(event))
    assert again.question_id != reader.question_id


@rule("acp.encode.run")
def test_an_answer_given_as_a_status_message_is_the_runs_output_under_the_callers_name() -> None:
    said = c.Message("agent", (c.TextPart("the answer"),))
    task = c.Task(str(uuid.uuid4()), TaskState.COMPLETED, status_message=said)
    task = c.Task(task.task_id, task.state, status_message=said, metadata={"acp.agent_name": "up"})
    out = Run.model_validate(acp.encode_outcome(task, agent_name="gw.skill"))
    assert out.agent_name == "gw.skill"
    assert [p.content for m in out.output for p in m.parts] == ["the answer"]
    # A task with artifacts answers with them; its status message is not output.
    with_artifact = c.Task(
        task.task_id,
        task.state,
        status_message=said,
        artifacts=(c.Artifact("a", (c.TextPart("x"),)),),
    )
    out = Run.model_validate(acp.encode_outcome(with_artifact, agent_name="gw.skill"))
    assert [p.content for m in out.output for p in m.parts] == ["x"]


@rule("acp.decode.run")
def test_a_resumed_runs_leftover_await_request_is_not_a_question() -> None:
    # acp-sdk keeps await_request on a run after it is resumed and completes.
    question = Message(parts=[MessagePart(content="which one?")])
    answer = Message(role="agent/upstream", parts=[MessagePart(content="that one")])
    done = run("completed", await_request=MessageAwaitRequest(message=question), output=[answer])
    task = acp.decode_outcome(wire(done))
    assert task.status_message is None
    assert texts(task) == ["that one"]
