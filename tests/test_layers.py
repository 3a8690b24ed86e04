"""Imports point down the layers (ARCHITECTURE.md), read from the source without importing it:

    gateway/        the service; gateway/cli on top of it, its protocol folders side by side
      adapters/     pure translation, no I/O          agents/   agent runtimes
    observability/  tracing and metrics

Every ``import`` counts, wherever it stands (in a function, under ``TYPE_CHECKING``): a lazy
import is still a dependency. A failure lists every offending import with its file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("observability", "adapters", "agents", "gateway")
PROTOCOL_FOLDERS = ("gateway.mcp", "gateway.a2a", "gateway.acp", "gateway.mesh")
IO_LIBRARIES = (
    "asyncio",
    "anyio",
    "httpx",
    "httpx2",
    "websockets",
    "starlette",
    "uvicorn",
    "sqlite3",
    "socket",
    "ssl",
    "subprocess",
)


@dataclass(frozen=True)
class Rule:
    """Modules under ``importer`` (but not under ``unless``) import nothing under
    ``forbidden``. Names are dotted prefixes: ``gateway.mcp`` covers ``gateway.mcp.ws``."""

    importer: str
    forbidden: tuple[str, ...]
    reason: str
    unless: str | None = None


RULES: tuple[Rule, ...] = (
    Rule("observability", ("adapters", "agents", "gateway"), "observability is the lowest layer"),
    Rule("adapters", ("agents", "gateway"), "adapters sit below agents and the gateway"),
    Rule("adapters", IO_LIBRARIES, "adapters are sans-I/O"),
    Rule("agents", ("gateway",), "agents sit below the gateway"),
    Rule("", ("gateway.cli",), "nothing uses the command line", unless="gateway.cli"),
    *(
        Rule(folder, tuple(f for f in PROTOCOL_FOLDERS if f != folder), "protocols stand apart")
        for folder in PROTOCOL_FOLDERS
    ),
    Rule("gateway.runtime", PROTOCOL_FOLDERS, "the task runtime knows no protocol"),
    Rule("gateway.routing", PROTOCOL_FOLDERS, "the router knows no protocol"),
)

ALLOWED: Mapping[tuple[str, str], str] = {}
"""(importing module, imported module) -> why the layers allow it. Empty: today no module
needs an exception (no protocol folder imports another's code). An entry that no import uses
any more fails the test."""


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    importer: str
    imported: str
    rule: Rule

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: {self.importer} imports {self.imported} ({self.rule.reason})"


def _under(name: str, prefix: str) -> bool:
    return prefix == "" or name == prefix or name.startswith(prefix + ".")


def imports_of(source: str, module: str, *, package: bool) -> Iterator[tuple[int, str]]:
    """(line, imported module) for every import in ``source``, the source of ``module``
    (``package``: it is a package's ``__init__``). ``from a import b`` yields ``a`` and
    ``a.b``, since ``b`` may be a module; relative imports are resolved."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = module.split(".")
                anchor = parts if package else parts[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            yield node.lineno, base
            for alias in node.names:
                yield node.lineno, f"{base}.{alias.name}"


def check(
    source: str,
    module: str,
    path: str,
    *,
    package: bool = False,
    allowed: Mapping[tuple[str, str], str] = ALLOWED,
    used: set[tuple[str, str]] | None = None,
) -> list[Violation]:
    """The imports of ``source`` that go against :data:`RULES`, one per rule and line.
    Allowed imports are added to ``used``."""
    found: dict[tuple[int, Rule], Violation] = {}
    for line, imported in imports_of(source, module, package=package):
        for rule in RULES:
            if not _under(module, rule.importer) or (
                rule.unless is not None and _under(module, rule.unless)
            ):
                continue
            if not any(_under(imported, f) for f in rule.forbidden):
                continue
            exempt = [key for key in allowed if key[0] == module and _under(imported, key[1])]
            if exempt:
                if used is not None:
                    used.update(exempt)
                continue
            found.setdefault((line, rule), Violation(path, line, module, imported, rule))
    return sorted(found.values(), key=lambda v: (v.line, v.rule.reason))


def library() -> Iterator[tuple[str, str, bool]]:
    """(path relative to the repository, dotted module, is a package) of every library module."""
    for layer in LAYERS:
        for file in sorted((ROOT / layer).rglob("*.py")):
            parts = file.relative_to(ROOT).with_suffix("").parts
            package = parts[-1] == "__init__"
            yield str(file.relative_to(ROOT)), ".".join(parts[:-1] if package else parts), package


def test_imports_point_down_the_layers() -> None:
    violations: list[Violation] = []
    used: set[tuple[str, str]] = set()
    for path, module, package in library():
        source = (ROOT / path).read_text(encoding="utf-8")
        violations += check(source, module, path, package=package, used=used)
    assert not violations, "imports against the layers:\n" + "\n".join(map(str, violations))
    stale = sorted(set(ALLOWED) - used)
    assert not stale, f"allowed imports that no module makes any more: {stale}"


def test_the_scan_reads_every_layer_and_sees_the_app_wiring_the_protocols() -> None:
    modules = {module: path for path, module, _ in library()}
    assert {m.partition(".")[0] for m in modules} == set(LAYERS)
    app = (ROOT / modules["gateway.app"]).read_text(encoding="utf-8")
    seen = {name for _, name in imports_of(app, "gateway.app", package=False)}
    # The app wires every protocol folder in: the scan sees those imports.
    assert all(any(_under(name, folder) for name in seen) for folder in PROTOCOL_FOLDERS)


# --- the checker catches what it should ---------------------------------------------------


def test_every_kind_of_offending_import_is_reported_with_its_line() -> None:
    source = (
        "import asyncio\n"
        "from gateway.registry import Registry\n"
        "from adapters import jsonrpc\n"
        "def lazy():\n"
        "    import agents.base\n"
    )
    found = check(source, "adapters.mesh.codec", "adapters/mesh/codec.py")
    assert [(v.line, v.imported, v.rule.reason) for v in found] == [
        (1, "asyncio", "adapters are sans-I/O"),
        (2, "gateway.registry", "adapters sit below agents and the gateway"),
        (5, "agents.base", "adapters sit below agents and the gateway"),
    ]
    assert str(found[0]) == (
        "adapters/mesh/codec.py:1: adapters.mesh.codec imports asyncio (adapters are sans-I/O)"
    )


def test_upward_and_sideways_imports_are_caught_downward_ones_pass() -> None:
    def reasons(source: str, module: str, *, package: bool = False) -> list[str]:
        return [v.rule.reason for v in check(source, module, "x.py", package=package)]

    assert reasons("from agents import base", "observability.tracing") == [
        "observability is the lowest layer"
    ]
    assert reasons("from gateway import registry", "agents.remote") == [
        "agents sit below the gateway"
    ]
    assert reasons("from gateway import cli", "gateway.app") == ["nothing uses the command line"]
    assert reasons("from gateway.cli import ask", "gateway.cli.main") == []
    assert reasons("from gateway.a2a.http import routes", "gateway.mcp.ws") == [
        "protocols stand apart"
    ]
    # Relative imports resolve before the rules apply, from a module and from a package.
    assert reasons("from ..a2a import ws", "gateway.mcp.tools") == ["protocols stand apart"]
    assert reasons("from ..mesh import dialin", "gateway.acp", package=True) == [
        "protocols stand apart"
    ]
    assert reasons("from . import tools", "gateway.mcp.ws") == []
    assert reasons("from gateway.mcp import ws", "gateway.runtime.tasks") == [
        "the task runtime knows no protocol"
    ]
    assert reasons("from gateway.mesh import dialin\nimport socket", "gateway.app") == []
    assert reasons("import socketserver", "adapters.x") == []


def test_an_allowed_import_passes_and_is_marked_used() -> None:
    allowed = {("gateway.mcp.tools", "gateway.a2a"): "shared for a reason"}
    used: set[tuple[str, str]] = set()
    source = "from gateway.a2a import http"
    assert check(source, "gateway.mcp.tools", "x.py", allowed=allowed, used=used) == []
    assert used == set(allowed)
    assert check(source, "gateway.mcp.ws", "x.py", allowed=allowed) != []
