"""GPU selectors: which GPUs of an inventory form a group (``deploy --group NAME=SELECTOR``).

Grammar (strict: every accepted text renders back to itself, see :meth:`GpuSelector.text`)::

    SELECTOR := PART ("+" PART)*          a union: cc:8.6+index:3
    PART     := "cc:" CC ("," CC)*        compute capability, 8.6 (the form nvidia-smi prints)
              | "index:" N ("," N)*       nvidia-smi indexes (0, 1, ...)
              | "name:" GLOB              the GPU name, a case-insensitive glob: name:*M10*
              | UUID ("," UUID)*          GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx or MIG-...
    NAME     := [a-z0-9][a-z0-9_-]{0,31}  a group name: it names units, services and backends

Selecting is separate from parsing: :func:`select_gpus` matches a parsed selector against an
inventory and fails, naming what exists, when a part matches no GPU.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from build_tools.errors import ConfigurationError
from build_tools.gpus.inventory import Gpu

__all__ = [
    "GROUP_NAME",
    "GpuSelector",
    "GroupSpec",
    "SelectorPart",
    "parse_group_name",
    "parse_group_spec",
    "parse_selector",
    "select_gpus",
]

PartKind = Literal["cc", "index", "name", "uuid"]

GROUP_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
_CC = re.compile(r"^(?:[1-9]|1[0-9])\.[0-9]$")
_INDEX = re.compile(r"^(?:0|[1-9][0-9]{0,3})$")
_HEX_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
UUID = re.compile(rf"^(?:GPU|MIG)-{_HEX_UUID}$")
# Letters, digits, blanks and the punctuation GPU names use, plus the glob characters * ? [ ].
_GLOB = re.compile(r"^[A-Za-z0-9 *?\[\]._()/-]{1,64}$")
_KINDS = ("cc", "index", "name")


@dataclass(frozen=True)
class SelectorPart:
    kind: PartKind
    values: tuple[str, ...]

    @property
    def text(self) -> str:
        joined = ",".join(self.values)
        return joined if self.kind == "uuid" else f"{self.kind}:{joined}"

    def matches(self, gpu: Gpu) -> bool:
        if self.kind == "cc":
            return gpu.compute_capability in self.values
        if self.kind == "index":
            return str(gpu.index) in self.values
        if self.kind == "uuid":
            return gpu.uuid.lower() in {v.lower() for v in self.values}
        return fnmatch.fnmatchcase(gpu.name.lower(), self.values[0].lower())


@dataclass(frozen=True)
class GpuSelector:
    parts: tuple[SelectorPart, ...]

    @property
    def text(self) -> str:
        return "+".join(part.text for part in self.parts)

    def matches(self, gpu: Gpu) -> bool:
        return any(part.matches(gpu) for part in self.parts)


@dataclass(frozen=True)
class GroupSpec:
    """``--group NAME=SELECTOR``."""

    name: str
    selector: GpuSelector

    @property
    def text(self) -> str:
        return f"{self.name}={self.selector.text}"


def _values(text: str, pattern: re.Pattern[str], what: str, example: str) -> tuple[str, ...]:
    values = tuple(text.split(","))
    for value in values:
        if not pattern.match(value):
            raise ValueError(f"{value!r} is not {what} (e.g. {example})")
    if len(set(values)) != len(values):
        raise ValueError(f"{text!r} names a value twice")
    return values


def _parse_part(text: str) -> SelectorPart:
    kind, colon, rest = text.partition(":")
    if colon and kind in _KINDS:
        if kind == "cc":
            return SelectorPart("cc", _values(rest, _CC, "a compute capability", "cc:8.6"))
        if kind == "index":
            return SelectorPart("index", _values(rest, _INDEX, "a GPU index", "index:0,1"))
        if not _GLOB.match(rest):
            raise ValueError(
                f"{rest!r} is not a name glob (letters, digits, blanks, ._()/- and * ? [ ])"
            )
        return SelectorPart("name", (rest,))
    if text[:4] in ("GPU-", "MIG-"):
        return SelectorPart("uuid", _values(text, UUID, "a GPU UUID", "GPU-5a1c2f3e-..."))
    raise ValueError(
        f"{text!r} is not a selector: use cc:8.6, index:0,1, name:*M10* or a GPU UUID "
        "(nvidia-smi -L)"
    )


def parse_selector(text: str) -> GpuSelector:
    if not text:
        raise ValueError("expected a selector such as cc:8.6, index:0,1, name:*M10* or a UUID")
    parts = tuple(_parse_part(part) for part in text.split("+"))
    if len({part.text for part in parts}) != len(parts):
        raise ValueError(f"{text!r} repeats a part")
    return GpuSelector(parts)


def parse_group_name(text: str) -> str:
    if not GROUP_NAME.match(text):
        raise ValueError(
            f"{text!r} is not a group name: 1-32 of a-z, 0-9, '_' and '-', starting with a "
            "letter or digit (it names systemd units, compose services and router backends)"
        )
    return text


def parse_group_spec(text: str) -> GroupSpec:
    """``NAME=SELECTOR``, e.g. ``big=cc:8.6`` or ``small=name:*M10*``."""
    name, equals, selector = text.partition("=")
    if not equals:
        raise ValueError(f"{text!r} is not NAME=SELECTOR (e.g. big=cc:8.6)")
    return GroupSpec(parse_group_name(name), parse_selector(selector))


def select_gpus(spec: GroupSpec, gpus: Sequence[Gpu]) -> tuple[Gpu, ...]:
    """The GPUs of ``gpus`` that ``spec`` selects, in inventory order; every part of the
    selector must match at least one GPU (a typo must not silently give a smaller group)."""
    for part in spec.selector.parts:
        if not any(part.matches(gpu) for gpu in gpus):
            present = "; ".join(
                f"{g.index}: {g.name} cc {g.compute_capability} {g.uuid}" for g in gpus
            )
            raise ConfigurationError(
                f"--group {spec.text}: {part.text} matches no GPU of the inventory",
                hint=f"the inventory has {present or 'no GPUs'}",
            )
    return tuple(gpu for gpu in gpus if spec.selector.matches(gpu))
