"""The mesh adapter: every frame of the ``/ws`` protocol survives a trip through its JSON,
and a bad frame is refused with the adapter's typed error and the id to answer, never with a
stray exception."""

from __future__ import annotations

import copy
import json
from typing import Any, get_args

import pytest

from adapters import errors as E
from adapters import jsonrpc, mesh
from adapters.a2a.cards import INTERFACES_KEY
from adapters.model import (
    AgentDescriptor,
    Artifact,
    ArtifactEvent,
    DataPart,
    Invocation,
    Message,
    Skill,
    StatusEvent,
    Task,
    TaskState,
    TextPart,
    TraceContext,
)
from tests.badinput import bad_bytes, bad_documents
from tests.errorcases import ERRORS

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

AGENT = AgentDescriptor(
    "far",
    (Skill("echo", "Returns what it is given.", tags=("test",), examples=("hi",)),),
    "An agent behind a peer.",
    "1.0",
    streaming=True,
)
QUESTION = Message("user", (TextPart("2+2?"),), message_id="m1", context_id="c1")
INVOCATION = Invocation(
    "echo",
    QUESTION,
    trace=TraceContext(TRACEPARENT, "k=v"),
    metadata={"effmesh.principal": "ops"},
)
EARLIER = (
    Message("user", (TextPart("hello"),), message_id="m0", context_id="c1"),
    Message("agent", (DataPart({"seen": True}),), message_id="m0b", context_id="c1"),
)
DONE = Task(
    "t1",
    TaskState.COMPLETED,
    "c1",
    artifacts=(Artifact("a1", (TextPart("4"),), "result"),),
)
CARD = {"name": "near", "description": "d", "version": "1", "skills": []}

FRAMES: list[mesh.Frame] = [
    mesh.Register(0, (AGENT,)),
    mesh.Register(None, ()),
    mesh.Run(7, "far", INVOCATION),
    mesh.Run(
        "call-8",
        "far",
        Invocation("echo", QUESTION, history=EARLIER),
        mesh.Forwarding("0123abcd", 2, ("gw-a", "gw-b:8640")),
    ),
    mesh.Run(
        "call-9",
        "far",
        Invocation("echo", QUESTION, mode="stream", history=EARLIER),
        mesh.Forwarding("0123abce", 1, ("gw-a",), "ide", "claim.sig"),
        mesh.Waiting("gw-c", "3f1c"),
    ),
    mesh.Event(7, StatusEvent("t1", TaskState.WORKING, "c1")),
    mesh.Event(
        "call-9",
        StatusEvent("t1", TaskState.INPUT_REQUIRED, "c1"),
        mesh.Waiting("gw-c", "3f1c"),
    ),
    mesh.Event(7, ArtifactEvent("t1", Artifact("a1", (TextPart("4"),)), "c1", last_chunk=True)),
    mesh.Event("call-8", DONE),
    mesh.Event(9, Message("agent", (TextPart("hi"),), message_id="r1")),
    mesh.Cancel(7),
    mesh.Hello(1, "gw-a"),
    mesh.Hello(1, "gw-a", mesh.FRAMES),
    mesh.Announce("gw-c", (1700000000, 3), ("gw-c", "gw-b"), (CARD,)),
    mesh.Announce("gw-c", (0, 0), ("gw-c",), ()),
    mesh.Withdraw("gw-c"),
    mesh.Ping(),
]


def wire(message: dict[str, Any]) -> bytes:
    """What goes on the socket."""
    return json.dumps(message).encode()


def read(raw: Any) -> mesh.Received:
    """``raw`` as the adapter reads it: bytes through ``parse``, JSON values through ``decode``."""
    return mesh.parse(raw) if isinstance(raw, bytes | str) else mesh.decode(raw)


def refusal(raw: Any) -> jsonrpc.EnvelopeError:
    with pytest.raises(jsonrpc.EnvelopeError) as caught:
        read(raw)
    return caught.value


def refusals(docs: Any) -> list[jsonrpc.EnvelopeError]:
    """The refusal of each of ``docs`` that is refused; any other exception propagates. What
    is accepted must go out again as a frame of the same kind."""
    refused = []
    for doc in docs:
        try:
            message = read(doc)
        except jsonrpc.EnvelopeError as exc:
            refused.append(exc)
            continue
        if not isinstance(message, mesh.Reply):
            assert type(mesh.decode(mesh.encode(message))) is type(message)
    return refused


