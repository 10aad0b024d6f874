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
LAZY_ONLY = ("rich", "matplotlib")  # only inside functions of CLI / plotting modules


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
    in_manifest = rel.parts[:2] == ("player", "manifest")
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
        if in_manifest and head == "player":
            allowed = module.startswith(("player.manifest", "player.errors", "player.config"))
            if not allowed:
                errors.append(f"{where}: player.manifest may import only errors and config")
        if in_manifest and head in ("asyncio", "socket", "httpx", "aioquic"):
            errors.append(f"{where}: player.manifest is sans-I/O")
        if pkg == "abr" and head in ("asyncio", "socket", "time"):
            errors.append(f"{where}: abr is sans-I/O and takes clocks as parameters")
        is_cli_module = rel.name.startswith("_cli") or rel.name == "__main__.py"
        if pkg == "player" and "_cli" in module.split(".")[-1] and not is_cli_module:
            errors.append(f"{where}: only the CLI may import the CLI")
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
