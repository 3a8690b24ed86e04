"""A tool result's structured content checked against the tool's output schema.

MCP (2025-06-18 and later): a server that declares a tool's ``outputSchema`` must return
structured content that conforms to it, and clients should check it. The gateway is the
server's client, and its callers may not be MCP clients at all (an A2A or ACP caller has no
schema to check against), so it checks, as the SDK's client did before tool calls went past
it: a result that is not an error, of a tool with an output schema, must carry
``structuredContent`` that the schema accepts.

Each schema is compiled once per tool listing (compiling costs far more than checking); a tool
without an output schema costs one dictionary lookup per call. ``$ref`` resolves within the
schema document only, as in the SDK's client.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jsonschema import SchemaError, exceptions
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable

from adapters.model import Skill


class OutputChecks:
    """The compiled output schemas of one listing of a server's tools, by tool name."""

    def __init__(self, skills: Iterable[Skill]) -> None:
        self._checks: dict[str, Any] = {}
        self._broken: set[str] = set()
        """Tools whose output schema is not a valid JSON Schema: their results cannot be
        checked, so none is accepted (as the SDK's client refused them)."""
        for skill in skills:
            if skill.output_schema is None:
                continue
            schema = dict(skill.output_schema)
            kind = validator_for(schema)
            try:
                kind.check_schema(schema)
            except SchemaError:
                self._broken.add(skill.name)
                continue
            self._checks[skill.name] = kind(schema, registry=Registry())

    def problem(self, tool: str, result: dict[str, Any]) -> str | None:
        """What is wrong with ``result`` (wire JSON) of ``tool`` by its output schema, in a
        few words of effmesh's own; None when nothing is (or the tool has no schema)."""
        if tool in self._broken:
            return "has an output schema that is not a valid JSON Schema"
        check = self._checks.get(tool)
        if check is None or result.get("isError") is True:
            return None
        if "structuredContent" not in result:
            return "returned no structured content, which its output schema requires"
        try:
            error = exceptions.best_match(check.iter_errors(result["structuredContent"]))
        except Unresolvable:
            return "has an output schema with a $ref that does not resolve"
        if error is None:
            return None
        where = "/".join(str(step) for step in error.absolute_path) or "the top"
        return f"returned structured content its output schema refuses (at {where:.60})"
