"""Who may import whom: the may-import column of DESIGN.md and the daemon's flow, checked on every module.

Every `import` and `from … import` (including the lazy ones inside functions, which are still dependencies) of
every module under daemon/, tray/ and server/ is read from its syntax tree. A rule names a package (or module)
and the ferrysync packages it must not reach; the planner additionally has an allow-list, since it must stay pure.
A new dependency that breaks the picture fails here with the file, the line and the rule.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TOPS = {"daemon": "ferrysync.daemon", "tray": "ferrysync.tray", "server": "ferrysync.server"}


@dataclass(frozen=True)
class Edge:
    source: str  # importing module, e.g. ferrysync.daemon.local.watcher
    target: str  # imported module or name, e.g. ferrysync.daemon.journal
    where: str  # file:line


def _module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = [TOPS[rel.parts[0]], *rel.parts[1:]]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _edges() -> list[Edge]:
    out: list[Edge] = []
    for top in TOPS:
        for path in sorted((REPO / top).rglob("*.py")):
            if "__pycache__" in path.parts or "migrations" in path.parts:
                continue
            source = _module_name(path)
            package = source if path.name == "__init__.py" else source.rsplit(".", 1)[0]
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                targets: list[str] = []
                if isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = node.module or ""
                    if node.level:
                        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                        base = ".".join([*anchor, *([node.module] if node.module else [])])
                    targets = [f"{base}.{a.name}" for a in node.names]
                where = f"{path.relative_to(REPO)}:{getattr(node, 'lineno', 0)}"
                out += [Edge(source, t, where) for t in targets if t.startswith("ferrysync.")]
    return out


EDGES = _edges()


def _within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


# (who, what it must not import, why)
FORBIDDEN: list[tuple[str, tuple[str, ...], str]] = [
    ("ferrysync.server", ("ferrysync.daemon", "ferrysync.tray"),
     "the server shares no code with the clients: the HTTP API is the contract"),
    ("ferrysync.daemon", ("ferrysync.tray", "ferrysync.server"),
     "the daemon runs without the tray, and starts the embedded cloud as a separate program"),
    ("ferrysync.daemon.local", ("ferrysync.daemon.engine", "ferrysync.daemon.remote", "ferrysync.daemon.transfer",
                                "ferrysync.daemon.planner", "ferrysync.daemon.ipc", "ferrysync.daemon.control",
                                "ferrysync.daemon.cli"),
     "local discovery observes the disk and writes the local tree; it knows nothing of the server or the engine"),
    ("ferrysync.daemon.remote", ("ferrysync.daemon.engine", "ferrysync.daemon.transfer", "ferrysync.daemon.planner",
                                 "ferrysync.daemon.ipc", "ferrysync.daemon.control", "ferrysync.daemon.cli",
                                 "ferrysync.daemon.local.watcher", "ferrysync.daemon.local.indexer"),
     "remote discovery and the HTTP client know the server and the remote tree, not the engine"),
    ("ferrysync.daemon.journal", ("ferrysync.daemon.local", "ferrysync.daemon.remote", "ferrysync.daemon.engine",
                                  "ferrysync.daemon.planner", "ferrysync.daemon.transfer"),
     "the journal stores the trees; the code that fills them depends on it, not the other way round"),
    ("ferrysync.daemon.transfer", ("ferrysync.daemon.engine", "ferrysync.daemon.journal", "ferrysync.daemon.planner",
                                   "ferrysync.daemon.ipc", "ferrysync.daemon.control", "ferrysync.daemon.cli"),
     "transfers move bytes; the executor decides and records"),
    ("ferrysync.daemon.engine", ("ferrysync.daemon.ipc", "ferrysync.daemon.control", "ferrysync.daemon.cli",
                                 "ferrysync.daemon.main", "ferrysync.daemon.autostart"),
     "the engine knows nothing of sockets or terminals: the control adapter drives it"),
    ("ferrysync.daemon.ipc", ("ferrysync.daemon.engine", "ferrysync.daemon.control", "ferrysync.daemon.journal",
                              "ferrysync.daemon.local", "ferrysync.daemon.remote", "ferrysync.daemon.cli"),
     "the IPC package is what thin clients import: framing and protocol only"),
    ("ferrysync.daemon.cli", ("ferrysync.daemon.engine", "ferrysync.daemon.journal", "ferrysync.daemon.control",
                              "ferrysync.daemon.local", "ferrysync.daemon.planner", "ferrysync.daemon.transfer"),
     "the CLI is a thin client of the daemon (DESIGN.md): it never touches the journal or runs the engine itself"),
    ("ferrysync.daemon.crypto", ("ferrysync.daemon.engine", "ferrysync.daemon.journal", "ferrysync.daemon.local",
                                 "ferrysync.daemon.remote", "ferrysync.daemon.transfer", "ferrysync.daemon.planner",
                                 "ferrysync.daemon.ipc", "ferrysync.daemon.control", "ferrysync.daemon.cli",
                                 "ferrysync.daemon.config", "ferrysync.daemon.credentials"),
     "the encryption format is pure functions of bytes and keys: no I/O, no knowledge of the engine or server"),
    ("ferrysync.daemon.webui", ("ferrysync.daemon.engine", "ferrysync.daemon.journal", "ferrysync.daemon.control",
                                "ferrysync.daemon.local", "ferrysync.daemon.remote", "ferrysync.daemon.planner",
                                "ferrysync.daemon.transfer", "ferrysync.daemon.cli", "ferrysync.daemon.config"),
     "the settings window is a thin client of the control handlers (called in-process through the IPC server) and "
     "of its status fan-out: it does nothing the socket could not"),
]

# The planner is a pure function of rows: besides itself it may use only the data model and the name rules.
PLANNER_MAY_IMPORT = ("ferrysync.daemon.planner", "ferrysync.daemon.model", "ferrysync.daemon.local.names",
                      "ferrysync.daemon.local.conflicts")
# The tray is a thin client: the daemon's IPC package is all it may import of the daemon.
TRAY_MAY_IMPORT = ("ferrysync.tray", "ferrysync.daemon.ipc")


def _breaks(who: str, banned: tuple[str, ...]) -> list[str]:
    return [f"{e.where}: {e.source} imports {e.target}" for e in EDGES
            if _within(e.source, who) and any(_within(e.target, b) for b in banned)]


@pytest.mark.parametrize(("who", "banned", "why"), FORBIDDEN, ids=[r[0] for r in FORBIDDEN])
def test_forbidden_imports(who: str, banned: tuple[str, ...], why: str) -> None:
    assert not _breaks(who, banned), why


@pytest.mark.parametrize(("who", "allowed"), [("ferrysync.daemon.planner", PLANNER_MAY_IMPORT),
                                               ("ferrysync.tray", TRAY_MAY_IMPORT)])
def test_allow_lists(who: str, allowed: tuple[str, ...]) -> None:
    wrong = [f"{e.where}: {e.source} imports {e.target}" for e in EDGES
             if _within(e.source, who) and not any(_within(e.target, a) for a in allowed)]
    assert not wrong


def test_the_rules_see_the_code() -> None:
    """A rule over nothing passes trivially: each rule's package exists and imports something."""
    for who, _, _ in FORBIDDEN:
        assert any(_within(e.source, who) for e in EDGES), who
    assert any(e.source == "ferrysync.daemon.local.watcher" and e.target.startswith("ferrysync.daemon.journal")
               for e in EDGES)
    # and a planted violation is found
    EDGES.append(Edge("ferrysync.daemon.planner.table", "ferrysync.daemon.journal.Journal", "planted:1"))
    try:
        assert _breaks("ferrysync.daemon.planner", ("ferrysync.daemon.journal",))
    finally:
        EDGES.pop()
