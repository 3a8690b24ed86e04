"""Built-in tool agents: real tools that specialists (and any caller) reach through the registry."""
