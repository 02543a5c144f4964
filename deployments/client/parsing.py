"""From option values to request bodies: KEY=VALUE items, durations like `1h30m`, what is set."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import typer

UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART: Final = re.compile(r"(\d+)([smhdw])")


def pairs(items: Sequence[str] | None, option: str = "--property") -> dict[str, str] | None:
    """`["k=v", ...]` as a dict; None when the option was not given."""
    if items is None:
        return None
    found: dict[str, str] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise typer.BadParameter(f"{item!r} is not KEY=VALUE", param_hint=option)
        found[key] = value
    return found


def duration(text: str, option: str) -> int:
    """Seconds in `90`, `90s`, `10m`, `1h30m`, `2d` or `1w`."""
    spec = text.strip().lower()
    if spec.isdigit():
        return int(spec)
    if not spec or _PART.sub("", spec):
        raise typer.BadParameter(
            f"{text!r} is not a duration such as 90s, 10m, 1h30m or 2d", param_hint=option
        )
    return sum(int(n) * UNITS[unit] for n, unit in _PART.findall(spec))


def given(values: Mapping[str, Any]) -> dict[str, Any]:
    """The items whose value is set (not None): the options a user gave."""
    return {k: v for k, v in values.items() if v is not None}
