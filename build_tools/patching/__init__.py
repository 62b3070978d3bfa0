"""Patch series: versioned, templated, atomic changes to the Ollama source before a build.

``patches/<series>/series.toml`` declares a series (see :mod:`.series`); :mod:`.select` picks
the ones a tree gets, :mod:`.render` renders ``.patch.j2`` templates with the plan,
:mod:`.apply` applies them all-or-nothing, :mod:`.stamp` marks the result as ours, and
:mod:`.for_build` is what the build command calls.
"""

from __future__ import annotations

from build_tools.patching.apply import (
    Conflict,
    PatchCheck,
    PatchState,
    apply_patches,
    check_patches,
)
from build_tools.patching.for_build import (
    AppliedPatch,
    apply_for_build,
    apply_selection,
    closes_validation_hole,
)
from build_tools.patching.render import (
    PREVIEW_CONTEXT,
    RenderedPatch,
    render_series,
    template_context,
)
from build_tools.patching.select import Applicability, Selection, applicability, select_series
from build_tools.patching.series import Series, load_all_series, load_series, shipped_series_dir
from build_tools.source.stamp import changes_are_ours, forget_applied_patches, read_stamp

__all__ = [
    "PREVIEW_CONTEXT",
    "Applicability",
    "AppliedPatch",
    "Conflict",
    "PatchCheck",
    "PatchState",
    "RenderedPatch",
    "Selection",
    "Series",
    "applicability",
    "apply_for_build",
    "apply_patches",
    "apply_selection",
    "changes_are_ours",
    "check_patches",
    "closes_validation_hole",
    "forget_applied_patches",
    "load_all_series",
    "load_series",
    "read_stamp",
    "render_series",
    "select_series",
    "shipped_series_dir",
    "template_context",
]
