"""Errors a user can act on. The CLI prints their message and exits non-zero, never a traceback.

Faults of the machine rather than of the data (a read-only or full file system, a missing permission, a file
size limit) reach the CLI as ``OSError`` or as a DuckDB or Arrow I/O error: ``storage_error`` turns them into a
``StorageError`` naming the path and what to do, so every command gets one line and exit 2 without wrapping
each file operation.
"""

from __future__ import annotations

import errno
import getpass
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ChargebackError(Exception):
    """Base class: the message names the file, window, series or row, and the cause."""


class ConfigError(ChargebackError):
    """The configuration file is invalid."""


class DataError(ChargebackError):
    """Raw data is missing, malformed or does not match its schema."""


class InvariantError(ChargebackError):
    """A build broke an invariant (conservation, unique keys); the old warehouse stays published."""


class MethodChangeError(ChargebackError):
    """A build's allocation method differs from the published build's and the change was not accepted; the
    message lists what changed and the effect on each bill line. The old warehouse stays published."""


class CollectError(ChargebackError):
    """A source could not be read; the message names the source, the window and the cause."""

    def __init__(self, source: str, window: object, cause: str):
        super().__init__(f"{source} {window}: {cause}")
        self.source = source
        self.window = window
        self.cause = cause


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a uid with no passwd entry (containers)
        return f"uid {os.getuid()}"


_NO_SPACE = "free space on its file system (or give the volume more), then run the command again"
_WRITABLE = "let {user} write there (or read, for an input file), or point --data-dir at a directory it may write"
_CHECK_PATH = "check data_dir (or --data-dir) and the other paths in the configuration"
# errno -> (what happened, what to do)
_FAULTS: dict[int, tuple[str, str]] = {
    errno.EROFS: (
        "read-only file system",
        "chargeback writes under its data directory (raw tables, warehouse, state, exports): mount it"
        " read-write, or point --data-dir at a writable directory",
    ),
    errno.EACCES: ("permission denied", _WRITABLE),
    errno.EPERM: ("operation not permitted", _WRITABLE),
    errno.ENOSPC: ("no space left on device", _NO_SPACE),
    errno.EDQUOT: ("disk quota exceeded", _NO_SPACE),
    errno.EFBIG: ("file too large", "raise the process's file size limit (ulimit -f), then run the command again"),
    errno.ENOTDIR: ("a part of the path is a file, not a directory", _CHECK_PATH),
    errno.EEXIST: ("a file is in the way of a directory", _CHECK_PATH),
    errno.EISDIR: ("a directory, where a file was expected", _CHECK_PATH),
}
# How DuckDB (and other libraries that report the OS's message as text) say the same: `... "<path>": <reason>`.
_REASONS = {
    "Read-only file system": errno.EROFS,
    "Permission denied": errno.EACCES,
    "Operation not permitted": errno.EPERM,
    "No space left on device": errno.ENOSPC,
    "Disk quota exceeded": errno.EDQUOT,
    "File too large": errno.EFBIG,
}
_QUOTED_REASON = re.compile(r'"(?P<path>[^"]+)"[^"]*?(?P<reason>' + "|".join(map(re.escape, _REASONS)) + ")")
_REASON = re.compile("|".join(map(re.escape, _REASONS)))


class StorageError(ChargebackError):
    """A file could not be written (or read) for a reason of the machine, not of the data; the message names
    the path, what happened and what to do."""

    def __init__(self, path: str | None, code: int, detail: str = "", kept: str = "", during: str = ""):
        what, advice = _FAULTS.get(code, (detail or errno.errorcode.get(code, "I/O error"), "check the path"))
        where = str(path) if path else "a file being written (its library did not say which)"
        super().__init__(
            (f"{during}: " if during else "")
            + f"{where}: {what}"
            + (f" ({kept})" if kept else "")
            + f"; {advice.format(user=_user())}"
        )
        self.path, self.errno, self.detail, self.during = path, code, detail, during

    def keeping(self, what: str) -> StorageError:
        """The same fault, saying what stayed as it was (``what``: e.g. "the published warehouse is unchanged")."""
        return StorageError(self.path, self.errno, self.detail, what, self.during)

    def building(self, relation: str) -> StorageError:
        """The same fault, saying which model was being built (a query spilling to disk can fill it)."""
        return StorageError(self.path, self.errno, self.detail, during=f"building {relation}")


def storage_error(exc: BaseException | None) -> StorageError | None:
    """The ``StorageError`` that ``exc`` stands for: an ``OSError`` of a file system call, or an error of a
    library (DuckDB) whose text carries the OS's reason; None when it is something else (a bug keeps its
    traceback)."""
    if exc is None or isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError):
        path = exc.filename2 or exc.filename  # copy and rename: the target, where the write failed
        if exc.errno in _FAULTS or (exc.errno and path is not None):
            return StorageError(path, exc.errno, exc.strerror or "")
        return None
    text = str(exc)
    quoted = _QUOTED_REASON.search(text)
    if quoted:
        return StorageError(quoted["path"], _REASONS[quoted["reason"]])
    bare = _REASON.search(text)
    return StorageError(None, _REASONS[bare.group(0)]) if bare else None


@contextmanager
def naming(path: Path | str) -> Iterator[None]:
    """Give an ``OSError`` raised in the block without a file name (Arrow's writers) ``path`` as its name."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None and exc.errno:
            raise OSError(exc.errno, exc.strerror or str(exc), str(path)) from exc
        raise
