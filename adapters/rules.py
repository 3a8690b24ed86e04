"""Every translation rule of every adapter in one list, and its Markdown rendering.

A direction S -> T applies S's ``decode`` rules and then T's ``encode`` rules; the
``direction.*`` rules name the end-to-end paths. The test suite checks that every rule here
has at least one test marked ``@pytest.mark.rule(<id>)``.
"""

from __future__ import annotations

from adapters import a2a, acp, mcp, translate

ALL_RULES: tuple[tuple[str, str], ...] = (
    *mcp.RULES,
    *a2a.RULES,
    *acp.RULES,
    *translate.DIRECTION_RULES,
)

_TITLES = {
    "mcp": "MCP",
    "a2a": "A2A 1.0",
    "acp": "ACP",
}


def markdown() -> str:
    """The mapping tables: one per protocol and direction of conversion."""
    out: list[str] = []
    for proto, title in _TITLES.items():
        for step, heading in (
            ("decode", f"{title} -> canonical"),
            ("encode", f"canonical -> {title}"),
        ):
            prefix = f"{proto}.{step}."
            rows = [(rid, text) for rid, text in ALL_RULES if rid.startswith(prefix)]
            out.append(f"#### {heading}\n\n| rule | mapping |\n| --- | --- |\n")
            out.extend(
                f"| `{rid[len(prefix) :]}` | {text.replace('|', '/')} |\n" for rid, text in rows
            )
            out.append("\n")
    return "".join(out)
