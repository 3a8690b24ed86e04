"""Tools: the built-in tool agents (real tools that specialists, and any caller, reach through
the registry) and the index that ranks any tool against a request (:mod:`agents.tools.index`)."""
