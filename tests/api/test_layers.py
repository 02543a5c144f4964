"""api's shared modules (its top, views/ and native/) import neither dialect: only the
composition roots (api/__init__.py and api/app.py, which build the Cinder app) do."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

API = Path(__file__).resolve().parents[2] / "api"
DIALECTS = ("api.cinder", "api.manila")
COMPOSITION_ROOTS = {"__init__.py", "app.py"}


def _shared() -> list[Path]:
    top = [path for path in API.glob("*.py") if path.name not in COMPOSITION_ROOTS]
    return sorted([*top, *API.glob("views/*.py"), *API.glob("native/*.py")])


def _imported(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def _is_dialect(module: str) -> bool:
    return any(module == name or module.startswith(f"{name}.") for name in DIALECTS)


@pytest.mark.parametrize("path", _shared(), ids=lambda path: str(path.relative_to(API)))
def test_shared_modules_import_no_dialect(path: Path) -> None:
    assert sorted(filter(_is_dialect, _imported(path))) == []
