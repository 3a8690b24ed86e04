"""The skills a plan may use for one caller, and how a subtask's text becomes a skill's input.

A skill takes a subtask's text in one of two ways:

- free text: no input schema, or the plain-text one (``{"text": ...}``): a text part;
- one string field: a schema whose only required property is a string (the calculator's
  ``expression``): a data part ``{field: text}``. The deterministic planner gives it a
  requirement only when the text is a value rather than a sentence (at most one word of
  letters, as in ``sqrt(2) * 3``) and fits the field's ``pattern`` and ``maxLength``: it
  cannot tell which part of "compute 2 + 3" is the expression, so a sentence goes to a skill
  that reads text.

Skills with richer inputs stay usable by a model's plan (the agent checks what it gets), but
the deterministic planner, which cannot fill structured arguments, passes them over.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.model import DataPart, Part, TextPart
from agents.tools.index import ToolIndex, ToolInfo
from gateway.registry import Registry

_LETTER_WORD = re.compile(r"[^\W\d_]{2,}")


@dataclass(frozen=True, slots=True)
class Entry:
    name: str
    description: str
    schema: Mapping[str, Any] | None
    field: str | None
    """The one string field the text goes into; None: the text is a text part."""
    structured: bool
    """The input is richer than text or one string field."""
    pattern: re.Pattern[str] | None = None
    max_length: int | None = None

    def accepts(self, text: str) -> bool:
        """Whether the deterministic planner may hand ``text`` to this skill."""
        if self.structured:
            return False
        if self.field is not None and len(_LETTER_WORD.findall(text)) > 1:
            return False
        if self.max_length is not None and len(text) > self.max_length:
            return False
        return self.pattern is None or self.pattern.search(text) is not None

    def parts(self, text: str) -> tuple[Part, ...]:
        if self.field is None:
            return (TextPart(text),)
        return (DataPart({self.field: text}),)


def entry_for(name: str, description: str, schema: Mapping[str, Any] | None) -> Entry:
    props = schema.get("properties") if schema is not None else None
    if schema is None or not isinstance(props, Mapping) or not props:
        return Entry(name, description, schema, None, False)
    required = schema.get("required")
    wanted = list(required) if isinstance(required, list) else list(props)
    if len(wanted) != 1 or not isinstance(props.get(wanted[0]), Mapping):
        return Entry(name, description, schema, None, True)
    field_name = str(wanted[0])
    prop = props[field_name]
    if prop.get("type") != "string":
        return Entry(name, description, schema, None, True)
    if field_name == "text" and len(props) == 1:
        return Entry(name, description, schema, None, False)
    raw_pattern = prop.get("pattern")
    try:
        pattern = re.compile(raw_pattern) if isinstance(raw_pattern, str) else None
    except re.error:
        return Entry(name, description, schema, field_name, True)
    limit = prop.get("maxLength")
    return Entry(
        name,
        description,
        schema,
        field_name,
        False,
        pattern,
        limit if isinstance(limit, int) else None,
    )


class Catalog:
    """The skills one plan may use, ranked against a subtask's text by :class:`ToolIndex`
    (word overlap fused with meaning, the specialists' tool selection)."""

    def __init__(self, entries: Sequence[Entry], index: ToolIndex) -> None:
        self.entries = {e.name: e for e in entries}
        self._index = index
        self._tools = [ToolInfo(e.name, e.description, e.schema or {}) for e in entries]

    @classmethod
    def of(
        cls,
        registry: Registry,
        principal: str | None,
        *,
        patterns: Sequence[str],
        exclude: str,
        index: ToolIndex,
    ) -> Catalog:
        """The skills of ``registry`` that ``principal`` may call and ``patterns`` name,
        without agent ``exclude`` (the router itself). A wildcard leaves out skills tagged
        ``test`` (fixtures such as a skill that waits forever); naming one exactly keeps it."""
        entries = []
        for route in registry.routes(principal):
            descriptor = route.agent.descriptor
            if descriptor.name == exclude or not route.agent.healthy:
                continue
            name = f"{descriptor.name}.{route.skill.name}"
            exact = name in patterns
            if not exact and (
                "test" in route.skill.tags
                or not any(fnmatch.fnmatchcase(name, p) for p in patterns)
            ):
                continue
            text = route.skill.description or descriptor.description or ""
            entries.append(entry_for(name, text, route.skill.input_schema))
        return cls(entries, index)

    @property
    def names(self) -> list[str]:
        return sorted(self.entries)

    def best(self, text: str) -> Entry | None:
        """The most relevant skill that can take ``text`` as it is (None: none can).

        Ranking costs a query embedding (tens of milliseconds on a small CPU), so it runs only
        when two or more skills could take the text: with one, that one is the answer."""
        able = [e for e in self.entries.values() if e.accepts(text)]
        if len(able) <= 1:
            return able[0] if able else None
        for tool in self._index.ranked(text, self._tools):
            entry = self.entries[tool.name]
            if entry.accepts(text):
                return entry
        return None

    def lines(self) -> list[str]:
        """One ``name: description`` line per skill, name-sorted (a stable prompt prefix)."""
        return [f"- {n}: {self.entries[n].description}".rstrip(": ") for n in self.names]
