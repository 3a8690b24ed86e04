"""``effmesh ask``: one task sent to the router agent ``effmesh``, its run shown as it happens.

- the items come from a gateway over ACP streaming (:func:`~gateway.cli.ask.sources.remote_items`,
  through :class:`~agents.remote.RemoteACPAgent`), or from a registry built in this process
  (:func:`~gateway.cli.ask.sources.local_items`); either way they are canonical stream items;
- :class:`RunView` folds those items into the run's state (routing, plans, one node per
  subtask) and says what changed, without any I/O;
- a renderer draws the view: on a terminal the plan tree is redrawn in place (ANSI cursor
  movement), anywhere else one line per event is printed as it happens, and ``--json``
  prints only the run's summary at the end;
- :func:`ask` picks the source and the renderer, and :func:`follow` drives one through the other.

Exit codes: 0 the run completed (possibly partly, the answer says what did not finish); 1 the
run started and failed; 2 it never started (bad usage or configuration, an unreachable or
refusing gateway); 130 interrupted (Ctrl-C cancels the run, remote or in-process, first).
"""

from gateway.cli.ask.command import AskOptions, ask, follow
from gateway.cli.ask.render import JsonRenderer, LineRenderer, LiveRenderer, Renderer
from gateway.cli.ask.sources import ROUTER
from gateway.cli.ask.view import Node, PlanView, RunView

__all__ = [
    "ROUTER",
    "AskOptions",
    "JsonRenderer",
    "LineRenderer",
    "LiveRenderer",
    "Node",
    "PlanView",
    "Renderer",
    "RunView",
    "ask",
    "follow",
]
