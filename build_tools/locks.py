"""Exclusive locks between runs of the tool: one per work directory (and the toolkit cache).

A run that finds the lock held says which directory and which process hold it, then waits;
Ctrl-C stops the wait. The lock is an ``fcntl.flock`` on a file, so the kernel releases it
when its holder exits, however it exits: a killed run never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from build_tools.console import reporter

__all__ = ["LOCK_FILE", "exclusive"]

LOCK_FILE = ".lock"


@contextlib.contextmanager
def exclusive(directory: Path, *, instead: str = "use another --workdir") -> Iterator[None]:
    """Hold ``directory/.lock`` exclusively; wait (saying so) while another run holds it.

    ``instead`` is what the waiting user can do other than wait, said in the notice. The
    directory must exist; errors opening the lock file are raised as ``OSError``.
    """
    path = directory / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "r+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = handle.read().strip() or "unknown"
            reporter.notice(
                f"another run holds {directory} (process {holder}); waiting for it to finish "
                f"(Ctrl-C to stop, or {instead})"
            )
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
