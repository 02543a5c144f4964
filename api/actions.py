"""Cinder's `POST .../action` bodies: one action name mapped to its value."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from api.faults import Fault


def one_action(body: Mapping[str, Any]) -> tuple[str, Any]:
    """The (name, value) of an action body; Fault 400 unless it holds exactly one."""
    if len(body) != 1:
        raise Fault(400, "Invalid request body: exactly one action is expected.")
    ((action, value),) = body.items()
    return action, value


def no_such_action(action: str) -> Fault:
    """The 400 Fault (to raise) for an action the resource does not have."""
    return Fault(400, f"There is no such action: {action}")
