"""``verify-reproducible``: two clean builds of the same inputs, compared byte for byte."""

from __future__ import annotations

import shutil
from dataclasses import replace

from build_tools.cli.commands.build import release_defaults
from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.errors import ConfigurationError, NotReproducibleError
from build_tools.pipeline.prepare import workdir_of
from build_tools.pipeline.reproducible import Comparison, FileFacts, compare_builds
from build_tools.pipeline.summary import write_build_summary
from build_tools.settings.commands import ReproducibleSettings
from build_tools.settings.declare import Source

__all__ = ["run"]


def _show(comparison: Comparison) -> None:
    counts, differences = comparison.counts, comparison.differences
    if not differences:
        reporter.info(
            f"identical: {counts['artifact']} artifacts, {counts['staging']} staging files and "
            f"{counts['object']} CUDA objects are byte for byte the same in both builds"
        )
        return

    def cell(facts: FileFacts | None, field: str) -> str:
        if facts is None:
            return "(missing)"
        return str(facts.size) if field == "size" else facts.sha256[:16]

    rows = [
        Row(
            [
                d.scope,
                d.path,
                cell(d.a, "size"),
                cell(d.b, "size"),
                cell(d.a, "sha"),
                cell(d.b, "sha"),
            ]
        )
        for d in differences
    ]
    reporter.table(
        f"{len(differences)} files differ between the two builds",
        ["where", "file", "size A", "size B", "sha256 A", "sha256 B"],
        rows,
    )
    for d in differences:
        if d.cause is not None:
            reporter.info(f"{d.scope} {d.path}: {d.cause}")


def run(settings: ReproducibleSettings, context: Context) -> int:
    if context.runner.dry_run:
        raise ConfigurationError(
            "verify-reproducible builds twice to compare the results; a dry run cannot",
            hint="to see the commands, run `--dry-run build` with the same options",
        )
    build = release_defaults(settings.build, context)
    if context.options.source_of("compiler-cache") is Source.DEFAULT:
        # A compiler cache would hand the second build the first one's objects and hide
        # every non-deterministic compile; an explicit --compiler-cache is respected.
        build = replace(build, compile=replace(build.compile, compiler_cache="none"))
    base = (
        workdir_of(build)
        if build.workdir.workdir is not None
        else (build.toolkit.cache.cache_dir / "reproducible").resolve()
    )
    comparison = compare_builds(build, base, context.runner)
    for result in comparison.builds:  # GitHub Actions: $GITHUB_STEP_SUMMARY, per build
        write_build_summary(result, context.options, context.environ)
    if context.json:
        print_json(comparison.to_json())
    else:
        _show(comparison)
    if comparison.differences:
        first = comparison.differences[0]
        why_not = comparison.not_path_independent()
        paths = (
            ""
            if why_not is None
            else f"; the builds were not path-independent ({why_not}), so the work directories' "
            "paths can be the cause: builds at one fixed path can still agree"
        )
        raise NotReproducibleError(
            f"the two builds differ in {len(comparison.differences)} files (first: {first.path})",
            hint=f"both are kept in {comparison.root}; compare them with diffoscope{paths}",
        )
    if settings.keep_workdirs:
        reporter.info(f"both builds are kept in {comparison.root}")
    else:
        shutil.rmtree(comparison.root)
    return 0
