"""File facts: what ``lstat`` says about a file, and content hashes remembered by those facts.

An unchanged re-run must not read GiBs again to learn that nothing changed. A file whose
device, inode, size and modification time (ns) are what they were when it was hashed is taken
to hold the same bytes, as git's index and make do; anything that rewrites a file (a compiler,
``strip``, ``cmake --install``, an editor) changes its mtime. Hard links share an inode, so a
linked artifact keeps its facts. ``ctime`` is left out on purpose: creating a hard link changes
it without changing a byte.

The cache is a JSON file in the work directory; a missing, damaged or foreign one is simply
empty (it can only cost a re-hash, never a wrong answer about a file that changed).
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from build_tools.files import read_regular, sha256_file

__all__ = ["HashCache", "digest", "file_facts", "tree_facts"]

FORMAT = 1
CACHE_LIMIT = 64 << 20  # a cache entry is ~150 bytes: far more files than any build has

Facts = tuple[int, int, int, int]


def file_facts(info: os.stat_result) -> Facts:
    return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


def digest(value: Any) -> str:
    """The sha256 of a JSON-able value written canonically (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _walk(root: Path, skip_dirs: frozenset[str]) -> Iterator[tuple[str, os.stat_result]]:
    for directory, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs)
        base = Path(directory)
        for name in sorted(dirnames + filenames):
            path = base / name
            try:
                yield path.relative_to(root).as_posix(), path.lstat()
            except FileNotFoundError:
                continue  # removed while we looked: the facts differ anyway


def tree_facts(
    root: Path, *, only_products: bool = False, skip_dirs: frozenset[str] = frozenset()
) -> dict[str, list[int | str]]:
    """``{relative path: [kind/size/mtime facts]}`` for every entry under ``root`` (nothing is
    read but metadata). ``only_products``: just shared libraries, archives and executables,
    the files an install copies out of a build tree (objects, logs and stamps rewritten by a
    no-op build are left out)."""
    facts: dict[str, list[int | str]] = {}
    if not root.is_dir():
        return facts
    for relative, info in _walk(root, skip_dirs):
        mode = info.st_mode
        if only_products:
            name = relative.rsplit("/", 1)[-1]
            library = name.endswith((".so", ".a")) or ".so." in name
            if not stat.S_ISREG(mode) or not (library or mode & 0o111):
                continue
        if stat.S_ISLNK(mode):
            facts[relative] = ["link", str((root / relative).readlink())]
        elif stat.S_ISDIR(mode):
            facts[relative] = ["dir"]
        else:
            facts[relative] = ["file", mode & 0o777, *file_facts(info)]
    return facts


class HashCache:
    """sha256 of files, remembered by their facts in ``path`` (saved by :meth:`save`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._entries: dict[str, list[Any]] = {}
        self._changed = False
        self.hashed = 0  # files actually read this time
        self.remembered = 0  # answered from the facts
        try:
            data = json.loads(read_regular(path, limit=CACHE_LIMIT))
            if isinstance(data, dict) and data.get("format") == FORMAT:
                entries = data.get("files")
                if isinstance(entries, dict):
                    self._entries = entries
        except (OSError, ValueError):
            pass  # no cache yet, or one we cannot trust: hash everything

    def sha256(self, path: Path, info: os.stat_result | None = None) -> str:
        info = info if info is not None else path.stat()
        key = str(path.absolute())
        facts = list(file_facts(info))
        entry = self._entries.get(key)
        if (
            isinstance(entry, list)
            and len(entry) == 2
            and entry[0] == facts
            and isinstance(entry[1], str)
        ):
            self.remembered += 1
            return entry[1]
        value = sha256_file(path)
        self.hashed += 1
        self.remember(path, value, info)
        return value

    def remember(self, path: Path, sha256: str, info: os.stat_result | None = None) -> None:
        """Record a hash known without reading (a copy or link of a file already hashed)."""
        info = info if info is not None else path.stat()
        self._entries[str(path.absolute())] = [list(file_facts(info)), sha256]
        self._changed = True

    def known(self, path: Path) -> str | None:
        """The remembered sha256 of ``path`` if its facts still match, else None (no read)."""
        try:
            info = path.stat()
        except OSError:
            return None
        entry = self._entries.get(str(path.absolute()))
        if isinstance(entry, list) and len(entry) == 2 and entry[0] == list(file_facts(info)):
            return str(entry[1])
        return None

    def save(self) -> None:
        if not self._changed:
            return
        # Forget files that are gone, so the cache does not grow with every plan.
        alive = {k: v for k, v in self._entries.items() if Path(k).exists()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps({"format": FORMAT, "files": alive}, sort_keys=True))
        partial.replace(self.path)
        self._changed = False
