"""Small facts about files: their sha256, a size a person can read, and bounded reads.

Files that come from elsewhere (inventories, profiles, manifests, libraries, archives) are
opened with :func:`open_regular`: a FIFO, a device or a directory is refused at once instead of
blocking or streaming forever, and :func:`read_regular` also refuses files above a size cap.
Both raise ``OSError`` with a readable ``strerror``; callers turn it into their typed error.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["format_size", "open_regular", "read_regular", "sha256_file"]

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (packages are GiBs)."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def format_size(size: int) -> str:
    """``512 B``, ``1.5 KiB``, ``485.2 MiB``, ``1.24 GiB``."""
    value = float(size)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.2f} GiB"


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading (binary); never blocks on a FIFO.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor, so
    what is read is what was checked. Raises ``OSError`` for anything but a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, f"is {_kind(mode)}, not a regular file", str(path))
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, *, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (see :func:`open_regular`)."""
    with open_regular(path) as stream:
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise OSError(errno.EFBIG, f"is larger than {format_size(limit)}", str(path))
    return data
