"""Every translation rule of every adapter in one list, and its Markdown rendering.

A direction S -> T applies S's ``decode`` rules and then T's ``encode`` rules; the
``direction.*`` rules name the end-to-end paths. The test suite checks that every rule here
has at least one test marked ``@pytest.mark.rule(<id>)``.
"""

from __future__ import annotations

from adapters import a2a, acp, mcp, translate
from adapters.errors import BY_CODE, HTTP_STATUS, ErrorCode, from_code

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


def errors_markdown() -> str:
    """The error table: each canonical error's one HTTP status (``HTTP_STATUS``) and its code
    on each protocol's wire, from the adapters' own mappings (by encoding one error of each
    kind)."""
    rows = [
        "| canonical | HTTP | MCP (JSON-RPC code) | A2A (JSON-RPC code) | ACP (code) |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for code in ErrorCode:
        err = from_code(code)
        assert type(err) is BY_CODE[code]
        m = mcp.encode_error(err)["code"]
        a = a2a.jsonrpc_error(err, None)["error"]["code"]
        _, c_body = acp.encode_error(err)
        rows.append(f"| `{code.value}` | {HTTP_STATUS[code]} | {m} | {a} | {c_body['code']} |")
    return "\n".join(rows) + "\n"


def update_readme(path: str) -> None:
    """Rewrite the generated sections of the README (rules and errors)."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for name, body in (("rules", markdown()), ("errors", errors_markdown())):
        start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = f"{head}{start}\n{body}{end}{tail}"
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
