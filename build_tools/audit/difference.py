"""Why two builds of one CUDA library differ: which fatbin entries, and what in them.

``verify-reproducible`` asks this for every library that differs between its two builds. The
usual cause is an internal-linkage name (``_GLOBAL__N__<hash>_...``, ``_INTERNAL_<hash>_...``):
nvcc hashes the source file's absolute path into it, so it names the work directory
(``build_tools/toolkit/pathmap.py``). Those names are readable in uncompressed SASS and PTX;
compressed entries can only be said to differ.
"""

from __future__ import annotations

import hashlib
import mmap
import re
from dataclasses import dataclass
from pathlib import Path

from elftools.common.exceptions import ELFError
from elftools.elf.elffile import ELFFile

from build_tools.audit.fatbin import FATBIN_SECTION, FatbinEntry, parse_fatbin
from build_tools.files import open_regular

__all__ = ["DeviceCode", "explain_library_difference", "read_device_code"]

# Hashed names nvcc gives internal-linkage symbols, and its temporary file names (with a PID).
_HASHED_NAME = re.compile(rb"_GLOBAL__N__[0-9a-f]{8}|_INTERNAL_[0-9a-f]{8}|tmpxft_[0-9a-f]{8}")
_SHOWN = 4  # entries and names named in one explanation


@dataclass(frozen=True, kw_only=True)
class DeviceCode:
    entries: tuple[FatbinEntry, ...]
    digests: tuple[str, ...]  # sha256 of each entry's payload
    names: tuple[frozenset[str], ...]  # hashed names in each uncompressed payload
    host_digest: str  # sha256 of the file without its .nv_fatbin section
    host_names: frozenset[str]  # hashed names and tmpxft_ file names outside it


def read_device_code(path: Path) -> DeviceCode | None:
    """The fatbin entries of an ELF file with their payload digests; None for a file without
    device code or one that cannot be read as ELF (then nothing can be said about it)."""
    try:
        with open_regular(path) as stream:
            if stream.seek(0, 2) == 0:
                return None
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as data:
                stream.seek(0)
                return _read(ELFFile(stream), data)
    except (OSError, ELFError, ValueError):
        return None


def _read(elf: ELFFile, data: mmap.mmap) -> DeviceCode | None:
    section = elf.get_section_by_name(FATBIN_SECTION)
    if section is None:
        return None
    start, size = int(section["sh_offset"]), int(section["sh_size"])
    if start + size > len(data):
        return None
    # Views, not copies (a library can be a gigabyte); released before the map is closed.
    with memoryview(data) as whole, whole[start : start + size] as body:
        entries = tuple(parse_fatbin(body))
        digests, names = [], []
        for entry in entries:
            end = entry.payload_offset + entry.payload_size
            with body[entry.payload_offset : end] as payload:
                digests.append(hashlib.sha256(payload).hexdigest())
                found = [] if entry.compressed else _HASHED_NAME.findall(payload)
                names.append(frozenset(bytes(m).decode() for m in found))
        host = hashlib.sha256()
        host_names: set[str] = set()
        for part in (whole[:start], whole[start + size :]):
            with part:
                host.update(part)
                host_names.update(bytes(m).decode() for m in _HASHED_NAME.findall(part))
    return DeviceCode(
        entries=entries,
        digests=tuple(digests),
        names=tuple(names),
        host_digest=host.hexdigest(),
        host_names=frozenset(host_names),
    )


def _listed(items: list[str]) -> str:
    more = len(items) - _SHOWN
    return ", ".join(items[:_SHOWN]) + (f" and {more} more" if more > 0 else "")


def explain_library_difference(a: Path, b: Path) -> str | None:
    """One sentence on how two versions of a CUDA library differ; None without device code."""
    first, second = read_device_code(a), read_device_code(b)
    if first is None or second is None:
        return None
    host = "the rest of the file is identical"
    if first.host_digest != second.host_digest:
        host = "the host code differs too"
    shape = [(e.name, e.fatbin) for e in first.entries]
    if shape != [(e.name, e.fatbin) for e in second.entries]:
        return (
            f"the fatbins hold different entries ({len(first.entries)} vs "
            f"{len(second.entries)}): the two builds compiled different code; {host}"
        )
    differing = [
        index
        for index, (x, y) in enumerate(zip(first.digests, second.digests, strict=True))
        if x != y
    ]
    if not differing:
        return f"the device code is identical; {host}{_host_names(first, second)}"
    labels = [f"{first.entries[i].name} (fatbin {first.entries[i].fatbin})" for i in differing]
    text = f"device code differs in {len(differing)} of {len(first.entries)} fatbin entries: "
    text += _listed(labels)
    only_a = sorted(set().union(*(first.names[i] - second.names[i] for i in differing)))
    only_b = sorted(set().union(*(second.names[i] - first.names[i] for i in differing)))
    if only_a or only_b:
        text += (
            f"; internal-linkage names differ ({_listed(only_a)} vs {_listed(only_b)}): nvcc "
            "hashed a work-directory path into them"
        )
    elif all(first.entries[i].compressed for i in differing):
        text += " (compressed: `cuobjdump -elf` on both shows what differs)"
    return f"{text}; {host}"


def _host_names(first: DeviceCode, second: DeviceCode) -> str:
    only_a = sorted(first.host_names - second.host_names)
    only_b = sorted(second.host_names - first.host_names)
    if not (only_a or only_b):
        return ""
    return (
        f" ({_listed(only_a)} vs {_listed(only_b)}: nvcc's process id (tmpxft_<pid>) or a "
        "path reached the host code)"
    )