def run_params(**fields: Any) -> dict[str, Any]:
    """A forwarded mesh/run's params, valid unless ``fields`` break them."""
    params = mesh.encode(mesh.Run(1, "far", INVOCATION, mesh.Forwarding("m", 1, ("gw-a",))))
    return dict(params["params"]) | fields


# --- round trips -------------------------------------------------------------------------


def test_the_examples_cover_every_frame_of_the_protocol() -> None:
    assert {type(frame) for frame in FRAMES} == set(get_args(mesh.Frame))


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: type(f).__name__)
def test_every_frame_decodes_to_itself_from_its_wire_bytes(frame: mesh.Frame) -> None:
    message = mesh.encode(frame)
    assert message["method"] == frame.method
    assert mesh.parse(wire(message)) == frame
    assert mesh.decode(message) == frame


def test_a_run_carries_no_mode_and_decodes_as_a_plain_call() -> None:
    streaming = mesh.Run(3, "far", Invocation("echo", QUESTION, mode="stream"))
    decoded = mesh.parse(wire(mesh.encode(streaming)))
    assert isinstance(decoded, mesh.Run)
    assert decoded.invocation.mode == "sync"
    assert decoded == mesh.Run(3, "far", Invocation("echo", QUESTION))


def test_only_a_forwarded_run_carries_a_history() -> None:
    with pytest.raises(E.CannotCarry):
        mesh.encode(mesh.Run(3, "far", Invocation("echo", QUESTION, history=EARLIER)))


def test_only_a_forwarded_run_resumes_a_task() -> None:
    with pytest.raises(E.CannotCarry):
        mesh.encode(mesh.Run(3, "far", Invocation("echo", QUESTION), resume=mesh.Waiting("g", "t")))


def test_a_forwarded_run_carries_stream_and_any_other_mode_as_a_plain_call() -> None:
    forwarding = mesh.Forwarding("m", 1, ("gw-a",))
    for mode, sent in [("stream", "stream"), ("sync", "sync"), ("async", "sync")]:
        run = mesh.Run(3, "far", Invocation("echo", QUESTION, mode=mode), forwarding)
        message = mesh.encode(run)
        assert message["params"].get("mode", "sync") == sent
        decoded = mesh.decode(message)
        assert isinstance(decoded, mesh.Run)
        assert decoded.invocation.mode == sent


def test_frame_set_1_frames_are_unchanged_and_read_as_set_1() -> None:
    """What a gateway on the older frame set sends and reads: no ``frames``, ``mode``,
    ``resume`` or ``waiting`` unless set 2 needs them."""
    assert mesh.encode(mesh.Hello(1, "gw-a"))["params"] == {"gateway": "gw-a"}
    assert mesh.encode_hello_result(1, "gw-b") == mesh.encode_hello_result(1, "gw-b", 1)
    old = mesh.parse(wire({"jsonrpc": "2.0", "id": 1, "result": {"gateway": "gw-b"}}))
    assert isinstance(old, mesh.Reply)
    assert (mesh.decode_hello_result(old), mesh.decode_hello_frames(old)) == ("gw-b", 1)
    new = mesh.parse(wire(mesh.encode_hello_result(1, "gw-b", mesh.FRAMES)))
    assert isinstance(new, mesh.Reply)
    assert mesh.decode_hello_frames(new) == mesh.FRAMES
    plain = mesh.encode(
        mesh.Run(3, "far", Invocation("echo", QUESTION), mesh.Forwarding("m", 1, ("a",)))
    )
    assert not {"mode", "resume"} & plain["params"].keys()
    assert "waiting" not in mesh.encode(mesh.Event(3, DONE))["params"]


def test_replies_carry_results_and_errors_back_by_id() -> None:
    assert mesh.parse(wire(mesh.encode_run_result(7))) == mesh.Reply(7, {})
    registered = mesh.parse(wire(mesh.encode_register_result(0, ["far"])))
    assert registered == mesh.Reply(0, {"registered": ["far"]})
    hello = mesh.parse(wire(mesh.encode_hello_result(1, "gw-b")))
    assert isinstance(hello, mesh.Reply)
    assert mesh.decode_hello_result(hello) == "gw-b"


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_an_error_reply_rebuilds_the_same_canonical_error(error: E.EffmeshError) -> None:
    reply = mesh.parse(wire(mesh.encode_error(error, "call-1")))
    assert isinstance(reply, mesh.Reply)
    assert reply.id == "call-1"
    assert reply.error is not None
    assert reply.error.code == error.code
    assert reply.error.public_message == error.public_message


