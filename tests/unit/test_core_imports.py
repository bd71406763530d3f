"""chatd.core is the domain: it may import the standard library and itself, nothing else."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import chatd.core

CORE = Path(chatd.core.__file__).parent


def _imported_modules(path: Path) -> list[str]:
    """Absolute names of the modules `path` imports; relative imports are resolved."""
    package = ["chatd", "core", *path.relative_to(CORE).parent.parts]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            names.append(".".join([*base, *([node.module] if node.module else [])]))
    return names


def test_core_has_modules_to_check() -> None:
    assert len(list(CORE.glob("*.py"))) >= 5


def test_scan_sees_the_imports_of_core_modules() -> None:
    assert "datetime" in _imported_modules(CORE / "models.py")
    assert "chatd.core.errors" in _imported_modules(CORE / "users.py")


def test_core_imports_only_the_standard_library_and_itself() -> None:
    outside = {
        f"{path.name}: {name}"
        for path in sorted(CORE.rglob("*.py"))
        for name in _imported_modules(path)
        if name.split(".")[0] not in sys.stdlib_module_names
        and not (name == "chatd.core" or name.startswith("chatd.core."))
    }
    assert outside == set()
