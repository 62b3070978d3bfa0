"""Which series a tree gets: defaults for its generation and release, plus --patch, minus
--no-patch.

A default series is chosen only when the tree's generation is one it was written for and its
release (from ``git describe``) lies in the declared range; an unknown release gets no default
series, because applying a patch outside the range it was checked for is a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.generations import Generation, OllamaVersion
from build_tools.patching.series import Series

__all__ = ["Applicability", "Selection", "applicability", "select_series"]


@dataclass(frozen=True, kw_only=True)
class Applicability:
    applies: bool  # generation and release match the series' declaration
    reason: str


@dataclass(frozen=True, kw_only=True)
class Selection:
    series: Series
    reason: str


def applicability(
    series: Series, generation: Generation | None, version: OllamaVersion | None
) -> Applicability:
    gens = "/".join(series.generations)
    if generation is not None and generation.name not in series.generations:
        return Applicability(applies=False, reason=f"written for {gens}, this is {generation}")
    if version is None:
        return Applicability(
            applies=False, reason=f"release unknown; declared for {series.range_text}"
        )
    if not series.covers(version):
        return Applicability(applies=False, reason=f"{version} is outside {series.range_text}")
    return Applicability(applies=True, reason=f"{version} is within {series.range_text}")


def _check_names(available: Sequence[Series], names: Sequence[str], option: str) -> None:
    known = {s.name for s in available}
    for name in names:
        if name not in known:
            raise ConfigurationError(
                f"{option} {name}: no such patch series",
                hint="known series: "
                + (", ".join(sorted(known)) or "none")
                + " (python -m build_tools patches list)",
            )


def select_series(
    available: Sequence[Series],
    generation: Generation,
    version: OllamaVersion | None,
    requested: Sequence[str] = (),
    refused: Sequence[str] = (),
) -> list[Selection]:
    """The series to apply, in application (name) order, each with why it was chosen."""
    _check_names(available, requested, "--patch")
    _check_names(available, refused, "--no-patch")
    both = sorted(set(requested) & set(refused))
    if both:
        raise ConfigurationError(
            f"{', '.join(both)} given with both --patch and --no-patch", hint="pick one"
        )
    chosen: list[Selection] = []
    for series in available:
        if series.name in refused:
            continue
        fit = applicability(series, generation, version)
        if series.name in requested:
            if generation.name not in series.generations:
                raise ConfigurationError(
                    f"--patch {series.name}: {fit.reason}",
                    hint="this series patches code that only exists in those generations",
                )
            if not fit.applies:
                reporter.warning(
                    f"--patch {series.name}: {fit.reason}; it was not checked for this "
                    "release, so it is applied only if every hunk matches"
                )
            chosen.append(Selection(series=series, reason=f"requested with --patch; {fit.reason}"))
        elif series.default and fit.applies:
            chosen.append(Selection(series=series, reason=f"default: {fit.reason}"))
    return chosen
