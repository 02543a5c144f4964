"""Running a datastore's command-line tools: a query, a dump stream, a restore feed.

Passwords never reach argv (other users can read it in /proc): callers put them in the
child's environment or in an option file. A tool's stderr goes to an anonymous temporary
file, not a pipe, so a chatty tool can never block on a pipe nobody reads; its tail
becomes the scrubbed reason of the error raised.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, BinaryIO, cast

from storage.sources.databases.errors import (
    DatastoreError,
    DumpFailed,
    RestoreFailed,
    ServerUnavailable,
    reason_from,
)

log = logging.getLogger(__name__)

_READ_BUFFER = 1 << 20
_STOP_GRACE = 5.0
_Stream = int | IO[bytes]


@dataclass(frozen=True)
class ToolEnv:
    """How one server's tools run: their environment, the secrets to scrub from what
    they say, and the test telling "server unreachable" apart from other failures."""

    env: Mapping[str, str] = field(repr=False)
    secrets: tuple[str, ...] = field(repr=False)
    unreachable: Callable[[str], bool]
    label: str

    def error(self, failure: type[DatastoreError], what: str, detail: str) -> DatastoreError:
        """``failure`` (ServerUnavailable when ``detail`` says so) with a scrubbed reason."""
        kind = ServerUnavailable if self.unreachable(detail) else failure
        return kind(reason_from(f"{self.label}: {what}", detail, self.secrets))


def run_tool(argv: Sequence[str], tool: ToolEnv) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion and return its exit code and output (no check);
    raises DatastoreError if it cannot be started."""
    try:
        return subprocess.run(
            list(argv),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=dict(tool.env),
            check=False,
        )
    except OSError as exc:
        raise tool.error(DatastoreError, f"cannot run {argv[0]}", exc.strerror or "") from None


@contextlib.contextmanager
def dump_output(argv: Sequence[str], tool: ToolEnv) -> Iterator[BinaryIO]:
    """The tool's stdout as a stream; raises DumpFailed (or ServerUnavailable) on exit if
    the tool exits non-zero or the block ends before the stream did. An exception in the
    block stops the tool and propagates."""
    with tempfile.TemporaryFile() as stderr:
        streams = (subprocess.DEVNULL, subprocess.PIPE, stderr)
        proc = _spawn(argv, tool, DumpFailed, streams)
        stream = cast(IO[bytes], proc.stdout)
        try:
            # The end of the stream is checked where it is read: a consumer that commits
            # what it read at EOF (a backup's manifest) must see a failed dump first.
            yield cast(BinaryIO, _CheckedEnd(stream, lambda: _finish(proc, argv, tool, stderr)))
        except BaseException:
            _stop(proc)
            raise
        if not stream.closed and stream.read(1):
            # A consumer that stops early must not pass a truncated dump off as complete.
            _stop(proc)
            raise DumpFailed(f"{tool.label}: the dump was left before its end")
        _finish(proc, argv, tool, stderr)
        log.debug("%s finished", argv[0])


def _finish(
    proc: subprocess.Popen[bytes], argv: Sequence[str], tool: ToolEnv, stderr: IO[bytes]
) -> None:
    """Wait for a dump tool that reached the end of its output; DumpFailed (or
    ServerUnavailable) if it exited non-zero. Idempotent."""
    if proc.stdout is not None:
        proc.stdout.close()
    code = proc.wait()
    if code != 0:
        raise tool.error(DumpFailed, _exit_text(argv, code), _tail(stderr))


class _CheckedEnd:
    """A readable stream whose end (read() returning b"") is only reported once ``at_end``
    (which raises for a failed dump) has passed."""

    def __init__(self, stream: IO[bytes], at_end: Callable[[], None]) -> None:
        self._stream = stream
        self._at_end = at_end

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; b"" only at the end of a successful dump."""
        data = self._stream.read(size)
        if not data and size != 0:
            self._at_end()
        return data

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def feed_input(argv: Sequence[str], data: Iterable[bytes], tool: ToolEnv) -> None:
    """Run the tool with ``data`` on its stdin, chunk by chunk (never all in memory);
    raises RestoreFailed (or ServerUnavailable) if it fails or stops reading early."""
    with tempfile.TemporaryFile() as output:
        # Output goes to a file, so writing stdin here cannot deadlock against it.
        proc = _spawn(argv, tool, RestoreFailed, (subprocess.PIPE, output, output))
        stdin = cast(IO[bytes], proc.stdin)
        try:
            complete = _write_all(stdin, data)
        except BaseException:
            _stop(proc)
            raise
        code = proc.wait()
        if code != 0:
            raise tool.error(RestoreFailed, _exit_text(argv, code), _tail(output))
        if not complete:
            raise tool.error(RestoreFailed, f"{argv[0]} stopped reading its input", _tail(output))


def _spawn(
    argv: Sequence[str],
    tool: ToolEnv,
    failure: type[DatastoreError],
    streams: tuple[_Stream, _Stream, _Stream],
) -> subprocess.Popen[bytes]:
    """Start the tool with (stdin, stdout, stderr); raises ``failure`` if it cannot be
    started (e.g. not installed)."""
    stdin, stdout, stderr = streams
    try:
        return subprocess.Popen(
            list(argv),
            stdin=stdin,
            stdout=stdout,
            stderr=stderr,
            env=dict(tool.env),
            bufsize=_READ_BUFFER,
        )
    except OSError as exc:
        raise tool.error(failure, f"cannot run {argv[0]}", exc.strerror or "") from None


def _write_all(stdin: IO[bytes], data: Iterable[bytes]) -> bool:
    """Write every chunk, then close; False if the reader went away before the end."""
    try:
        for chunk in data:
            stdin.write(chunk)
        stdin.close()
    except BrokenPipeError:
        with contextlib.suppress(BrokenPipeError):
            stdin.close()
        return False
    return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Terminate the tool (kill it if it lingers) and reap it; idempotent."""
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(_STOP_GRACE)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _exit_text(argv: Sequence[str], code: int) -> str:
    return f"{argv[0]} was killed by signal {-code}" if code < 0 else f"{argv[0]} exited {code}"


def _tail(file: IO[bytes], limit: int = 8192) -> str:
    """The last ``limit`` bytes the tool wrote to ``file``, decoded leniently."""
    file.seek(0, 2)
    size = file.tell()
    file.seek(max(0, size - limit))
    return file.read().decode("utf-8", "replace")
