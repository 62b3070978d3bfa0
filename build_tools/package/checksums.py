"""``SHA256SUMS`` in the dist directory, in coreutils format: ``sha256sum -c SHA256SUMS`` checks it.

One file for the whole directory, like an official release's checksum list: packaging another
variant into the same directory adds or replaces that variant's lines and keeps the others (as
long as their files are still there; they are not re-hashed, which would cost minutes on GiB
tarballs). Lines are sorted by file name, so the file depends only on the set of artifacts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

__all__ = ["SUMS_NAME", "parse_sums", "render_sums", "update_sums"]

SUMS_NAME = "SHA256SUMS"

# "<64 hex>  <name>" (text mode) or "<64 hex> *<name>" (binary mode).
_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


def parse_sums(text: str) -> dict[str, str]:
    sums: dict[str, str] = {}
    for line in text.splitlines():
        match = _LINE.match(line)
        if match is not None:
            sums[match[2]] = match[1]
    return sums


def render_sums(sums: Mapping[str, str]) -> str:
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(sums.items()))


def update_sums(dist_dir: Path, new: Mapping[str, str]) -> Path:
    """Merge ``{file name: sha256}`` into ``dist_dir/SHA256SUMS``; return its path."""
    path = dist_dir / SUMS_NAME
    kept = parse_sums(path.read_text()) if path.is_file() else {}
    sums = {name: digest for name, digest in kept.items() if (dist_dir / name).is_file()}
    sums.update(new)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(render_sums(sums))
    partial.replace(path)
    return path
