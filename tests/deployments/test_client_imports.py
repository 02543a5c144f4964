"""The client talks HTTP only: deployments.client imports none of api, flows, storage."""

from __future__ import annotations

import ast
from pathlib import Path

CLIENT = Path(__file__).resolve().parents[2] / "deployments" / "client"
FORBIDDEN = {"api", "flows", "storage", "prefect", "sqlmodel", "sqlalchemy", "fastapi"}


def _top_level_imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
            if node.module.startswith("deployments.") and not node.module.startswith(
                "deployments.client"
            ):
                found.add(node.module)
    return found


def test_the_client_imports_no_service_code() -> None:
    files = sorted(CLIENT.glob("*.py"))
    assert files
    bad = {
        f.name: sorted(
            name
            for name in _top_level_imports(f)
            if name in FORBIDDEN or name.startswith("deployments.")
        )
        for f in files
    }
    assert {name: found for name, found in bad.items() if found} == {}
