"""The staging tree as a sorted list of entries with normalised metadata and content hashes.

Every package format and the manifest are views of this one list, so they always agree on what
was shipped. Normalisation is what makes the packages byte-reproducible: only the relative path,
the kind, the executable bit, the size, the content and a symlink's target survive; owners,
umask-dependent modes and build times do not.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from build_tools.errors import InputError
from build_tools.facts import HashCache
from build_tools.files import sha256_file

__all__ = ["TreeEntry", "scan_tree"]

EntryKind = Literal["dir", "file", "symlink"]


@dataclass(frozen=True, kw_only=True)
class TreeEntry:
    path: str  # relative POSIX path, no leading "./"
    kind: EntryKind
    executable: bool = False
    size: int = 0
    sha256: str = ""  # files only
    target: str = ""  # symlinks only, relative, as stored

    @property
    def mode(self) -> int:
        """Permission bits as packaged: 0755 for directories and executables, 0644 otherwise
        (symlink modes mean nothing on Linux; tar convention is 0777)."""
        if self.kind == "symlink":
            return 0o777
        return 0o755 if self.kind == "dir" or self.executable else 0o644

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"path": self.path, "type": self.kind, "mode": f"{self.mode:04o}"}
        if self.kind == "file":
            data.update(size=self.size, sha256=self.sha256)
        elif self.kind == "symlink":
            data["target"] = self.target
        return data


def _sort_key(relative: str) -> tuple[str, ...]:
    # By path components: a directory comes right before its own contents (tar extraction
    # then creates it with the packaged mode), and "lib/a-b" vs "lib/a/b" cannot reorder.
    return tuple(relative.split("/"))


def _walk(root: Path) -> Iterator[Path]:
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        for name in dirnames + filenames:
            yield base / name


def _checked_target(root: Path, path: Path, relative: str) -> str:
    """A symlink must stay inside the tree, or the package would depend on the build host."""
    target = str(path.readlink())
    if PurePosixPath(target).is_absolute():
        raise InputError(
            f"{relative} is a symlink to the absolute path {target}",
            hint="the staging tree must be self-contained; install the file instead of a link",
        )
    resolved = (path.parent / target).resolve()
    if not resolved.is_relative_to(root.resolve()) or not resolved.exists():
        raise InputError(
            f"{relative} -> {target} points outside the staging tree or nowhere",
            hint="rebuild; the install step should only create links between installed files",
        )
    return target


def scan_tree(root: Path, hashes: HashCache | None = None) -> list[TreeEntry]:
    """Every directory, regular file and symlink under ``root``, sorted, files hashed (or
    their hash taken from ``hashes`` when size, mtime and inode are unchanged)."""
    if not root.is_dir():
        raise InputError(
            f"nothing to package: {root} is not a directory",
            hint="run a complete build first (no --stop-after)",
        )
    entries: list[TreeEntry] = []
    for path in _walk(root):
        relative = path.relative_to(root).as_posix()
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            entries.append(
                TreeEntry(
                    path=relative, kind="symlink", target=_checked_target(root, path, relative)
                )
            )
        elif stat.S_ISDIR(info.st_mode):
            entries.append(TreeEntry(path=relative, kind="dir"))
        elif stat.S_ISREG(info.st_mode):
            entries.append(
                TreeEntry(
                    path=relative,
                    kind="file",
                    executable=bool(info.st_mode & 0o111),
                    size=info.st_size,
                    sha256=sha256_file(path) if hashes is None else hashes.sha256(path, info),
                )
            )
        else:
            raise InputError(
                f"{relative} in {root} is neither a file, a directory nor a symlink",
                hint="remove it from the staging tree",
            )
    entries.sort(key=lambda entry: _sort_key(entry.path))
    return entries
