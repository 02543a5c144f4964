"""Golden-shape helpers for the Cinder and Manila golden tests: samples, shapes, versions."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

from fastapi.testclient import TestClient

SAMPLES_ROOT: Final = Path(__file__).resolve().parents[1] / "samples"
# Free-form maps: their keys are data, not shape.
FREE_FORM: Final = {"metadata"}


def load_sample(path: Path) -> dict[str, Any]:
    """The JSON object an upstream sample file holds."""
    return dict(json.loads(path.read_text()))


def _json_type(value: Any) -> str:
    return type(value).__name__


def assert_same_shape(ours: Any, theirs: Any, where: str = "$") -> None:
    """Same keys at every level; same JSON type wherever the sample is not null."""
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), where
        assert sorted(ours) == sorted(theirs), where
        for key, value in theirs.items():
            if key not in FREE_FORM:
                assert_same_shape(ours[key], value, f"{where}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), where
        if theirs and ours:
            assert_same_shape(ours[0], theirs[0], f"{where}[0]")
    elif theirs is not None and ours is not None:
        assert _json_type(ours) == _json_type(theirs), where


def version_document(
    client: TestClient, path: str, status: int, theirs: dict[str, Any]
) -> dict[str, Any]:
    """GET `path` without a token; asserts `status` and the shape of `theirs`; the body."""
    response = client.get(path)
    assert response.status_code == status
    assert_same_shape(response.json(), theirs)
    return dict(response.json())


def assert_same_entry(ours: Any, theirs: Any, keys: Iterable[str]) -> None:
    """A version entry has upstream's values at `keys` and upstream's first link."""
    for key in keys:
        assert ours[key] == theirs[key], key
    assert ours["links"][0] == theirs["links"][0]
