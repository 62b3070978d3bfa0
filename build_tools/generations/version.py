"""Ollama release tags as ordered values (``v0.12.10-rc0`` < ``v0.12.10``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from build_tools.errors import ConfigurationError

__all__ = ["OllamaVersion"]

_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?\Z")
_DESCRIBED = re.compile(r"^v?\d+\.\d+\.\d+(?:-rc\d+)?")


@dataclass(frozen=True, order=True)
class OllamaVersion:
    """A release tag such as ``v0.12.10-rc0``; an rc sorts before its final release."""

    major: int
    minor: int
    patch: int
    rc: float = float("inf")  # final releases sort after every rc

    @classmethod
    def parse(cls, tag: str) -> OllamaVersion:
        match = _TAG.match(tag.strip())
        if match is None:
            raise ConfigurationError(
                f"'{tag}' is not an Ollama release tag", hint="expected vX.Y.Z or vX.Y.Z-rcN"
            )
        rc = float(match[4]) if match[4] is not None else float("inf")
        return cls(int(match[1]), int(match[2]), int(match[3]), rc)

    @classmethod
    def from_describe(cls, describe: str) -> OllamaVersion | None:
        """The release a `git describe` string is at or after (``v0.6.8-3-gabc`` → v0.6.8)."""
        match = _DESCRIBED.match(describe)
        return cls.parse(match[0]) if match else None

    def __str__(self) -> str:
        base = f"v{self.major}.{self.minor}.{self.patch}"
        return base if self.rc == float("inf") else f"{base}-rc{int(self.rc)}"
