"""``patches list|check``: the shipped patch series, and a dry run of applying them to a tree."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from build_tools.cli.commands.common import checkout_from_args, print_json
from build_tools.console import Row, reporter
from build_tools.errors import PatchError
from build_tools.generations import Generation, OllamaVersion, generation_for_version
from build_tools.patching import (
    PREVIEW_CONTEXT,
    PatchState,
    Selection,
    Series,
    add_patch_arguments,
    applicability,
    check_patches,
    load_all_series,
    render_series,
    select_series,
)
from build_tools.paths import default_cache_dir
from build_tools.recipes import read_tree
from build_tools.runner import Runner
from build_tools.source.checkout import DEFAULT_REF, DEFAULT_SOURCE

__all__ = ["register"]

DESCRIPTION = """\
Patch series are small changes to the Ollama source that build flags cannot make: a default
series is applied automatically to the releases it was written for, an opt-in one only with
`build --patch NAME`. Every patch is checked before it is applied, already applied ones are
skipped, and a patch that does not apply leaves the tree exactly as it was."""

EPILOG = """\
examples:
  python -m build_tools patches list
  python -m build_tools patches list --ref v0.13.0          # what a build of v0.13.0 gets
  python -m build_tools patches check --ref v0.13.0
  python -m build_tools patches check --source-dir ~/src/ollama --patch gpu-reservation
  python -m build_tools patches check --ref v0.24.0 --all --json

`check` never changes the tree: it applies the series to a scratch copy of the files they touch
(templates rendered with placeholder values; a build renders them with its plan)."""


def _status(series: Series, generation: Generation | None, version: OllamaVersion | None) -> str:
    if version is None and generation is None:
        return "default" if series.default else "opt-in"
    if not applicability(series, generation, version).applies:
        return "not for this ref"
    return "default (automatic)" if series.default else f"opt-in (--patch {series.name})"


def run_list(args: argparse.Namespace, runner: Runner) -> int:
    del runner
    version = OllamaVersion.parse(args.ref) if args.ref else None
    generation = generation_for_version(version) if version is not None else None
    rows: list[dict[str, Any]] = []
    for series in load_all_series():
        gens = "/".join(g.value for g in series.generations)
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
    if args.json:
        print_json(
            {
                "ref": None if version is None else str(version),
                "generation": None if generation is None else generation.value,
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
    args: argparse.Namespace, generation: Generation, version: OllamaVersion | None
) -> list[Selection]:
    available = load_all_series()
    chosen = select_series(available, generation, version, args.patch, args.no_patch)
    if not args.all:
        return chosen
    names = {s.series.name for s in chosen}
    for series in available:
        fit = applicability(series, generation, version)
        if series.name not in names and series.name not in args.no_patch and fit.applies:
            chosen.append(Selection(series=series, reason=f"--all: {fit.reason}"))
    return sorted(chosen, key=lambda s: s.series.name)


def run_check(args: argparse.Namespace, runner: Runner) -> int:
    workdir = (args.workdir or default_cache_dir() / "work").resolve()
    checkout = checkout_from_args(args, workdir, runner)
    tree = read_tree(checkout.root)
    version = OllamaVersion.from_describe(checkout.describe)
    selection = _selection(args, tree.generation, version)
    results: list[dict[str, Any]] = []
    conflicts = []
    for chosen in selection:
        patches = render_series(chosen.series, PREVIEW_CONTEXT)
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
    if args.json:
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


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "patches",
        help="list the patch series, or check them against an Ollama tree without changing it",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = parser.add_subparsers(dest="patches_command", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="the series, and which apply to a release")
    listing.add_argument("--ref", metavar="TAG", help="show what a build of this release gets")
    listing.add_argument("--json", action="store_true", help="print JSON on stdout")
    listing.set_defaults(func=run_list)

    check = actions.add_parser(
        "check",
        help="dry run: would each selected patch apply, is it already applied, or where does "
        "it conflict (file, hunk)",
    )
    check.add_argument(
        "--source",
        default=DEFAULT_SOURCE,
        metavar="URL|PATH",
        help=f"git URL or local repository (default: {DEFAULT_SOURCE})",
    )
    check.add_argument(
        "--ref", default=DEFAULT_REF, help=f"tag, branch or commit (default: {DEFAULT_REF})"
    )
    check.add_argument(
        "--source-dir", type=Path, metavar="DIR", help="check this existing checkout in place"
    )
    check.add_argument(
        "--workdir", type=Path, help="where the cached checkout lives (default: <cache>/work)"
    )
    check.add_argument(
        "--force", action="store_true", help="discard local changes in the cached checkout"
    )
    add_patch_arguments(check)
    check.add_argument(
        "--all",
        action="store_true",
        help="check every series declared for this release, opt-in ones included",
    )
    check.add_argument("--json", action="store_true", help="print JSON on stdout")
    check.set_defaults(func=run_check)