def test_a_foreign_exception_goes_out_as_a_generic_internal_error() -> None:
    reply = mesh.parse(wire(mesh.encode_error(KeyError("secret"), 3)))
    assert isinstance(reply, mesh.Reply)
    assert reply.error is not None
    assert reply.error.code == E.ErrorCode.INTERNAL
    assert "secret" not in reply.error.public_message


def test_a_refused_hello_raises_the_error_the_gateway_answered() -> None:
    reply = mesh.parse(wire(mesh.encode_error(E.Forbidden(), 1)))
    assert isinstance(reply, mesh.Reply)
    with pytest.raises(E.Forbidden):
        mesh.decode_hello_result(reply)
    with pytest.raises(E.InvalidParams):
        mesh.decode_hello_result(mesh.Reply(1, {"gateway": "no spaces"}))


def test_an_announced_card_hides_the_agents_own_address() -> None:
    here = AgentDescriptor(
        "far",
        AGENT.skills,
        "d",
        "1.0",
        url="http://10.0.0.5:9000/a2a",
        metadata={INTERFACES_KEY: [{"url": "http://10.0.0.5:9000/a2a"}]},
    )
    card = mesh.encode_card(here)
    assert "10.0.0.5" not in json.dumps(card)
    decoded, speaks = mesh.decode_card(card)
    assert speaks is None
    assert decoded.url is None
    assert (decoded.name, decoded.skills, decoded.description) == ("far", AGENT.skills, "d")


def test_an_announced_card_says_which_protocol_the_agent_speaks_itself() -> None:
    decoded, speaks = mesh.decode_card(mesh.encode_card(AGENT, speaks="a2a"))
    assert speaks == "a2a"
    assert mesh.SPEAKS_KEY not in decoded.metadata
    assert mesh.decode_card(mesh.encode_card(decoded)) == (decoded, None)


# --- bad frames ---------------------------------------------------------------------------


def test_bytes_that_are_not_json_are_a_parse_error_with_no_id() -> None:
    refused = refusal(b'{"jsonrpc": "2.0", "method": ')
    assert refused.error.code == E.ErrorCode.PARSE_ERROR
    assert refused.id is None


@pytest.mark.parametrize(
    ("message", "code", "answer_to"),
    [
        ([], E.ErrorCode.INVALID_REQUEST, None),
        ({"jsonrpc": "1.0", "id": 4, "method": mesh.PING}, E.ErrorCode.INVALID_REQUEST, 4),
        ({"jsonrpc": "2.0", "id": 4, "method": "mesh/nope"}, E.ErrorCode.METHOD_NOT_FOUND, 4),
        (
            {"jsonrpc": "2.0", "id": 4, "method": mesh.RUN, "params": []},
            E.ErrorCode.INVALID_REQUEST,
            4,
        ),
        # A run and a hello are requests: without an id nobody could answer them.
        (
            {"jsonrpc": "2.0", "method": mesh.RUN, "params": run_params()},
            E.ErrorCode.INVALID_REQUEST,
            None,
        ),
        (
            {"jsonrpc": "2.0", "method": mesh.HELLO, "params": {"gateway": "gw-a"}},
            E.ErrorCode.INVALID_REQUEST,
            None,
        ),
        # Replies are never answered, whatever is wrong with them.
        ({"jsonrpc": "2.0", "result": {}}, E.ErrorCode.INVALID_REQUEST, None),
        ({"jsonrpc": "2.0", "id": True, "result": {}}, E.ErrorCode.INVALID_REQUEST, None),
        ({"jsonrpc": "2.0", "id": 4, "result": []}, E.ErrorCode.INVALID_REQUEST, None),
        ({"jsonrpc": "2.0", "id": 4}, E.ErrorCode.INVALID_REQUEST, None),
    ],
)
def test_a_bad_envelope_is_refused_with_the_id_to_answer(
    message: Any, code: str, answer_to: Any
) -> None:
    refused = refusal(message)
    assert refused.error.code == code
    assert refused.id == answer_to


