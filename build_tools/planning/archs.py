"""CUDA architecture tokens: parsing every spelling users write, rendering CMake and make syntax.

One :class:`CudaArch` is one entry of a ``CMAKE_CUDA_ARCHITECTURES`` list: an arch number
(``86`` = compute capability 8.6), an optional ``a`` (arch-specific) or ``f`` (family) suffix,
and which code it embeds: SASS (``-real``, runs natively) and/or PTX (``-virtual``, JIT-compiled
by the driver).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from build_tools.errors import ConfigurationError

__all__ = [
    "ArchKeyword",
    "CudaArch",
    "PtxPolicy",
    "Suffix",
    "parse_arch_list",
    "parse_arch_number",
    "parse_arch_token",
    "render_cmake",
    "render_make",
    "split_arch_list",
]

Suffix = Literal["", "a", "f"]

ACCEPTED_FORMS = (
    "86, 8.6, sm_86, compute_86, 86-real, 86-virtual, 90a, 100f, or native/all/all-major"
)


class PtxPolicy(StrEnum):
    """Where PTX (driver-JIT code) is embedded for plain arch entries.

    ``highest`` (default): SASS for every arch, PTX only for the highest one. That keeps a
    forward-compatible fallback for GPUs newer than the plan without doubling the library: PTX
    is about 40% of the fatbin per arch (README, "Architecture plans").
    """

    NONE = "none"
    HIGHEST = "highest"
    ALL = "all"


class ArchKeyword(StrEnum):
    """CMake keywords of ``CMAKE_CUDA_ARCHITECTURES``: the planner resolves them itself."""

    NATIVE = "native"
    ALL = "all"
    ALL_MAJOR = "all-major"


@dataclass(frozen=True, order=True)
class CudaArch:
    """One architecture entry. Ordered by (number, suffix) so lists sort naturally."""

    number: int
    suffix: Suffix = ""
    sass: bool = True
    ptx: bool = True

    def __post_init__(self) -> None:
        if not (self.sass or self.ptx):
            raise ValueError("an architecture entry must embed SASS, PTX or both")

    @property
    def name(self) -> str:
        """``86``, ``90a``: the arch without any code-kind marker."""
        return f"{self.number}{self.suffix}"

    @property
    def major(self) -> int:
        return self.number // 10

    @property
    def minor(self) -> int:
        return self.number % 10

    @property
    def compute_capability(self) -> str:
        return f"{self.major}.{self.minor}"

    def cmake(self) -> str:
        """Render in ``CMAKE_CUDA_ARCHITECTURES`` syntax."""
        if self.sass and self.ptx:
            return self.name
        return f"{self.name}-real" if self.sass else f"{self.name}-virtual"

    def with_code(self, *, sass: bool, ptx: bool) -> CudaArch:
        return CudaArch(self.number, self.suffix, sass=sass, ptx=ptx)


_NUMBER = re.compile(r"^(?:(?P<major>\d{1,2})\.(?P<minor>\d)|(?P<num>\d{2,3}))(?P<suffix>[af]?)\Z")


def parse_arch_number(token: str) -> tuple[int, Suffix]:
    """``86`` / ``8.6`` / ``90a`` → (86, ""), (86, ""), (90, "a"). Raises ConfigurationError."""
    match = _NUMBER.match(token.strip().lower())
    if match is None:
        raise ConfigurationError(
            f"invalid CUDA architecture '{token}'", hint=f"accepted forms: {ACCEPTED_FORMS}"
        )
    if match["num"] is not None:
        number = int(match["num"])
    else:
        number = int(match["major"]) * 10 + int(match["minor"])
    suffix: Suffix = "a" if match["suffix"] == "a" else "f" if match["suffix"] == "f" else ""
    if number < 10:
        raise ConfigurationError(
            f"invalid CUDA architecture '{token}'", hint=f"accepted forms: {ACCEPTED_FORMS}"
        )
    return number, suffix


def parse_arch_token(token: str) -> CudaArch | ArchKeyword:
    """Parse one token in any accepted spelling.

    ``sm_86`` means SASS only and ``compute_86`` PTX only (nvcc's meaning); ``86-real`` and
    ``86-virtual`` are CMake's spellings of the same; a bare ``86`` embeds both, as in CMake.
    """
    text = token.strip()
    lowered = text.lower()
    try:
        return ArchKeyword(lowered)
    except ValueError:
        pass
    sass, ptx = True, True
    body = lowered
    if body.startswith("sm_"):
        body, ptx = body[3:], False
    elif body.startswith("compute_"):
        body, sass = body[8:], False
    if body.endswith("-real") and sass and ptx:
        body, ptx = body[: -len("-real")], False
    elif body.endswith("-virtual") and sass and ptx:
        body, sass = body[: -len("-virtual")], False
    if not body:
        raise ConfigurationError(
            f"invalid CUDA architecture '{text}'", hint=f"accepted forms: {ACCEPTED_FORMS}"
        )
    try:
        number, suffix = parse_arch_number(body)
    except ConfigurationError:
        raise ConfigurationError(
            f"invalid CUDA architecture '{text}'", hint=f"accepted forms: {ACCEPTED_FORMS}"
        ) from None
    return CudaArch(number, suffix, sass=sass, ptx=ptx)


def split_arch_list(values: Iterable[str]) -> list[str]:
    """Split repeatable, comma- or semicolon-separated option values into tokens."""
    tokens: list[str] = []
    for value in values:
        tokens.extend(t.strip() for t in re.split(r"[;,\s]+", value) if t.strip())
    return tokens


def parse_arch_list(values: Iterable[str]) -> list[CudaArch | ArchKeyword]:
    return [parse_arch_token(token) for token in split_arch_list(values)]


def render_cmake(archs: Iterable[CudaArch]) -> str:
    """The exact ``CMAKE_CUDA_ARCHITECTURES`` value, e.g. ``61-real;86``."""
    return ";".join(arch.cmake() for arch in archs)


def render_make(archs: Iterable[CudaArch]) -> str:
    """The make-era (Ollama G1/G2) ``CUDA_ARCHITECTURES`` value: bare numbers only.

    Those Makefiles expand every entry to ``code=[compute_N,sm_N]``, so SASS and PTX are always
    both embedded; the planner warns when a plan asked for less.
    """
    names: list[str] = []
    for arch in archs:
        if arch.name not in names:
            names.append(arch.name)
    return ";".join(names)
