"""The dynamic-linking entries of an ELF file: the libraries it needs and where it searches.

Read with pyelftools from the ``.dynamic`` section (``DT_NEEDED``, ``DT_RPATH``,
``DT_RUNPATH``); nothing is loaded or executed. :mod:`.runtime_links` decides from these where
the loader would find the CUDA runtime.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from elftools.common.exceptions import ELFError
from elftools.elf.dynamic import DynamicSection
from elftools.elf.elffile import ELFFile

from build_tools.errors import UnreadableArtifactError
from build_tools.files import open_regular

__all__ = ["DynamicInfo", "dynamic_info", "read_dynamic"]

_PARSE_ERRORS = (ELFError, ValueError, OverflowError, KeyError, IndexError, struct.error)
# More entries than any real library has: a crafted table must not make us loop for long.
_MAX_TAGS = 4096


@dataclass(frozen=True, kw_only=True)
class DynamicInfo:
    needed: tuple[str, ...] = ()
    rpath: tuple[str, ...] = ()  # DT_RPATH entries (searched before LD_LIBRARY_PATH)
    runpath: tuple[str, ...] = ()  # DT_RUNPATH entries (after it; DT_RPATH then ignored)

    def to_json(self) -> dict[str, Any]:
        return {
            "needed": list(self.needed),
            "rpath": list(self.rpath),
            "runpath": list(self.runpath),
        }


def _split(value: Any) -> list[str]:
    return [entry for entry in str(value).split(":") if entry]


def dynamic_info(elf: ELFFile) -> DynamicInfo:
    """The entries of an opened ELF file (none for a static file or an object file)."""
    needed: list[str] = []
    rpath: list[str] = []
    runpath: list[str] = []
    for section in elf.iter_sections():
        if not isinstance(section, DynamicSection):
            continue
        for count, tag in enumerate(section.iter_tags()):
            name = tag.entry.d_tag
            if count >= _MAX_TAGS or name == "DT_NULL":
                break
            # pyelftools sets the string of a string-valued tag as an attribute of its name.
            if name == "DT_NEEDED":
                needed.append(str(getattr(tag, "needed", "")))
            elif name == "DT_RPATH":
                rpath += _split(getattr(tag, "rpath", ""))
            elif name == "DT_RUNPATH":
                runpath += _split(getattr(tag, "runpath", ""))
        break
    return DynamicInfo(needed=tuple(needed), rpath=tuple(rpath), runpath=tuple(runpath))


def read_dynamic(path: Path) -> DynamicInfo:
    """The entries of an ELF file on disk (a regular file: a FIFO or device is refused)."""
    try:
        with open_regular(path) as stream:
            return dynamic_info(ELFFile(stream))
    except OSError as error:
        raise UnreadableArtifactError(f"cannot read {path}: {error.strerror}") from None
    except _PARSE_ERRORS as error:
        raise UnreadableArtifactError(
            f"{path}: not a readable ELF file ({error})",
            hint="the file is damaged or truncated; compare its size and checksum with the release",
        ) from None
