"""Rendering: the API's body as JSON (`--json`), or rich tables for people."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

Row = Mapping[str, Any]
Getter = Callable[[Row], Any]
Column = tuple[str, str | Getter]
# Piped output is not cut to 80 columns: ids alone are 36 characters.
PIPE_WIDTH: Final = 200
# Where every resource table starts.
ID_NAME_STATUS: Final[tuple[Column, ...]] = (("ID", "id"), ("Name", "name"), ("Status", "status"))


def stdout_console() -> Console:
    """A console on stdout; wide when not a terminal (unless COLUMNS says otherwise)."""
    console = Console(highlight=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = PIPE_WIDTH
    return console


def stderr_console() -> Console:
    """The console progress bars and spinners draw on (stdout stays parseable)."""
    return Console(stderr=True, highlight=False)


def text(value: Any) -> Text:
    """A cell: never rich markup; None empty, containers as compact JSON."""
    if value is None:
        return Text("")
    if isinstance(value, bool):
        return Text("true" if value else "false")
    if isinstance(value, dict | list):
        return Text(json.dumps(value, separators=(",", ":"), sort_keys=True))
    return Text(str(value))


def when(key: str) -> Getter:
    """A column showing the timestamp `key` to the second (`2026-11-29 09:51:13`)."""

    def shown(row: Row) -> str | None:
        value = row.get(key)
        return str(value)[:19].replace("T", " ") if value else None

    return shown


def flattened(record: Row, order: Sequence[str]) -> list[tuple[str, Any]]:
    """(field, value) rows; a non-empty object is spread as `key.sub` rows (one level)."""
    rows: list[tuple[str, Any]] = []
    for key in order:
        value = record[key]
        if isinstance(value, dict) and value:
            rows += [(f"{key}.{sub}", item) for sub, item in value.items()]
        else:
            rows.append((key, value))
    return rows


def value_of(row: Row, column: str | Getter) -> Any:
    """A column's value in a row: a key, or a function of the row."""
    return row.get(column) if isinstance(column, str) else column(row)


class Output:
    """Where a command's result goes: exactly one JSON document, or tables and lines."""

    def __init__(self, as_json: bool, console: Console | None = None) -> None:
        self.as_json = as_json
        self.console = console or stdout_console()

    def json(self, body: Any) -> None:
        """The body as indented JSON on stdout."""
        sys.stdout.write(json.dumps(body, indent=2) + "\n")
        sys.stdout.flush()

    def record(self, body: Any, record: Row, fields: Sequence[str] | None = None) -> None:
        """One resource as a Field/Value table (`fields` first, then the rest)."""
        if self.as_json:
            self.json(body)
            return
        order = [f for f in fields or () if f in record]
        order += [k for k in record if k not in order and k != "links"]
        table = Table("Field", "Value")
        table.columns[1].overflow = "fold"
        for key, value in flattened(record, order):
            table.add_row(Text(key), text(value))
        self.console.print(table)

    def rows(self, body: Any, rows: Sequence[Row], columns: Sequence[Column]) -> None:
        """Resources as a table, one row each."""
        if self.as_json:
            self.json(body)
            return
        table = Table()
        for index, (header, _) in enumerate(columns):
            # Ids stay whole (they are copied into the next command); the rest folds.
            table.add_column(header, no_wrap=index == 0, overflow="fold")
        for row in rows:
            table.add_row(*(text(value_of(row, getter)) for _, getter in columns))
        self.console.print(table)

    def line(self, body: Any, message: str) -> None:
        """A one-line result (the body itself under --json)."""
        if self.as_json:
            self.json(body)
            return
        self.console.print(Text(message))
