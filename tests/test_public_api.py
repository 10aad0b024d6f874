"""Each package's ``__all__`` is sorted, complete, and resolvable (STYLE.md section 6)."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = [
    "abr",
    "drm",
    "transport",
    "transport.lab",
    "player",
    "player.manifest",
    "player.heartbeat",
    "player.cli",
    "player.cmcd",
    "player.text",
    "player.offline",
    "player.sessions",
    "player.steering",
    "player.lab",
]


def _public_names_of_private_modules(package: str) -> set[str]:
    """Names that ``_impl.py`` modules of ``package`` list in their own ``__all__``."""
    folder = ROOT / Path(*package.split("."))
    names: set[str] = set()
    for path in sorted(folder.glob("_*.py")):
        if path.name in ("__init__.py", "__main__.py") or path.name.startswith(("_cli", "_cmd_")):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
            ):
                names.update(ast.literal_eval(node.value))
    return names


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_sorted_and_resolvable(package: str) -> None:
    mod = importlib.import_module(package)
    exported = list(mod.__all__)
    assert exported == sorted(exported), f"{package}.__all__ is not sorted"
    assert len(exported) == len(set(exported))
    for name in exported:
        assert hasattr(mod, name), f"{package}.{name} is listed but missing"


@pytest.mark.parametrize("package", PACKAGES)
def test_all_is_complete(package: str) -> None:
    mod = importlib.import_module(package)
    missing = _public_names_of_private_modules(package) - set(mod.__all__)
    assert missing == set(), f"{package}.__all__ misses {sorted(missing)}"


def test_every_subpackage_is_checked() -> None:
    """A new subpackage (``player/<room>/__init__.py``) must be added to ``PACKAGES``."""
    found = {
        ".".join(p.parent.relative_to(ROOT).parts)
        for pkg in ("abr", "drm", "transport", "player")
        for p in (ROOT / pkg).glob("*/__init__.py")
    }
    assert found - set(PACKAGES) == set()


def _api_reference_sections() -> dict[str, str]:
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    sections: dict[str, str] = {}
    for chunk in text.split("\n## `")[1:]:
        name, _, body = chunk.partition("`")
        sections[name] = body
    return sections


@pytest.mark.parametrize("package", PACKAGES)
def test_every_public_name_is_in_the_api_reference(package: str) -> None:
    """docs/api.md (``scripts/gen_docs.py``) has a section per package naming all of it."""
    section = _api_reference_sections().get(package)
    assert section is not None, f"docs/api.md has no {package}: add it to scripts/gen_docs.py"
    mod = importlib.import_module(package)
    missing = [name for name in mod.__all__ if f"- **`{name}" not in section]
    assert missing == [], f"docs/api.md is stale for {package}: run scripts/gen_docs.py"


@pytest.mark.parametrize("package", ["abr", "drm", "transport", "player"])
def test_error_codes_are_unique(package: str) -> None:
    errors = importlib.import_module(f"{package}.errors")
    codes = [
        getattr(errors, n).code for n in errors.__all__ if isinstance(getattr(errors, n), type)
    ]
    own = [c for c in codes if c.startswith(package + ".")]
    assert len(own) == len(set(own))
    assert own, "every package has at least its root code"
