"""The mesh adapter: the protocol of the gateway's WebSocket ``/ws`` (subprotocol ``effmesh``),
spoken by dial-in peers and by the gateways of a federation. Pure: frames in, JSON out.

Messages are JSON-RPC 2.0, one per text frame. Descriptors, invocations, stream items and
errors travel in A2A's JSON forms (the richest of the three protocols), through the A2A
adapter.

A peer behind NAT dials in and offers its agents:

- peer -> gateway: ``mesh/register`` ``{"agents": [<agent card>...]}`` ->
  ``{"registered": [<name>...]}``;
- gateway -> peer: ``mesh/run`` ``{"agent", "params": <SendMessage params>}``; the peer answers
  with ``mesh/event`` notifications ``{"call": <id>, "item": <StreamResponse>}``, then the call's
  result (``{}``) or a JSON-RPC error;
- gateway -> peer: ``mesh/cancel`` ``{"call": <id>}`` when the caller cancels.

A gateway joins another one (with the federation token as its bearer token):

- ``mesh/hello`` ``{"gateway": <id>, "frames": n}`` -> ``{"gateway": <id>, "frames": n}``: each
  side learns the other's id and frame set (``FRAMES``; none named: set 1);
- ``mesh/announce`` ``{"origin", "version": [epoch, seq], "path": [<gateway id>...],
  "agents": [<card>...]}`` and ``mesh/withdraw`` ``{"origin"}``: the route table's adverts;
- ``mesh/run`` as above plus ``{"history": [<message>...], "message": <id>, "hops": n,
  "visited": [<gateway id>...]}``: a call forwarded toward the gateway offering the agent,
  answered and cancelled as above. Frame set 2 adds ``"mode": "stream"`` (the far gateway
  reads the agent's own stream) and ``"resume": {"gateway", "task"}`` (the answer to a task
  waiting there for its caller), and a ``mesh/event`` whose item leaves the agent's task
  waiting for its caller names it: ``"waiting": {"gateway", "task"}``. Announced cards of
  agents whose answers a gateway passes on as they were say so (``SPEAKS_KEY``);
- ``mesh/ping``: the heartbeat, both ways.
"""

from adapters.mesh.codec import (
    decode,
    decode_card,
    decode_hello_frames,
    decode_hello_result,
    encode,
    encode_card,
    encode_error,
    encode_hello_result,
    encode_register_result,
    encode_run_result,
    parse,
)
from adapters.mesh.frames import (
    ANNOUNCE,
    CANCEL,
    EVENT,
    FRAMES,
    GATEWAY_ID_PATTERN,
    HELLO,
    MAX_MESSAGE_ID,
    MAX_PATH,
    PING,
    REGISTER,
    RUN,
    SPEAKS_KEY,
    SUBPROTOCOL,
    WITHDRAW,
    Announce,
    Cancel,
    Event,
    Forwarding,
    Frame,
    Hello,
    Ping,
    Received,
    Register,
    Reply,
    Run,
    Version,
    Waiting,
    Withdraw,
)

__all__ = [
    "ANNOUNCE",
    "CANCEL",
    "EVENT",
    "FRAMES",
    "GATEWAY_ID_PATTERN",
    "HELLO",
    "MAX_MESSAGE_ID",
    "MAX_PATH",
    "PING",
    "REGISTER",
    "RUN",
    "SPEAKS_KEY",
    "SUBPROTOCOL",
    "WITHDRAW",
    "Announce",
    "Cancel",
    "Event",
    "Forwarding",
    "Frame",
    "Hello",
    "Ping",
    "Received",
    "Register",
    "Reply",
    "Run",
    "Version",
    "Waiting",
    "Withdraw",
    "decode",
    "decode_card",
    "decode_hello_frames",
    "decode_hello_result",
    "encode",
    "encode_card",
    "encode_error",
    "encode_hello_result",
    "encode_register_result",
    "encode_run_result",
    "parse",
]
