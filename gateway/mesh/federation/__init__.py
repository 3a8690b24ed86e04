"""Federation: gateways linked over the mesh WebSocket share their agents, and a call to an
agent on another gateway is forwarded there, hop by hop. Its settings are the ``[federation]`` table
(``gateway.settings.federation``).

- ``table``: which gateway offers which agents, and the link to reach it (sans-I/O);
- ``claims``: the origin gateway's signature over who a forwarded call's caller is;
- ``link``: one linked peer gateway's socket, heartbeat and calls in flight;
- ``calls``: forwarding calls toward the agent's gateway, and serving forwarded calls;
- ``followups``: which task waiting for its caller a forwarded answer goes to, on both ends;
- ``service``: the federation of one gateway: joining, accepting, announcing.
"""
