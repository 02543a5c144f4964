"""MariaDB client option files: how credentials reach mariadb and mariadb-dump.

A private temporary file passed as ``--defaults-extra-file`` keeps the password out of
argv (readable by every local user through /proc) and out of the environment.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from storage.sources.databases.config import ServerConfig

CONNECT_TIMEOUT: Final = 10


@contextlib.contextmanager
def option_file(config: ServerConfig) -> Iterator[Path]:
    """A 0600 option file with the server's address and credentials; removed on exit."""
    # mkstemp creates the file 0600 whatever the umask: no window where others can read.
    fd, name = tempfile.mkstemp(prefix="safehold-mariadb-", suffix=".cnf")
    path = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(render(config))
        yield path
    finally:
        path.unlink(missing_ok=True)


def render(config: ServerConfig) -> str:
    """The option file for ``config``: ``[client]`` is read by mariadb and mariadb-dump,
    ``[mysql]`` by mariadb only."""
    lines = [
        "[client]",
        f"host={quoted(config.host)}",
        f"port={config.port}",
        f"user={quoted(config.user)}",
        # TCP even for "localhost", which would otherwise mean the local socket: the
        # configured endpoint is the one users are shown.
        "protocol=TCP",
    ]
    if config.password:
        lines.append(f"password={quoted(config.password)}")
    # Only the mariadb client knows this option (mariadb-dump exits on unknown ones).
    lines += ["[mysql]", f"connect-timeout={CONNECT_TIMEOUT}"]
    return "\n".join(lines) + "\n"


def quoted(value: str) -> str:
    """``value`` as a double-quoted option value: '#' and blanks are then literal, and
    backslash and quote are escaped (the parser undoes both)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
