"""Extracting selected files from a ``.deb`` without unpacking all of it.

``nvidia-cuda-dev`` is 934 MB compressed and 2.6 GB unpacked, nearly all of it static libraries
(cuBLAS, cuFFT, NPP ...) that no toolkit root needs. ``dpkg-deb -x`` has no member selection
and ``dpkg-deb --fsys-tarfile | tar`` needs a pipe, so this reads the archive itself: a .deb is
an ``ar`` archive whose ``data.tar.*`` member is streamed through :mod:`tarfile`, and only the
wanted members are written (about 40 MB instead of 2.6 GB of disk writes).
"""

from __future__ import annotations

import fnmatch
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from build_tools.console import ByteProgress, reporter
from build_tools.errors import ToolkitError

__all__ = ["extract_members"]

_AR_MAGIC = b"!<arch>\n"
_AR_HEADER = 60
_MODES = {".xz": "r|xz", ".gz": "r|gz", ".bz2": "r|bz2", "": "r|"}


class _MemberReader:
    """A file object over one ar member that reports progress as tarfile reads it."""

    def __init__(self, handle: BinaryIO, size: int, progress: ByteProgress) -> None:
        self._handle = handle
        self._left = size
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self._left:
            size = self._left
        data = self._handle.read(size)
        self._left -= len(data)
        self._progress.advance(len(data))
        return data


def _data_member(handle: BinaryIO, deb: Path) -> tuple[str, int]:
    """Position ``handle`` at the start of ``data.tar.*``; returns its name and size."""
    if handle.read(len(_AR_MAGIC)) != _AR_MAGIC:
        raise ToolkitError(f"{deb} is not a Debian package", hint=f"delete {deb} and retry")
    while header := handle.read(_AR_HEADER):
        if len(header) < _AR_HEADER:
            break
        name = header[:16].decode("ascii", "replace").strip().rstrip("/")
        size = int(header[48:58].decode("ascii").strip())
        if name.startswith("data.tar"):
            return name, size
        handle.seek(size + (size & 1), 1)  # ar members are 2-byte aligned
    raise ToolkitError(f"{deb} has no data.tar member", hint=f"delete {deb} and retry")


def extract_members(deb: Path, dest: Path, patterns: Sequence[str]) -> int:
    """Extract the members of ``deb`` matching any glob in ``patterns`` (``./usr/include/*``).

    Returns the number of members written. Links and paths are checked by tarfile's ``data``
    filter, so nothing can land outside ``dest``.
    """
    written = 0
    with deb.open("rb") as handle:
        name, size = _data_member(handle, deb)
        mode = _MODES.get(Path(name).suffix if name != "data.tar" else "")
        if mode is None:
            raise ToolkitError(f"{deb.name}: unsupported compression of {name}")
        with reporter.byte_progress(f"unpack parts of {deb.name}", size) as progress:
            reader = _MemberReader(handle, size, progress)
            with tarfile.open(fileobj=reader, mode=mode) as archive:  # type: ignore[call-overload]
                for member in archive:
                    if member.isdir() or not any(
                        fnmatch.fnmatchcase(member.name, p) for p in patterns
                    ):
                        continue
                    archive.extract(member, dest, filter="data")
                    written += 1
    return written
