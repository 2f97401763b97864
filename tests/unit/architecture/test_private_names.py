"""No module imports another module's private names (``from griddesk.x import _name``).

import-linter (`make lint`) holds the layering and the absence of cycles; it sees modules, not names. A private
name is a module's own business: when another module needs it, it becomes public where it lives.
"""

from __future__ import annotations

import ast
from pathlib import Path

from griddesk.settings import PROJECT_ROOT

SOURCE_ROOTS = ("include/griddesk", "dags", "plugins")


def private_name_imports(path: Path, module: str) -> list[str]:
    """``importer -> imported._name`` for each private name ``path`` imports from another griddesk module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.ImportFrom) or node.level or not (node.module or "").startswith("griddesk"):
            continue
        if node.module == module:
            continue
        found += [
            f"{module} -> {node.module}.{alias.name} (line {node.lineno})"
            for alias in node.names
            if alias.name.startswith("_") and not alias.name.startswith("__")
        ]
    return found


def module_name(path: Path) -> str:
    rel = path.relative_to(PROJECT_ROOT)
    parts = rel.with_suffix("").parts
    if parts[0] == "include":
        parts = parts[1:]
    return ".".join(p for p in parts if p != "__init__")


def test_private_name_imports_finds_one(tmp_path):
    # The check itself must be able to fail.
    sample = tmp_path / "sample.py"
    sample.write_text("from griddesk.warehouse.db import _secret\nfrom griddesk.markets import Market\n")
    assert private_name_imports(sample, "sample") == ["sample -> griddesk.warehouse.db._secret (line 1)"]


def test_no_module_imports_another_modules_private_names():
    offenders = [
        line
        for root in SOURCE_ROOTS
        for path in sorted((PROJECT_ROOT / root).rglob("*.py"))
        for line in private_name_imports(path, module_name(path))
    ]
    assert not offenders, "private names imported across modules:\n" + "\n".join(offenders)
