"""The CPU a build is for: its architecture and instruction-set flags from ``/proc/cpuinfo``.

``detect`` records them in the inventory, so a build on another machine can pick the ggml CPU
variants the target box loads (``--cpu-variants native``). The text is parsed strictly: every
line is ``key : value`` or blank, flags are lower-case words, and a box whose processors report
different flags gets the flags all of them share (a variant must load on whichever core runs it).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from build_tools.errors import InventoryError
from build_tools.files import read_regular

__all__ = [
    "CPUINFO",
    "CpuInfo",
    "cpu_from_json",
    "parse_cpuinfo",
    "read_cpuinfo",
]

CPUINFO = Path("/proc/cpuinfo")
# A 512-thread box prints about 1.5 KiB per processor; far below this.
MAX_CPUINFO_BYTES = 8 * 2**20
MAX_FLAGS = 1024
_KEY = re.compile(r"[A-Za-z][A-Za-z0-9 _()/.#-]{0,63}")
_FLAG = re.compile(r"[a-z0-9_]{1,32}")
_ARCH = re.compile(r"[a-z0-9_]{1,32}")
# Architectures whose /proc/cpuinfo lists instruction-set flags under "flags".
_FLAG_ARCHS = {"x86_64", "i686", "i386"}


@dataclass(frozen=True, kw_only=True)
class CpuInfo:
    arch: str  # as `uname -m` prints it: x86_64, aarch64
    flags: frozenset[str]  # what every processor reports (empty where the arch has none)

    def to_json(self) -> dict[str, Any]:
        return {"arch": self.arch, "flags": sorted(self.flags)}


def _flags(value: str | list[str], where: str) -> frozenset[str]:
    words = value.split() if isinstance(value, str) else value
    if len(words) > MAX_FLAGS:
        raise InventoryError(f"{where}: more than {MAX_FLAGS} CPU flags")
    bad = next((w for w in words if _FLAG.fullmatch(w) is None), None)
    if bad is not None:
        raise InventoryError(f"{where}: CPU flag {bad[:40]!r} is not a lower-case word")
    return frozenset(words)


def parse_cpuinfo(text: str, arch: str, where: str = "/proc/cpuinfo") -> CpuInfo:
    """``/proc/cpuinfo`` text of a machine of architecture ``arch`` to a :class:`CpuInfo`."""
    if _ARCH.fullmatch(arch) is None:
        raise InventoryError(f"{where}: architecture {arch[:40]!r} is not a machine name")
    per_processor: list[frozenset[str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        key = key.strip()
        if not colon or _KEY.fullmatch(key) is None:
            raise InventoryError(f"{where}, line {number}: not 'key : value'")
        if key == "flags":
            per_processor.append(_flags(value, f"{where}, line {number}"))
    if arch not in _FLAG_ARCHS:
        return CpuInfo(arch=arch, flags=frozenset())
    if not per_processor:
        raise InventoryError(f"{where}: no 'flags' line for an {arch} CPU")
    return CpuInfo(arch=arch, flags=frozenset.intersection(*per_processor))


def read_cpuinfo(path: Path = CPUINFO, arch: str | None = None) -> CpuInfo:
    """This machine's CPU (bounded read of ``path``; ``arch`` defaults to ``uname -m``)."""
    machine = arch if arch is not None else os.uname().machine
    try:
        data = read_regular(path, limit=MAX_CPUINFO_BYTES)
    except OSError as error:
        raise InventoryError(f"cannot read {path}: {error.strerror}") from None
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError as error:
        raise InventoryError(f"{path}: not ASCII text (byte {error.start})") from None
    return parse_cpuinfo(text, machine, str(path))


def cpu_from_json(value: object, where: str) -> CpuInfo:
    """The ``cpu`` entry of an inventory file: ``{"arch": "x86_64", "flags": [...]}``."""
    if not isinstance(value, dict) or set(value) != {"arch", "flags"}:
        raise InventoryError(f"{where}: 'cpu' must be an object with 'arch' and 'flags' only")
    arch, flags = value["arch"], value["flags"]
    if not isinstance(arch, str) or _ARCH.fullmatch(arch) is None:
        raise InventoryError(f"{where}: cpu.arch is not a machine name such as x86_64")
    if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
        raise InventoryError(f"{where}: cpu.flags must be a list of strings")
    return CpuInfo(arch=arch, flags=_flags(flags, f"{where}, cpu.flags"))
