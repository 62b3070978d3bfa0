"""``patches list|check``: the shipped patch series, and a dry run of applying them to a tree."""

from __future__ import annotations

from typing import Any

from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.errors import PatchError, SourceError
from build_tools.generations import Generation, OllamaVersion, generation_for_version
from build_tools.patching import (
    PREVIEW_CONTEXT,
    PatchState,
    Selection,
    Series,
    applicability,
    check_patches,
    load_all_series,
    render_series,
    select_series,
)
from build_tools.paths import default_cache_dir
from build_tools.pipeline.inputs import checkout_of, using_workdir
from build_tools.settings.commands import PatchesCheckSettings, PatchesListSettings
from build_tools.source.checkout import Checkout
from build_tools.source.ollama_tree import read_tree

__all__ = ["run_check", "run_list"]


def _status(series: Series, generation: Generation | None, version: OllamaVersion | None) -> str:
    if version is None and generation is None:
        return "default" if series.default else "opt-in"
    if not applicability(series, generation, version).applies:
        return "not for this ref"
    return "default (automatic)" if series.default else f"opt-in (--patch {series.name})"


def run_list(settings: PatchesListSettings, context: Context) -> int:
    version = OllamaVersion.parse(settings.ref) if settings.ref else None
    generation = generation_for_version(version) if version is not None else None
    rows: list[dict[str, Any]] = []
    for series in load_all_series():
        gens = "/".join(series.generations)
        reason = (
            applicability(series, generation, version).reason
            if version is not None
            else f"{gens} {series.range_text}"
        )
        rows.append(
            {
                **series.to_json(),
                "status": _status(series, generation, version),
                "reason": reason,
            }
        )
    if context.json:
        print_json(
            {
                "ref": None if version is None else str(version),
                "generation": None if generation is None else generation.name,
                "series": rows,
            }
        )
        return 0
    title = "Patch series" if version is None else f"Patch series for {version} ({generation})"
    reporter.table(
        title,
        ["series", "status", "target", "why", "what"],
        [Row([r["name"], r["status"], r["target"], r["reason"], r["description"]]) for r in rows],
    )
    return 0


def _selection(
    settings: PatchesCheckSettings, generation: Generation, version: OllamaVersion | None
) -> list[Selection]:
    available = load_all_series()
    wanted, refused = settings.patches.patch, settings.patches.no_patch
    chosen = select_series(available, generation, version, wanted, refused)
    if not settings.all:
        return chosen
    names = {s.series.name for s in chosen}
    for series in available:
        fit = applicability(series, generation, version)
        if series.name not in names and series.name not in refused and fit.applies:
            chosen.append(Selection(series=series, reason=f"--all: {fit.reason}"))
    return sorted(chosen, key=lambda s: s.series.name)


def run_check(settings: PatchesCheckSettings, context: Context) -> int:
    runner = context.runner
    workdir = (settings.workdir.workdir or default_cache_dir(context.environ) / "work").resolve()
    with using_workdir(workdir, runner):
        return _check(settings, context, checkout_of(settings.source, workdir, runner))


def _check(settings: PatchesCheckSettings, context: Context, checkout: Checkout) -> int:
    runner = context.runner
    if not checkout.fetched:
        raise SourceError(
            f"dry run: {checkout.url} is not fetched yet, and checking patches needs the tree",
            hint="run it without --dry-run: it changes nothing but the checkout in the cache",
        )
    tree = read_tree(checkout.root)
    version = OllamaVersion.from_describe(checkout.describe)
    selection = _selection(settings, tree.generation, version)
    results: list[dict[str, Any]] = []
    conflicts = []
    for chosen in selection:
        patches = render_series(chosen.series, PREVIEW_CONTEXT, version)
        # Series are checked one by one (each against the unpatched tree) so that one series'
        # conflict does not hide the state of the next.
        for check in check_patches(checkout.root, patches, runner):
            if check.state is PatchState.CONFLICT:
                conflicts.append(check)
            conflict = check.conflict
            results.append(
                {
                    "series": chosen.series.name,
                    "patch": check.patch.name,
                    "state": check.state.value,
                    "why": chosen.reason,
                    "file": None if conflict is None else conflict.file,
                    "hunk": None if conflict is None else conflict.hunk,
                    "detail": None if conflict is None else conflict.detail,
                }
            )
    where = f"{checkout.root} ({checkout.describe}, {tree.generation})"
    if context.json:
        print_json({"tree": str(checkout.root), "describe": checkout.describe, "patches": results})
    elif not results:
        reporter.info(f"no patch series apply to {where}")
    else:
        reporter.table(
            f"Patch check against {where}",
            ["series", "patch", "result", "detail"],
            [
                Row(
                    [r["series"], r["patch"], r["state"], _detail(r)],
                    style="red" if r["state"] == PatchState.CONFLICT.value else None,
                )
                for r in results
            ],
        )
    if conflicts:
        first = conflicts[0]
        detail = first.conflict.describe() if first.conflict else "conflict"
        raise PatchError(
            f"{len(conflicts)} patch(es) would not apply, first {first.patch.label}: {detail}",
            series=first.patch.series,
            patch=first.patch.name,
            file=first.conflict.file if first.conflict else None,
            hunk=first.conflict.hunk if first.conflict else None,
            hint="the tree was not changed; check --ref, or leave the series out with --no-patch",
        )
    return 0


def _detail(row: dict[str, Any]) -> str:
    """Where a conflict is, else why the series was selected."""
    if row["detail"] is None:
        return str(row["why"])
    return " ".join(str(row[k]) for k in ("file", "hunk", "detail") if row[k])
