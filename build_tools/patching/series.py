"""Patch series on disk: ``patches/<series>/series.toml`` plus ordered ``NNNN-name.patch[.j2]``.

A series says what it patches (the Ollama tree, or a llama.cpp tree), for which build
generations and which Ollama release range it was written and checked, and whether it is applied
by default in that range or only on request (``--patch NAME``).

Where the code to patch differs between releases, one series holds one patch per shape of the
code, each with its own range in a ``[patch."NNNN-name.patch"]`` table; patches without such a
table apply to every release of the series. A release that no ranged patch covers is outside the
series, even inside its overall ``first_tag``..``last_tag``.

The shipped series live in the top-level ``patches/`` directory of the source checkout; an
installed wheel carries the same files as the data package ``build_tools.patch_series``.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from build_tools.errors import ConfigurationError, PatchError
from build_tools.generations import OllamaVersion, registry

__all__ = [
    "PATCH_FILE",
    "PatchRange",
    "Series",
    "load_all_series",
    "load_series",
    "shipped_series_dir",
]

Target = Literal["ollama", "llama.cpp"]
TARGETS: tuple[Target, ...] = ("ollama", "llama.cpp")
# Four digits fix the order; `.j2` marks a Jinja2 template rendered with the build plan.
PATCH_FILE = re.compile(r"^\d{4}-[A-Za-z0-9._-]+\.patch(?:\.j2)?$")
METADATA = "series.toml"


@dataclass(frozen=True, kw_only=True)
class PatchRange:
    """The releases one patch of a series is for (both ends inclusive)."""

    file: str
    first_tag: OllamaVersion
    last_tag: OllamaVersion

    def covers(self, version: OllamaVersion) -> bool:
        return self.first_tag <= version <= self.last_tag

    @property
    def text(self) -> str:
        return f"{self.first_tag} .. {self.last_tag}"


@dataclass(frozen=True, kw_only=True)
class Series:
    name: str
    description: str
    target: Target
    default: bool  # applied automatically for trees in range; else only with --patch
    generations: tuple[str, ...]  # names of the generations it was written for
    first_tag: OllamaVersion | None  # inclusive range the series was written and checked for
    last_tag: OllamaVersion | None
    closes_validation_hole: bool  # makes G4 validate CUDA GPUs (ml/device.go)
    directory: Path
    files: tuple[Path, ...]  # in application order
    ranges: tuple[PatchRange, ...] = ()  # patches written for part of the range only

    def covers(self, version: OllamaVersion) -> bool:
        """True when ``version`` lies in the declared tag range (open ends allowed) and, if
        some patches are ranged, in one of their ranges."""
        if self.first_tag is not None and version < self.first_tag:
            return False
        if self.last_tag is not None and version > self.last_tag:
            return False
        return not self.ranges or any(r.covers(version) for r in self.ranges)

    def files_for(self, version: OllamaVersion | None) -> tuple[Path, ...]:
        """The patches a tree at ``version`` gets: every unranged one, and the ranged ones
        covering it. A series with ranged patches needs the release to choose them; a release
        past the newest (or before the oldest) range gets that range's patches, as `--patch`
        outside the declared range tries them (applied only if every hunk matches)."""
        if not self.ranges:
            return self.files
        ranged = {r.file: r for r in self.ranges}
        known = ", ".join(f"{r.file} for {r.text}" for r in self.ranges)
        if version is not None and not any(r.covers(version) for r in self.ranges):
            newest = max(r.last_tag for r in self.ranges)
            oldest = min(r.first_tag for r in self.ranges)
            nearest = newest if version > newest else oldest if version < oldest else None
            if nearest is not None:
                version = nearest
        if version is None or not any(r.covers(version) for r in self.ranges):
            what = "the release is unknown" if version is None else f"none is for {version}"
            raise PatchError(
                f"series {self.name} has one patch per range of releases and {what}",
                series=self.name,
                hint=f"its patches: {known}; build a release tag in one of those ranges, "
                f"or leave the series out with --no-patch {self.name}",
            )
        return tuple(
            f for f in self.files if f.name not in ranged or ranged[f.name].covers(version)
        )

    @property
    def range_text(self) -> str:
        if self.ranges:
            return ", ".join(sorted({r.text for r in self.ranges}, key=_range_start))
        first = str(self.first_tag) if self.first_tag else "any"
        last = str(self.last_tag) if self.last_tag else "newest"
        return f"{first} .. {last}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "target": self.target,
            "default": self.default,
            "generations": list(self.generations),
            "first_tag": None if self.first_tag is None else str(self.first_tag),
            "last_tag": None if self.last_tag is None else str(self.last_tag),
            "closes_validation_hole": self.closes_validation_hole,
            "patches": [f.name for f in self.files],
            "patch_ranges": {r.file: r.text for r in self.ranges},
        }


def _range_start(text: str) -> OllamaVersion:
    return OllamaVersion.parse(text.split(" ", 1)[0])


def shipped_series_dir() -> Path:
    """Where the shipped series are: the wheel's data package, else the source checkout."""
    spec = importlib.util.find_spec("build_tools.patch_series")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(__file__).resolve().parents[2] / "patches"