ITEM = mesh.encode(mesh.Event(1, DONE))["params"]["item"]
"""A valid item, beside a field that is not."""


def request(method: str, params: Any, id: Any = 5) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": id, "method": method, "params": params}


@pytest.mark.parametrize(
    "message",
    [
        request(mesh.REGISTER, {"agents": {"name": "far"}}),
        request(mesh.REGISTER, {"agents": [{"description": "no name"}]}),
        request(mesh.RUN, run_params(agent=7)),
        request(mesh.RUN, run_params(params={"message": "not an object"})),
        request(mesh.RUN, run_params(hops=0)),
        request(mesh.RUN, run_params(hops=True)),
        request(mesh.RUN, run_params(message="")),
        request(mesh.RUN, run_params(message="m" * (mesh.MAX_MESSAGE_ID + 1))),
        request(mesh.RUN, run_params(visited=["not a gateway id"])),
        request(mesh.RUN, run_params(visited=["gw"] * (mesh.MAX_PATH + 1))),
        request(mesh.RUN, run_params(history=[{"role": "ROLE_USER"}])),
        request(mesh.RUN, run_params(mode="async")),
        request(mesh.RUN, run_params(resume="t1")),
        request(mesh.RUN, run_params(resume={"gateway": "gw", "task": ""})),
        request(mesh.RUN, run_params(resume={"gateway": "not a gateway", "task": "t1"})),
        request(mesh.RUN, run_params(resume={"gateway": "gw", "task": "t" * 65})),
        request(mesh.EVENT, {"call": 1, "item": ITEM, "waiting": {"task": "t1"}}),
        request(mesh.HELLO, {"gateway": "gw-a", "frames": 0}),
        request(mesh.HELLO, {"gateway": "gw-a", "frames": "2"}),
        request(mesh.EVENT, {"call": 1.5, "item": {}}),
        request(mesh.EVENT, {"call": 1, "item": {"nothing": "known"}}),
        request(mesh.CANCEL, {}),
        request(mesh.HELLO, {"gateway": ""}),
        request(mesh.ANNOUNCE, {"origin": "gw", "version": [1], "path": [], "agents": []}),
        request(mesh.ANNOUNCE, {"origin": "gw", "version": [1, -1], "path": [], "agents": []}),
        request(mesh.ANNOUNCE, {"origin": "gw", "version": [1, 1], "path": "gw", "agents": []}),
        request(mesh.ANNOUNCE, {"origin": "gw", "version": [1, 1], "path": [], "agents": [1]}),
        request(mesh.ANNOUNCE, {"origin": "-gw", "version": [1, 1], "path": [], "agents": []}),
        request(mesh.WITHDRAW, {"origin": None}),
    ],
    ids=lambda m: f"{m['method']}:{json.dumps(m['params'])[:40]}",
)
def test_a_frame_with_bad_params_is_invalid_params_answered_to_its_id(
    message: dict[str, Any],
) -> None:
    refused = refusal(message)
    assert refused.error.code == E.ErrorCode.INVALID_PARAMS
    assert refused.id == 5


def _valid_messages() -> list[Any]:
    replies = [
        mesh.encode_run_result(7),
        mesh.encode_hello_result(1, "gw-b"),
        mesh.encode_hello_result(1, "gw-b", mesh.FRAMES),
        mesh.encode_error(E.NotFound(), 7),
    ]
    return [mesh.encode(frame) for frame in FRAMES] + replies


def test_mutated_frames_decode_or_are_refused_with_an_adapter_error() -> None:
    docs = (copy.deepcopy(doc) for doc in bad_documents(_valid_messages(), 2000, seed=11))
    refused = refusals(docs)
    assert all(isinstance(exc.error, E.BadInput) for exc in refused)
    assert len(refused) > 1000


def test_broken_bytes_are_refused_with_an_adapter_error() -> None:
    refused = refusals(bad_bytes(_valid_messages(), 800, seed=12))
    assert all(isinstance(exc.error, E.BadInput) for exc in refused)
    codes = {exc.error.code for exc in refused}
    assert {E.ErrorCode.PARSE_ERROR, E.ErrorCode.INVALID_REQUEST} <= codes
