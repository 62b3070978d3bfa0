"""``upstream check``: Ollama release tags newer than the registry, and whether any surprises."""

from __future__ import annotations

from build_tools.cli.output import print_json
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.errors import UpstreamSurpriseError
from build_tools.generations import OllamaVersion
from build_tools.paths import default_cache_dir
from build_tools.pipeline.inputs import using_workdir
from build_tools.settings.upstream import UpstreamCheckSettings
from build_tools.upstream import TagReport, UpstreamReport, check_upstream, open_repository

__all__ = ["run_check"]


def run_check(settings: UpstreamCheckSettings, context: Context) -> int:
    runner = context.runner
    workdir = (settings.workdir.workdir or default_cache_dir(context.environ) / "work").resolve()
    since = None if settings.since is None else OllamaVersion.parse(settings.since)
    repository = open_repository(settings.source, workdir, runner)
    if repository.url is None:
        report = check_upstream(repository, since, runner, timeout=settings.timeout)
    else:
        # New tags are fetched into the work directory: one run at a time.
        with using_workdir(workdir, runner):
            report = check_upstream(repository, since, runner, timeout=settings.timeout)
    if context.json:
        print_json(report.to_json())
    else:
        _show(report)
    surprising = report.surprising
    if surprising:
        first = surprising[0]
        raise UpstreamSurpriseError(
            f"{len(surprising)} of {len(report.tags)} new tag(s) surprise this version, first "
            f"{first.tag}: {first.surprises()[0]}",
            hint="see docs/generations.md#adding-a-generation and the patch series' ranges; "
            "the registry's rows and series.toml ranges say what is known",
        )
    return 0


def _series_cell(tag: TagReport) -> str:
    if tag.generation is None:
        return "not checked (tree not recognised)"
    cells = [f"{s.name}: {s.state}" for s in tag.series]
    return "; ".join(cells) or "none for this generation"


def _tree_cell(tag: TagReport) -> str:
    if not tag.recognised:
        return f"{tag.generation or 'unknown'}, expected {tag.expected}"
    pin = f", llama.cpp {tag.llama_cpp}" if tag.llama_cpp else ""
    return f"{tag.generation} (recognised){pin}"


def _stock_cell(tag: TagReport) -> str:
    if not tag.recognised or tag.problem is not None:
        return "not compared"
    changes = tag.stock_changes()
    return "; ".join(changes) if changes else "unchanged"


def _show(report: UpstreamReport) -> None:
    origin = "--since" if report.since_given else "the registry's newest known tag"
    if not report.tags:
        newest = "no release tags" if report.newest is None else f"newest {report.newest}"
        reporter.info(
            f"no release tags after {report.since} ({origin}) in {report.source} ({newest})"
        )
        return
    reporter.table(
        f"Release tags after {report.since} ({origin}) in {report.source}",
        ["tag", "tree", "stock lists", "patch series", "verdict"],
        [
            Row(
                [
                    str(t.tag),
                    _tree_cell(t),
                    _stock_cell(t),
                    _series_cell(t),
                    "SURPRISE" if t.surprises() else "as expected",
                ],
                style="red" if t.surprises() else None,
            )
            for t in report.tags
        ],
    )
    for tag in report.surprising:
        for surprise in tag.surprises():
            reporter.warning(f"{tag.tag}: {surprise}")
