"""Release tarballs in the official layout (``bin/ollama``, ``lib/ollama/...``), byte-reproducible.

Extract like the official one: ``tar -C /usr/local -xzf ollama-...tar.gz``. Entry names carry no
leading ``./``. The bytes depend only on the tree's normalised entries (see ``tree.py``), the
epoch and the compressor build:

* entries sorted by path, POSIX pax format, uid/gid 0, empty uname/gname, mtime = epoch;
* gzip (level 6, via zlib) with header mtime 0, no file name, OS byte fixed by CPython;
* zstd (``zstd`` program, level 10) from a file, so the frame records the content size; zstd
  frames have no timestamp or name, and its multi-threaded output does not depend on the thread
  count (measured: -T1, -T2, -T0 identical; only --single-thread and stdin input differ).

Level 6 rather than 9: on CUDA libraries gzip -9 saved 0.1 % for 30 % more time (measured on
libcublasLt, 442 MB: 22 s vs 29 s). zstd -19 took 274 s on two cores for 7 % less than -10.
"""

from __future__ import annotations

import gzip
import tarfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, cast

from build_tools.package.staging import TreeEntry
from build_tools.runner import Runner
from build_tools.settings.groups import Compression

__all__ = ["GZIP_LEVEL", "ZSTD_LEVEL", "tarball_suffix", "write_tarball"]

GZIP_LEVEL = 6
ZSTD_LEVEL = 10
BUFSIZE = 1 << 20


def tarball_suffix(compress: Compression) -> str:
    return ".tar.gz" if compress == "gzip" else ".tar.zst"


def _tar_info(entry: TreeEntry, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.path)
    info.mtime = epoch
    info.mode = entry.mode
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target
    else:
        info.type = tarfile.REGTYPE
        info.size = entry.size
    return info


def _write_tar(entries: Sequence[TreeEntry], root: Path, stream: IO[bytes], epoch: int) -> None:
    # Stream mode ("w|"): no seeking, so the same code feeds a file or a compressor.
    with tarfile.open(
        fileobj=stream, mode="w|", format=tarfile.PAX_FORMAT, bufsize=BUFSIZE
    ) as archive:
        for entry in entries:
            info = _tar_info(entry, epoch)
            if entry.kind == "file":
                with (root / entry.path).open("rb") as data:
                    archive.addfile(info, data)
            else:
                archive.addfile(info)


def write_tarball(
    entries: Sequence[TreeEntry],
    root: Path,
    dest: Path,
    *,
    compress: Compression,
    epoch: int,
    runner: Runner,
) -> Path:
    """Write ``dest`` (``.tar.gz`` or ``.tar.zst``) atomically; return it."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    try:
        if compress == "gzip":
            with (
                partial.open("wb") as raw,
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=GZIP_LEVEL
                ) as compressed,
            ):
                _write_tar(entries, root, cast(IO[bytes], compressed), epoch)
        else:
            plain = dest.with_name(dest.name + ".tar.partial")
            try:
                with plain.open("wb") as raw:
                    _write_tar(entries, root, raw, epoch)
                runner.run(
                    ["zstd", "-q", f"-{ZSTD_LEVEL}", "-T0", "-f", "-o", partial, plain],
                    what="zstd",
                    hint="install zstd (Debian/Ubuntu: apt-get install zstd) or use "
                    "--compress gzip",
                )
            finally:
                plain.unlink(missing_ok=True)
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return dest
