"""Unpack a release tarball into a directory for verify, refusing anything that could escape it.

Unlike ``inspect`` (which streams a tarball without extracting), verify has to run the binary,
so the files must land on disk. Members with an absolute name or a ``..`` component, device
files, and links whose target leaves the directory are refused before anything is written;
Python's ``data`` extraction filter (3.11.4+) is applied on top where available.
``.tar.zst`` needs the ``zstandard`` module or the ``zstd`` program (decompressed to a
temporary ``.tar`` first).
"""

from __future__ import annotations

import importlib
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from build_tools.audit.scan import safe_member_name
from build_tools.errors import UnreadableArtifactError
from build_tools.runner import Runner

__all__ = ["find_install_root", "is_tarball", "unpack_tarball"]

_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".tar.xz", ".tar.bz2")


def is_tarball(path: Path) -> bool:
    return path.is_file() and path.name.lower().endswith(_SUFFIXES)


def _unsafe(member: tarfile.TarInfo) -> str | None:
    if safe_member_name(member.name) is None:
        return "absolute path or '..'"
    name = PurePosixPath(member.name)
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        return "not a regular file, directory or link"
    if member.issym() or member.islnk():
        target = PurePosixPath(member.linkname)
        base = name.parent if member.issym() else PurePosixPath()
        if target.is_absolute() or _climbs(base / target):
            return f"link to {member.linkname} leaves the archive"
    return None


def _climbs(path: PurePosixPath) -> bool:
    depth = 0
    for part in path.parts:
        depth += -1 if part == ".." else 0 if part == "." else 1
        if depth < 0:
            return True
    return False


def _decompressed_zstd(path: Path, scratch: Path, runner: Runner) -> Path:
    tar_path = scratch / "archive.tar"
    try:
        zstandard: Any = importlib.import_module("zstandard")
    except ImportError:
        zstd = runner.which("zstd", hint="install zstd or pip install zstandard")
        runner.run([zstd, "-d", "-q", "-f", path, "-o", tar_path], probe=True, what="zstd -d")
        return tar_path
    with path.open("rb") as raw, tar_path.open("wb") as out:
        zstandard.ZstdDecompressor().copy_stream(raw, out)
    return tar_path


def unpack_tarball(path: Path, dest: Path, runner: Runner) -> None:
    """Extract ``path`` into ``dest`` (created), or raise before writing anything unsafe."""
    dest.mkdir(parents=True, exist_ok=True)
    source = path
    if path.name.lower().endswith((".tar.zst", ".tzst")):
        source = _decompressed_zstd(path, dest.parent, runner)
    try:
        with tarfile.open(source, mode="r:*") as archive:
            members = archive.getmembers()
            bad = [(m.name, why) for m in members if (why := _unsafe(m)) is not None]
            if bad:
                listed = "; ".join(f"{name} ({why})" for name, why in bad[:5])
                raise UnreadableArtifactError(
                    f"{path}: refusing to unpack unsafe entries: {listed}",
                    hint="unpack it yourself after checking it, and pass the directory",
                )
            if hasattr(tarfile, "data_filter"):
                archive.extractall(dest, members=members, filter="data")
            else:  # Python < 3.11.4: members were checked above
                archive.extractall(dest, members=members)  # noqa: S202
    except (tarfile.TarError, EOFError, OSError) as error:
        raise UnreadableArtifactError(
            f"{path}: not a readable tar archive ({error})",
            hint="pass an install directory or a .tgz/.tar.gz/.tar.zst release tarball",
        ) from None
    finally:
        if source != path:
            source.unlink(missing_ok=True)


def find_install_root(top: Path) -> Path:
    """The directory holding ``bin/ollama``: ``top`` itself or its shallowest subdirectory."""
    candidates = sorted(top.rglob("bin/ollama"), key=lambda p: len(p.parts))
    for binary in candidates:
        if binary.is_file():
            return binary.parent.parent
    raise UnreadableArtifactError(
        f"no bin/ollama under {top}",
        hint="pass an Ollama install directory or a release tarball (bin/ollama + lib/ollama)",
    )
