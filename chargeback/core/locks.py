"""Exclusive file locks across processes (``fcntl.flock``), re-entrant within the thread that holds them.

A lock is a file beside the data it guards. Holding it means holding an ``flock`` on that file: the
kernel drops it when the holder exits, however it exits, so a killed build never leaves a stale lock.
The file's text says who holds it (pid and since when) for the error a second taker gets. The thread
that holds a lock may take it again (the scheduler takes the build lock, then calls ``build``, which
takes it too); another thread of the same process may not, just like another process.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from chargeback.core.errors import ChargebackError
from chargeback.core.times import iso


class LockedError(ChargebackError):
    """Someone else holds the lock; the message says who and since when."""

    def __init__(self, path: Path, holder: str, what: str):
        super().__init__(f"{what} is already running ({holder or 'holder unknown'}; lock {path})")
        self.path = path
        self.holder = holder


_guard = threading.Lock()
_held: dict[Path, tuple[int, int]] = {}  # lock path -> (holding thread id, depth)


def holder(path: Path) -> str:
    """Who holds (or last held) the lock at ``path``, as its file says."""
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


@contextmanager
def file_lock(path: Path, what: str, wait: bool = False) -> Iterator[None]:
    """Hold the exclusive lock ``path`` for the block; raise ``LockedError`` if it is taken (or, with
    ``wait``, block until it is free)."""
    path = Path(path).resolve()
    me = threading.get_ident()
    with _guard:
        owner = _held.get(path)
        if owner is not None and owner[0] == me:
            _held[path] = (me, owner[1] + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            with _guard:
                thread, depth = _held[path]
                _held[path] = (thread, depth - 1)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(path, "a+")  # noqa: SIM115 - held open for as long as the lock is
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            raise LockedError(path, holder(path), what) from None
        handle.seek(0)
        handle.truncate()
        since = iso(datetime.now(UTC))
        handle.write(f"pid {os.getpid()} since {since}\n")
        handle.flush()
        with _guard:
            _held[path] = (me, 1)
        try:
            yield
        finally:
            with _guard:
                del _held[path]
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()