def _fail(path: Path, problem: str) -> ConfigurationError:
    return ConfigurationError(
        f"patch series metadata {path}: {problem}",
        hint="see README 'Patch series' for the series.toml format",
    )


def _tag(data: dict[str, Any], key: str, path: Path) -> OllamaVersion | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _fail(path, f"'{key}' must be a release tag string such as \"v0.13.0\"")
    try:
        return OllamaVersion.parse(value)
    except ConfigurationError as error:
        raise _fail(path, f"'{key}': {error.message}") from None


def _ranges(
    data: dict[str, Any],
    path: Path,
    files: tuple[Path, ...],
    first: OllamaVersion | None,
    last: OllamaVersion | None,
) -> tuple[PatchRange, ...]:
    tables = data.get("patch", {})
    if not isinstance(tables, dict):
        raise _fail(path, "'patch' must hold one table per ranged patch file")
    names = {f.name for f in files}
    ranges = []
    for name, table in sorted(tables.items()):
        if name not in names:
            raise _fail(path, f"[patch.{name!r}] names no patch file of the series")
        if not isinstance(table, dict) or set(table) - {"first_tag", "last_tag"}:
            raise _fail(path, f"[patch.{name!r}] may only set first_tag and last_tag")
        low, high = _tag(table, "first_tag", path), _tag(table, "last_tag", path)
        if low is None or high is None or high < low:
            raise _fail(path, f"[patch.{name!r}] needs first_tag <= last_tag")
        if (first is not None and low < first) or (last is not None and high > last):
            raise _fail(path, f"[patch.{name!r}] reaches outside the series' tag range")
        ranges.append(PatchRange(file=name, first_tag=low, last_tag=high))
    return tuple(ranges)


def load_series(directory: Path) -> Series:
    """Read one series directory; every problem is reported with the file it is in."""
    path = directory / METADATA
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise _fail(path, str(error)) from None
    target = data.get("target", "ollama")
    if target not in TARGETS:
        raise _fail(path, f"target must be one of {', '.join(TARGETS)}, not {target!r}")
    description = data.get("description")
    if not isinstance(description, str) or not description:
        raise _fail(path, "'description' is required")
    default = data.get("default", False)
    if not isinstance(default, bool):
        raise _fail(path, "'default' must be true or false")
    raw_generations = data.get("generations", [])
    if not isinstance(raw_generations, list) or not raw_generations:
        raise _fail(path, "'generations' must list the generations it applies to, e.g. [\"G4\"]")
    try:
        generations = tuple(registry().get(str(g)).name for g in raw_generations)
    except ConfigurationError as error:
        raise _fail(path, error.message) from None
    files = tuple(sorted(p for p in directory.iterdir() if PATCH_FILE.match(p.name)))
    if not files:
        raise _fail(path, "the series has no NNNN-name.patch or NNNN-name.patch.j2 files")
    first, last = _tag(data, "first_tag", path), _tag(data, "last_tag", path)
    if first is not None and last is not None and last < first:
        raise _fail(path, f"last_tag {last} is before first_tag {first}")
    ranges = _ranges(data, path, files, first, last)
    return Series(
        name=directory.name,
        description=description,
        target=target,
        default=default,
        generations=generations,
        first_tag=first,
        last_tag=last,
        closes_validation_hole=bool(data.get("closes_validation_hole", False)),
        directory=directory,
        files=files,
        ranges=ranges,
    )


def _load_dir(root: Path) -> tuple[Series, ...]:
    if not root.is_dir():
        raise ConfigurationError(
            f"no patch series directory at {root}",
            hint="reinstall ollama-build-tools; the wheel ships them as build_tools/patch_series",
        )
    return tuple(
        load_series(d) for d in sorted(root.iterdir()) if d.is_dir() and (d / METADATA).is_file()
    )


def load_all_series(root: Path | None = None) -> tuple[Series, ...]:
    """Every series under ``root`` (default: the shipped ones), sorted by name.

    Name order is application order across series; series that touch the same file must be
    named so that this order is the right one.
    """
    return _load_dir((root or shipped_series_dir()).resolve())
