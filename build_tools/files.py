"""Small facts about files: their sha256 and a size a person can read."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["format_size", "sha256_file"]

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
