"""``promptgov.monitor`` stays below the actions and the CLI: it never imports them."""

from __future__ import annotations

import ast
from pathlib import Path

import promptgov.monitor

MONITOR = Path(promptgov.monitor.__file__).parent
FORBIDDEN = ("promptgov.actions", "promptgov.cli", "promptgov.server")


def _imports(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports, top level or inside functions."""
    package = ".".join(("promptgov", *path.relative_to(MONITOR.parent).with_suffix("").parts))
    if path.name == "__init__.py":
        package += ".__init__"
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: -node.level] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            out.add(module)
            out |= {f"{module}.{a.name}" for a in node.names}
    return out


def test_the_monitor_package_imports_no_action_and_no_cli() -> None:
    files = sorted(MONITOR.rglob("*.py"))
    assert MONITOR / "triggers" / "__init__.py" in files
    bad = {
        f"{path.relative_to(MONITOR)}: {name}"
        for path in files
        for name in _imports(path)
        if name.startswith(FORBIDDEN)
    }
    assert not bad


def test_the_import_walk_sees_relative_imports() -> None:
    names = _imports(MONITOR / "triggers" / "complaints.py")
    assert "promptgov.monitor.feedback.complaints" in names
    assert "promptgov.monitor.triggers.vocabulary" in names
