"""The build's entry point: applying the selected series (defaults, ``--patch``, ``--no-patch``).

Called after the tree is read and the arch plan is made (templates need the plan) and before
the validation-hole check (the G4 series closes that hole).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from build_tools.console import reporter
from build_tools.errors import PatchError
from build_tools.generations import OllamaVersion
from build_tools.patching.apply import PatchState, apply_patches
from build_tools.patching.patchfile import parse_patch
from build_tools.patching.render import render_series, template_context
from build_tools.patching.select import Selection, select_series
from build_tools.patching.series import Series, load_all_series
from build_tools.runner import Runner
from build_tools.source.stamp import tree_is_clean_or_ours, write_stamp

if TYPE_CHECKING:
    from pathlib import Path

    from build_tools.planning.arch_plan import ArchPlan
    from build_tools.source.checkout import Checkout
    from build_tools.source.ollama_tree import TreeFacts

__all__ = [
    "AppliedPatch",
    "apply_for_build",
    "apply_selection",
    "closes_validation_hole",
]


@dataclass(frozen=True, kw_only=True)
class AppliedPatch:
    """One patch in effect in the built tree: applied now, or found already applied."""

    name: str
    series: str
    sha256: str  # of the rendered patch text
    already_applied: bool
    closes_validation_hole: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "series": self.series,
            "sha256": self.sha256,
            "already_applied": self.already_applied,
        }


def closes_validation_hole(applied: Sequence[AppliedPatch]) -> bool:
    """True when a patch in effect makes G4 validate CUDA GPUs (see ``_check_hole``)."""
    return any(p.closes_validation_hole for p in applied)


def _check_target(series: Series) -> None:
    if series.target != "ollama":
        raise PatchError(
            f"series {series.name} patches the {series.target} tree, which this version "
            "cannot patch yet",
            series=series.name,
            hint=f"leave it out with --no-patch {series.name}",
        )


def apply_selection(
    root: Path,
    selection: Sequence[Selection],
    context: dict[str, Any],
    runner: Runner,
    version: OllamaVersion | None = None,
) -> list[AppliedPatch]:
    """Render and apply the selected series to ``root`` (a tree at release ``version``)
    atomically, and stamp the result."""
    if not selection:
        return []
    for chosen in selection:
        _check_target(chosen.series)
    by_name = {s.series.name: s.series for s in selection}
    patches = [p for s in selection for p in render_series(s.series, context, version)]
    clean_before = tree_is_clean_or_ours(root, runner)
    checks = apply_patches(root, patches, runner)
    applied = [
        AppliedPatch(
            name=c.patch.name,
            series=c.patch.series,
            sha256=c.patch.sha256,
            already_applied=c.state is PatchState.ALREADY_APPLIED,
            closes_validation_hole=by_name[c.patch.series].closes_validation_hole,
        )
        for c in checks
    ]
    # New files are untracked, so `git diff` cannot vouch for them; the stamp hashes them.
    created = [f.path for c in checks for f in parse_patch(c.patch.text) if f.old_path is None]
    write_stamp(
        root,
        runner,
        patches=[p.to_json() for p in applied],
        created=created,
        clean_before=clean_before,
    )
    for patch in applied:
        state = "already applied" if patch.already_applied else "applied"
        reporter.info(f"patch {patch.series}/{patch.name}: {state} (sha256 {patch.sha256[:12]})")
    return applied


def apply_for_build(
    checkout: Checkout,
    tree: TreeFacts,
    plan: ArchPlan,
    *,
    requested: tuple[str, ...],
    refused: tuple[str, ...],
    runner: Runner,
) -> list[AppliedPatch]:
    """Apply the default series for this tree plus ``requested`` minus ``refused``."""
    version = OllamaVersion.from_describe(checkout.describe)
    selection = select_series(load_all_series(), tree.generation, version, requested, refused)
    if not selection:
        return []
    names = ", ".join(s.series.name for s in selection)
    with reporter.step(f"Apply patch series: {names}"):
        for chosen in selection:
            reporter.info(f"{chosen.series.name}: {chosen.reason}")
        return apply_selection(checkout.root, selection, template_context(plan), runner, version)
