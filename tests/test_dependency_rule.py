"""The dependency rule of docs/architecture.md, checked by walking every import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"api", "flows", "storage", "deployments"}
ALLOWED = {
    "api": {"api", "storage"},
    "flows": {"flows", "storage"},
    "storage": {"storage"},
    "deployments": OURS,
}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_the_rule_allows(package: str) -> None:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package} has no modules"
    violations = {str(f.relative_to(ROOT)): sorted(_imports(f) - ALLOWED[package]) for f in files}
    assert {k: v for k, v in violations.items() if v} == {}
