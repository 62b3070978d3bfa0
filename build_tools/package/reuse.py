"""Artifacts already written from the same manifest, so that none is compressed twice.

A tarball or wheel is a function of its manifest (every file's hash, the plan, the toolchain,
the epoch) and the compression options, which are part of its name. The index remembers, per
artifact file name and manifest digest, where such a file was written. When another
``--dist-dir`` asks for the same artifact, the existing file is hard-linked there (copied when
the two directories are on different file systems) instead of being compressed again, which
costs minutes for a CUDA build's GiB of libraries. An indexed file is only used while its facts
(size, mtime, inode) are the ones recorded, i.e. nobody rewrote it since.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from pathlib import Path
from typing import Literal

from build_tools.facts import HashCache
from build_tools.files import read_regular

__all__ = ["ArtifactIndex", "Placed", "place_copy"]

INDEX_LIMIT = 8 << 20
Placed = Literal["linked", "copied"]


class ArtifactIndex:
    """``{file name: {manifest digest: [paths]}}`` in ``path``; hashes checked by facts."""

    def __init__(self, path: Path, hashes: HashCache) -> None:
        self.path = path
        self.hashes = hashes
        self._index: dict[str, dict[str, list[str]]] = {}
        try:
            data = json.loads(read_regular(path, limit=INDEX_LIMIT))
            if isinstance(data, dict):
                self._index = {
                    str(name): {str(m): [str(p) for p in paths] for m, paths in by.items()}
                    for name, by in data.items()
                    if isinstance(by, dict)
                    and all(isinstance(paths, list) for paths in by.values())
                }
        except (OSError, ValueError, AttributeError, TypeError):
            pass  # no index yet or a damaged one: nothing to reuse

    def find(self, name: str, manifest_digest: str, *, besides: Path) -> tuple[Path, str] | None:
        """An unmodified earlier copy of ``name`` made from this manifest, and its sha256."""
        for candidate in self._index.get(name, {}).get(manifest_digest, []):
            path = Path(candidate)
            if path == besides:
                continue
            sha256 = self.hashes.known(path)
            if sha256 is not None:
                return path, sha256
        return None

    def record(self, path: Path, manifest_digest: str) -> None:
        paths = self._index.setdefault(path.name, {}).setdefault(manifest_digest, [])
        if str(path) not in paths:
            paths.append(str(path))
        # Only this manifest's copies stay: older builds' files are never reused again.
        self._index[path.name] = {manifest_digest: paths}

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        partial = self.path.with_name(self.path.name + ".partial")
        partial.write_text(json.dumps(self._index, sort_keys=True, indent=1))
        partial.replace(self.path)


def place_copy(source: Path, dest: Path) -> Placed:
    """Put ``source``'s bytes at ``dest`` atomically: a hard link, else a copy."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        try:
            os.link(source, partial)
            how: Placed = "linked"
        except OSError as error:
            if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP):
                raise
            shutil.copyfile(source, partial)
            how = "copied"
        partial.replace(dest)
    finally:
        partial.unlink(missing_ok=True)
    return how
