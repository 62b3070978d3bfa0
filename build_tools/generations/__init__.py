"""Ollama's build generations G1-G5 as data: runtime GPU rule, tag ranges, stock arch lists.

The table lives in ``resources/ollama_generations.toml``; this module only reads it. Which
generation a source tree belongs to is decided from its files by the recipes (issue 4); here a
generation is chosen by name or by release tag.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from importlib import resources
from typing import Literal

from build_tools.errors import ConfigurationError

__all__ = [
    "Generation",
    "GenerationInfo",
    "OllamaVersion",
    "RuntimeRule",
    "generation_for_version",
    "generation_info",
]

RuntimeRule = Literal["minimum", "exact"]


class Generation(StrEnum):
    G1 = "G1"
    G2 = "G2"
    G3 = "G3"
    G4 = "G4"
    G5 = "G5"

    @classmethod
    def parse(cls, text: str) -> Generation:
        try:
            return cls(text.strip().upper())
        except ValueError:
            names = ", ".join(g.value for g in cls)
            raise ConfigurationError(
                f"unknown Ollama generation '{text}'", hint=f"use one of {names}"
            ) from None


_TAG = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)(?:-rc(\d+))?$")


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
        match = re.match(r"^v?\d+\.\d+\.\d+(?:-rc\d+)?", describe)
        return cls.parse(match[0]) if match else None

    def __str__(self) -> str:
        base = f"v{self.major}.{self.minor}.{self.patch}"
        return base if self.rc == float("inf") else f"{base}-rc{int(self.rc)}"


@dataclass(frozen=True, kw_only=True)
class Preset:
    since: OllamaVersion
    lists: dict[int, str]  # CUDA major -> stock CMAKE_CUDA_ARCHITECTURES


@dataclass(frozen=True, kw_only=True)
class GenerationInfo:
    generation: Generation
    title: str
    first_tag: OllamaVersion
    last_tag: OllamaVersion | None
    rule: RuntimeRule
    default_min: tuple[int, int] | None
    min_ldflags: bool
    hole: tuple[OllamaVersion, OllamaVersion] | None
    presets: tuple[Preset, ...]

    def stock_list(self, cuda_major: int, ref: OllamaVersion | None = None) -> str | None:
        """The stock list for a CUDA major at ``ref`` (default: the generation's newest)."""
        candidates = [p for p in self.presets if ref is None or p.since <= ref]
        for preset in reversed(candidates):
            if cuda_major in preset.lists:
                return preset.lists[cuda_major]
        return None

    def cuda_majors(self) -> list[int]:
        return sorted({major for p in self.presets for major in p.lists})

    def in_validation_hole(self, ref: OllamaVersion) -> bool:
        return self.hole is not None and self.hole[0] <= ref <= self.hole[1]


def _cc(text: str) -> tuple[int, int]:
    major, minor = text.split(".")
    return int(major), int(minor)


@cache
def _load() -> dict[Generation, GenerationInfo]:
    path = resources.files("build_tools").joinpath("resources/ollama_generations.toml")
    data = tomllib.loads(path.read_text())
    table: dict[Generation, GenerationInfo] = {}
    for gen in Generation:
        row = data[gen.value]
        presets = tuple(
            Preset(
                since=OllamaVersion.parse(p["since"]),
                lists={int(k[4:]): v for k, v in p.items() if k.startswith("cuda")},
            )
            for p in row["presets"]
        )
        hole = None
        if "hole_first_tag" in row:
            hole = (
                OllamaVersion.parse(row["hole_first_tag"]),
                OllamaVersion.parse(row["hole_last_tag"]),
            )
        table[gen] = GenerationInfo(
            generation=gen,
            title=row["title"],
            first_tag=OllamaVersion.parse(row["first_tag"]),
            last_tag=OllamaVersion.parse(row["last_tag"]) if "last_tag" in row else None,
            rule=row["rule"],
            default_min=_cc(row["default_min"]) if "default_min" in row else None,
            min_ldflags=bool(row.get("min_ldflags", False)),
            hole=hole,
            presets=presets,
        )
    return table


def generation_info(generation: Generation) -> GenerationInfo:
    return _load()[generation]


def generation_for_version(version: OllamaVersion) -> Generation:
    """The generation whose tag range holds ``version`` (used when no source tree is at hand:
    planning for a tag, inspecting a binary that records its version)."""
    match = Generation.G1
    for generation in Generation:
        if generation_info(generation).first_tag <= version:
            match = generation
    return match
