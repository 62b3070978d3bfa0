"""Small facts about files: their sha256, a size a person can read, and bounded reads.

Files that come from elsewhere (inventories, profiles, manifests, libraries, archives) are
opened with :func:`open_regular`: a FIFO, a device or a directory is refused at once instead of
blocking or streaming forever, and :func:`read_regular` also refuses files above a size cap.
Both raise ``OSError`` with a readable ``strerror``; callers turn it into their typed error.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from pathlib import Path
from typing import BinaryIO

__all__ = ["directory_problem", "format_size", "open_regular", "read_regular", "sha256_file"]

CHUNK = 1 << 20


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (packages are GiBs)."""
    import hashlib  # not at start-up: most commands never hash a file

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


def _missing_directory_problem(path: Path) -> str | None:
    parent = path.parent
    while parent != parent.parent and not parent.exists():
        parent = parent.parent
    if parent.exists() and not parent.is_dir():
        return f"{parent} is a file, not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"it does not exist and {parent} is not writable"
    return None


def directory_problem(path: Path) -> str | None:
    """Why ``path`` cannot be used as a directory to write in (or be created as one); None
    when it can. Nothing is created: a dry run asks this too."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return _missing_directory_problem(path)
    except NotADirectoryError:
        return "a part of the path is a file, not a directory"
    except OSError as error:
        return error.strerror or str(error)
    if not stat.S_ISDIR(mode):
        return f"it is {_kind(mode)}, not a directory"
    return None if os.access(path, os.W_OK | os.X_OK) else "it is not writable"
