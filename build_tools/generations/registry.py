"""The registry of Ollama build generations: rows of ``registry.toml`` plus lookups.

The active registry is the shipped file. :func:`use_registry` swaps it for the duration of a
``with`` block, so a test (or a maintainer trying out the next Ollama generation) can add a row
and a recipe without editing any other module.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from build_tools.errors import ConfigurationError

from .model import CpuFeature, Generation, parse_cpu_features, parse_generation
from .version import OllamaVersion

__all__ = ["Registry", "registry", "use_registry"]


@dataclass(frozen=True)
class Registry:
    generations: tuple[Generation, ...]  # oldest first (by first tag)
    cpu_features: Mapping[str, CpuFeature] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, text: str) -> Registry:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigurationError(f"generation registry is not valid TOML: {error}") from None
        features = parse_cpu_features(data.pop("cpu_features", {}))
        return cls.of((parse_generation(name, row) for name, row in data.items()), features)

    @classmethod
    def of(
        cls,
        rows: Iterator[Generation] | Sequence[Generation],
        cpu_features: Mapping[str, CpuFeature] | None = None,
    ) -> Registry:
        ordered = tuple(sorted(rows, key=lambda g: g.first_tag))
        names = [g.name for g in ordered]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigurationError(f"generation registry: '{duplicates[0]}' is defined twice")
        features = dict(cpu_features or {})
        unknown = sorted(
            {
                feature
                for generation in ordered
                for variants in generation.cpu_variants
                for variant in variants.variants
                for feature in variant.features
            }
            - set(features)
        )
        if unknown and features:
            raise ConfigurationError(f"generation registry: CPU feature '{unknown[0]}' is unknown")
        return cls(ordered, features)

    def with_rows(self, text: str) -> Registry:
        """This registry plus the rows of ``text`` (TOML); a row replaces one of its name."""
        added = Registry.from_toml(text)
        kept = [g for g in self.generations if g.name not in {a.name for a in added.generations}]
        return Registry.of([*kept, *added.generations], {**self.cpu_features, **added.cpu_features})

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.generations)

    def newest(self) -> Generation:
        return self.generations[-1]

    def known_through(self) -> OllamaVersion:
        """The newest release tag the registry's rows are known for (``upstream check``)."""
        return max(g.known_through for g in self.generations)

    def newest_first(self) -> tuple[Generation, ...]:
        return self.generations[::-1]

    def get(self, name: str) -> Generation:
        """The generation called ``name`` (case and spaces ignored), for user input too."""
        wanted = name.strip().upper()
        for generation in self.generations:
            if generation.name == wanted:
                return generation
        raise ConfigurationError(
            f"unknown Ollama generation '{name}'", hint=f"use one of {', '.join(self.names)}"
        )

    def for_version(self, version: OllamaVersion) -> Generation:
        """The generation whose tag range holds ``version`` (the newest one that started at or
        before it: a tag between two ranges belongs to the older generation's successor)."""
        match = self.generations[0]
        for generation in self.generations:
            if generation.first_tag <= version:
                match = generation
        return match


@cache
def _shipped() -> Registry:
    # Next to this module (the package is installed unzipped); importlib.resources would load
    # zipfile and tempfile on every start-up.
    text = (Path(__file__).parent / "registry.toml").read_text()
    return Registry.from_toml(text)


_override: list[Registry] = []


def registry() -> Registry:
    """The active registry: the shipped rows unless :func:`use_registry` is in effect."""
    return _override[-1] if _override else _shipped()


@contextmanager
def use_registry(replacement: Registry) -> Iterator[Registry]:
    """Make ``replacement`` the active registry inside the ``with`` block."""
    _override.append(replacement)
    try:
        yield replacement
    finally:
        _override.pop()
