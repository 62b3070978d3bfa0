"""Optional cross-check of the pure parser with NVIDIA's ``cuobjdump``.

``cuobjdump --list-elf --list-ptx LIB`` prints one line per embedded code object::

    PTX file    1: libtinycu.1.sm_50.ptx
    ELF file    1: libtinycu.1.sm_50.cubin

cuobjdump is only in some toolkits (the CUDA 12.4 Debian packages, not the CUDA 13.0 wheels),
so the audit never depends on it; tests use it to prove that :mod:`.fatbin` reads the same
entries, in the same order.

Known difference: ``nvcc -shared`` adds a device-link fatbin whose ``sm_90a`` cubin carries the
``a`` flag in its fatbin header (which the parser reads) but not in its own ELF flags (which
cuobjdump 12.4 reads), so cuobjdump names it ``sm_90``. cuobjdump 12.4 also predates family
(``f``) targets and prints ``sm_100f`` code as ``sm_100``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from build_tools.audit.fatbin import LibraryAudit
from build_tools.runner import Runner

__all__ = [
    "CuobjdumpEntry",
    "list_code",
    "listing_from_audit",
    "parse_listing",
    "render_listing",
]

_LINE = re.compile(r"^(?P<kind>ELF|PTX) file\s+(?P<index>\d+): (?P<file>\S+)$")
_ARCH = re.compile(r"\.sm_(?P<arch>\d+[af]?)\.(?:cubin|ptx)$")


@dataclass(frozen=True)
class CuobjdumpEntry:
    kind: str  # "sass" or "ptx", as in FatbinEntry.kind
    arch: str  # "86", "90a"


def parse_listing(text: str) -> list[CuobjdumpEntry]:
    """Entries of a ``--list-elf --list-ptx`` listing, in order; other lines are ignored."""
    entries = []
    for line in text.splitlines():
        match = _LINE.match(line.strip())
        if match is None:
            continue
        arch = _ARCH.search(match["file"])
        if arch is None:
            raise ValueError(f"unexpected cuobjdump line: {line!r}")
        entries.append(CuobjdumpEntry("sass" if match["kind"] == "ELF" else "ptx", arch["arch"]))
    return entries


def list_code(cuobjdump: Path, library: Path, runner: Runner) -> list[CuobjdumpEntry]:
    """Run cuobjdump (read-only, so also under --dry-run) and parse what it lists."""
    result = runner.run(
        [cuobjdump, "--list-elf", "--list-ptx", library],
        probe=True,
        what="cuobjdump",
    )
    return parse_listing(result.output)


def listing_from_audit(audit: LibraryAudit) -> list[CuobjdumpEntry]:
    """The pure parser's entries in cuobjdump's terms, for a direct comparison."""
    return [
        CuobjdumpEntry(entry.kind, entry.arch_name)
        for entry in audit.entries
        if entry.kind != "other"
    ]


def render_listing(audit: LibraryAudit) -> str:
    """The parser's entries printed the way ``cuobjdump --list-elf --list-ptx`` prints them."""
    stem = Path(audit.path).stem  # cuobjdump drops the last suffix: tiny.cu.o -> tiny.cu
    counters = {"sass": 0, "ptx": 0}
    lines = []
    for entry in audit.entries:
        if entry.kind == "other":
            continue
        counters[entry.kind] += 1
        number = counters[entry.kind]
        label, ext = ("ELF", "cubin") if entry.kind == "sass" else ("PTX", "ptx")
        lines.append(f"{label} file {number:>4}: {stem}.{number}.sm_{entry.arch_name}.{ext}")
    return "".join(line + "\n" for line in lines)
