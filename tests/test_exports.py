"""The public surface has one list: ``_EXPORTS`` feeds ``__all__``, ``dir()`` and the loader."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import promptgov


def _type_checking_imports() -> dict[str, str]:
    tree = ast.parse(Path(promptgov.__file__).read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    )
    out: dict[str, str] = {}
    for node in block.body:
        assert isinstance(node, ast.ImportFrom) and node.level == 1
        for alias in node.names:
            out[alias.name] = f"promptgov.{node.module}"
    return out


def test_type_checking_imports_match_the_export_table() -> None:
    assert _type_checking_imports() == promptgov._EXPORTS


def test_every_export_resolves_to_the_named_module() -> None:
    for name, module in promptgov._EXPORTS.items():
        assert getattr(promptgov, name) is getattr(importlib.import_module(module), name)


def test_all_is_the_sorted_table_and_functions_stay_functions() -> None:
    assert promptgov.__all__ == sorted([*promptgov._EXPORTS, "__version__"])
    importlib.import_module("promptgov.actions.rollback")
    importlib.import_module("promptgov.actions.verify")
    assert callable(promptgov.rollback) and callable(promptgov.verify)
