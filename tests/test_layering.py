"""Import arrows between our packages and third-party libraries (STYLE.md sections 1 and 2).

Reads every module with ``ast`` and fails on any arrow the style guide does not draw.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("player", "abr", "drm", "transport")

# package -> packages of ours it may import (besides itself)
ALLOWED_OURS: dict[str, set[str]] = {
    "abr": set(),
    "transport": set(),
    "drm": set(),
    "player": {"abr", "drm", "transport"},
}

# third-party library -> the packages that may import it (numpy may be used anywhere)
THIRD_PARTY_OWNERS: dict[str, set[str]] = {
    "httpx": {"transport"},
    "aioquic": {"transport"},
    "hypercorn": {"transport"},
    "cryptography": {"transport"},
    "m3u8": {"player"},
    "mpegdash": {"player"},
    "defusedxml": {"player"},
    "av": {"player"},
    "Crypto": {"drm"},
}
LAZY_ONLY = ("rich", "matplotlib", "ray")  # only inside functions of CLI / plotting modules

# Rooms inside player/ (docs/architecture.md): the base modules every room may use, then for
# each room the rooms it may import. The session core is player/_*.py itself.
PLAYER_BASE = ("player.errors", "player.config", "player.events", "player._state", "player._clock")
PLAYER_ROOM_ARROWS: dict[str, set[str]] = {
    "manifest": set(),  # sans-I/O parsers: besides errors and config, nothing of player
    "heartbeat": set(),
    "sessions": {"heartbeat"},
    "lab": set(),
    "steering": set(),  # sans-I/O content steering: base modules (and transport's health)
    "cmcd": set(),  # the sans-I/O CMCD encoder: errors and config only
    "text": set(),  # sans-I/O subtitle parsers, cue store and tracker: base modules only
    "core": {"manifest", "heartbeat", "steering", "cmcd", "text"},
    "offline": {"core", "manifest", "steering"},  # downloads reuse the session's request parts
    "cli": {"core", "manifest", "heartbeat", "sessions", "lab", "steering", "text", "offline"},
    # __init__/__main__:
    "root": {
        "core",
        "manifest",
        "heartbeat",
        "sessions",
        "lab",
        "cli",
        "steering",
        "cmcd",
        "text",
        "offline",
    },
}
MANIFEST_BASE = ("player.errors", "player.config")


def _room_of_path(rel: Path) -> str:
    if len(rel.parts) > 2:
        return rel.parts[1]
    return "root" if rel.name in ("__init__.py", "__main__.py") else "core"


def _room_of_module(module: str) -> str | None:
    """The room a ``player...`` module belongs to; ``None`` for the package or a base module."""
    parts = module.split(".")
    if module == "player" or module.startswith(PLAYER_BASE):
        return None
    if len(parts) >= 2 and parts[1] in PLAYER_ROOM_ARROWS:
        return parts[1]
    return "core"


def _room_violations(rel: Path, module: str, where: str) -> list[str]:
    room = _room_of_path(rel)
    if room == "manifest" and not module.startswith(("player.manifest", *MANIFEST_BASE)):
        return [f"{where}: player.manifest may import only errors and config"]
    if module == "player" and room != "root":
        return [f"{where}: import the module you need, not the package root"]
    target = _room_of_module(module)
    if target is None or target == room or target in PLAYER_ROOM_ARROWS[room]:
        return []
    return [f"{where}: player/{room} may not import player/{target}"]


def _modules() -> list[Path]:
    files: list[Path] = []
    for pkg in OURS:
        files.extend(sorted((ROOT / pkg).rglob("*.py")))
    return files


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """Return (module, line, is_top_level) for every import in ``tree``."""
    found: list[tuple[str, int, bool]] = []
    top_level = {id(node) for node in getattr(tree, "body", [])}

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                for alias in child.names:
                    found.append((alias.name, child.lineno, not in_function))
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                found.append((child.module, child.lineno, not in_function))
            visit(child, nested)

    del top_level
    visit(tree, False)
    return found


def _violations(path: Path) -> list[str]:
    rel = path.relative_to(ROOT)
    pkg = rel.parts[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(rel))
    errors: list[str] = []
    in_manifest = rel.parts[:2] in (("player", "manifest"), ("player", "text"))
    for module, line, top in _imports(tree):
        head = module.split(".")[0]
        where = f"{rel}:{line} imports {module}"
        if head in OURS and head != pkg and head not in ALLOWED_OURS[pkg]:
            errors.append(f"{where}: {pkg} may not import {head}")
        if head in OURS and head != pkg and any(p.startswith("_") for p in module.split(".")[1:]):
            errors.append(f"{where}: private module of a sibling package")
        if head in THIRD_PARTY_OWNERS and pkg not in THIRD_PARTY_OWNERS[head]:
            errors.append(f"{where}: {head} belongs to {sorted(THIRD_PARTY_OWNERS[head])}")
        if head in LAZY_ONLY and top:
            errors.append(f"{where}: {head} must be imported lazily inside a function")
        if in_manifest and head in ("asyncio", "socket", "httpx", "aioquic"):
            errors.append(f"{where}: player.{rel.parts[1]} is sans-I/O")
        if pkg == "abr" and head in ("asyncio", "socket", "time"):
            errors.append(f"{where}: abr is sans-I/O and takes clocks as parameters")
        if pkg == "player" and head == "player":
            errors.extend(_room_violations(rel, module, where))
    return errors


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_respects_layering(path: Path) -> None:
    assert _violations(path) == []


def test_examples_use_public_api_only() -> None:
    bad: list[str] = []
    for path in sorted((ROOT / "examples").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for module, line, _ in _imports(tree):
            parts = module.split(".")
            if parts[0] in OURS and any(p.startswith("_") for p in parts):
                bad.append(f"{path.name}:{line} imports private {module}")
    assert bad == []


def test_layering_check_catches_a_bad_arrow(tmp_path: Path) -> None:
    """The checker itself must be able to fail."""
    tree = ast.parse("import httpx\nfrom player.session import X\n")
    mods = [m for m, _, _ in _imports(tree)]
    assert mods == ["httpx", "player.session"]
    fake = ROOT / "abr" / "_layering_probe_tmp.py"
    fake.write_text("import httpx\nfrom player import errors\n", encoding="utf-8")
    try:
        found = _violations(fake)
    finally:
        fake.unlink()
    assert len(found) == 2


def test_rooms_check_catches_a_bad_arrow() -> None:
    """A room importing a room it has no arrow to is reported; allowed arrows are not."""
    heartbeat = Path("player/heartbeat/_model.py")
    core = Path("player/_session.py")
    assert _room_violations(heartbeat, "player._session", "x") == [
        "x: player/heartbeat may not import player/core"
    ]
    assert _room_violations(core, "player.cli._qa", "x") == [
        "x: player/core may not import player/cli"
    ]
    assert _room_violations(core, "player.heartbeat._bridge", "x") == []
    assert _room_violations(heartbeat, "player._clock", "x") == []
    assert _room_violations(Path("player/manifest/_dash.py"), "player.events", "x") != []


def _player_import_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted((ROOT / "player").rglob("*.py")):
        rel = path.relative_to(ROOT).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        graph[name] = {m for m, _, top in _imports(tree) if top and m.startswith("player.")}
    return graph


def test_no_import_cycles_between_player_modules() -> None:
    """Modules of player/ (package ``__init__`` files aside) never import each other in a circle.

    ``TYPE_CHECKING`` imports count too: a type-only circle is still a circle of knowledge.
    """
    graph = _player_import_graph()
    packages = {n for n in graph if (ROOT / Path(*n.split(".")) / "__init__.py").exists()}
    edges = {n: {m for m in deps if m in graph and m not in packages} for n, deps in graph.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(trail[trail.index(nxt) :] + [nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for start in sorted(edges):
        if start not in state and start not in packages:
            visit(start, [start])
    assert cycles == []
