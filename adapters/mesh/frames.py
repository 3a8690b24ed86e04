"""The mesh protocol's methods: one name and one typed frame each.

A frame is what one JSON-RPC message of the protocol means; ``adapters.mesh.codec`` turns
frames into messages and back. Descriptors, invocations and stream items are canonical values
here; on the wire they travel in A2A's JSON forms.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from adapters.errors import EffmeshError
from adapters.jsonrpc import RequestId
from adapters.model import AgentDescriptor, Invocation, StreamItem

SUBPROTOCOL: Final = "effmesh"
"""The WebSocket subprotocol of ``/ws``."""
FRAMES: Final = 2
"""The frame set this side speaks, exchanged in ``mesh/hello``: 1 (a peer that names none)
forwards plain calls; 2 adds a forwarded call's ``mode`` and the follow-up addressing of a task
that waits for its caller (``Run.resume``, ``Event.waiting``). Every field set 2 adds is
optional, so a set-1 peer reads set-2 frames as the plain calls they also are."""
SPEAKS_KEY: Final = "effmesh.speaks"
"""Descriptor metadata of an announced card: the protocol the agent itself speaks when its
gateway passes its answers on as they were (``"a2a"``), so the gateways that reach it through
the federation pass them on too."""

REGISTER: Final = "mesh/register"
RUN: Final = "mesh/run"
EVENT: Final = "mesh/event"
CANCEL: Final = "mesh/cancel"
HELLO: Final = "mesh/hello"
ANNOUNCE: Final = "mesh/announce"
WITHDRAW: Final = "mesh/withdraw"
PING: Final = "mesh/ping"

GATEWAY_ID_PATTERN: Final = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
"""A gateway's id in the federation."""
MAX_PATH: Final = 64
"""Most gateway ids an announcement's path or a call's visited list may hold."""
MAX_MESSAGE_ID: Final = 64
"""Longest id of a forwarded call's message, and of a waiting task's handle."""

Version = tuple[int, int]
"""(epoch, seq) of an origin's state: compared as a tuple."""


@dataclass(frozen=True, slots=True)
class Register:
    """Peer -> gateway: offer ``agents`` through this socket. Answered with the names
    registered (``encode_register_result``), unless ``id`` is None."""

    id: RequestId | None
    agents: tuple[AgentDescriptor, ...]
    method: ClassVar[str] = REGISTER


@dataclass(frozen=True, slots=True)
class Forwarding:
    """What a call passed from gateway to gateway carries so that it cannot loop: the id of
    its message (each gateway refuses one it has seen), the gateways it has crossed, and the
    ones it visited, this one last."""

    message: str
    hops: int
    visited: tuple[str, ...]
    principal: str | None = None
    """The caller's token name on the origin gateway (``visited[0]``); None: no caller a token
    names. A claim of the gateways the call passed: the far gateway decides, by its own
    configuration, what (if anything) it lets that caller reach."""
    claim: str | None = None
    """The origin gateway's signature over who the caller is and where the call goes (a
    compact ``<payload>.<signature>``, opaque here): what lets the far gateway believe
    ``principal`` when gateways in between could have written it."""

    @property
    def origin(self) -> str | None:
        """The gateway the call came from first (None: the call names none)."""
        return self.visited[0] if self.visited else None


@dataclass(frozen=True, slots=True)
class Waiting:
    """A task that waits for its caller's answer on gateway ``gateway``, by the handle
    ``task`` that gateway gave it (opaque to every other gateway)."""

    gateway: str
    task: str


@dataclass(frozen=True, slots=True)
class Run:
    """Gateway -> peer or gateway: run ``invocation`` on the far side's agent ``agent``.

    ``call`` is the request's id: the far side answers with :class:`Event` frames naming it,
    then the call's result (``encode_run_result``) or an error. The far side relays every
    item it yields. Only a call between gateways (``forwarding`` set) carries the
    invocation's history, its mode (``"stream"``: the far side reads the agent's own stream;
    any other mode decodes as ``"sync"``) and ``resume``, the task waiting for the answer this
    call carries; a peer's agent takes none of them, and its call decodes as ``"sync"``.
    """

    call: RequestId
    agent: str
    invocation: Invocation
    forwarding: Forwarding | None = None
    resume: Waiting | None = None
    method: ClassVar[str] = RUN


@dataclass(frozen=True, slots=True)
class Event:
    """One item a running call yields, sent back to the side that asked for the call.
    ``waiting``: the item leaves the agent's task waiting for its caller, and a follow-up
    reaches that task by naming this in its ``Run.resume`` (a forwarded call's alone)."""

    call: RequestId
    item: StreamItem
    waiting: Waiting | None = None
    method: ClassVar[str] = EVENT


@dataclass(frozen=True, slots=True)
class Cancel:
    """The caller cancelled call ``call``: the far side stops running it."""

    call: RequestId
    method: ClassVar[str] = CANCEL


@dataclass(frozen=True, slots=True)
class Hello:
    """A joining gateway opens a link: its id and the frame set it speaks (1 when it names
    none). Answered with the accepting gateway's id and frame set (``encode_hello_result``);
    each side then sends the other only the frames of the lower set."""

    id: RequestId
    gateway: str
    frames: int = 1
    method: ClassVar[str] = HELLO


@dataclass(frozen=True, slots=True)
class Announce:
    """The state of ``origin``'s agents, at ``version``, as the sender reaches it: ``path``
    names the gateways the announcement passed, origin first. ``agents`` are A2A agent
    cards, passed on as they came."""

    origin: str
    version: Version
    path: tuple[str, ...]
    agents: tuple[Mapping[str, Any], ...]
    method: ClassVar[str] = ANNOUNCE


@dataclass(frozen=True, slots=True)
class Withdraw:
    """The sender no longer reaches ``origin``."""

    origin: str
    method: ClassVar[str] = WITHDRAW


@dataclass(frozen=True, slots=True)
class Ping:
    """The heartbeat of a link, both ways."""

    method: ClassVar[str] = PING


Frame = Register | Run | Event | Cancel | Hello | Announce | Withdraw | Ping
"""A request or notification of the mesh protocol."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The answer to request ``id``: its ``result``, or the ``error`` the far side reported."""

    id: RequestId
    result: Mapping[str, Any] = field(default_factory=dict)
    error: EffmeshError | None = None


Received = Frame | Reply
"""What one message read from the socket decodes to."""
