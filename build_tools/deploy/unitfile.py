"""Reading a rendered service unit back: its ``ExecStart`` command and ``Environment``.

Only the subset ``deploy render`` writes is accepted - one ``ExecStart=``, unquoted
``Environment=KEY=VALUE`` lines, no specifier but ``%h`` - so a hand-edited unit that systemd
would read differently from this parser fails loudly instead of being run differently.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from build_tools.errors import UnreadableArtifactError

__all__ = ["UnitCommand", "read_unit"]

_KEY = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_PLAIN = re.compile(r"^[^\s\"'\\$;%]*$")


@dataclass(frozen=True)
class UnitCommand:
    argv: tuple[str, ...]
    environment: dict[str, str]


def _expand(value: str, home: Path | None, where: str) -> str:
    if value.startswith("%h"):
        if home is None:
            raise UnreadableArtifactError(f"{where}: %h needs a home directory, and HOME is unset")
        value = str(home) + value[2:]
    if not _PLAIN.match(value):
        raise UnreadableArtifactError(
            f"{where}: {value!r} has quoting or specifiers `deploy render` never writes",
            hint="render the unit again instead of editing it (local changes go into drop-ins)",
        )
    return value


def read_unit(path: Path, *, home: Path | None) -> UnitCommand:
    """The command and environment of a unit written by ``deploy render``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise UnreadableArtifactError(f"cannot read {path}: {error.strerror}") from None
    section = ""
    argv: tuple[str, ...] | None = None
    environment: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        where = f"{path}:{number}"
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service":
            continue
        key, _, value = line.partition("=")
        if key == "ExecStart":
            if argv is not None:
                raise UnreadableArtifactError(f"{where}: a second ExecStart=")
            argv = tuple(_expand(word, home, where) for word in value.split())
        elif key == "Environment":
            name, equals, setting = value.partition("=")
            if not equals or not _KEY.match(name):
                raise UnreadableArtifactError(f"{where}: Environment={value} is not KEY=VALUE")
            environment[name] = _expand(setting, home, where)
    if not argv:
        raise UnreadableArtifactError(f"{path} has no ExecStart= in its [Service] section")
    return UnitCommand(argv=argv, environment=environment)
