"""The build's GitHub Actions step summary: artifacts (size, sha256), archs, GPUs, options.

Written to ``$GITHUB_STEP_SUMMARY`` when a complete build ran on GitHub Actions.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from build_tools.ci import detect_ci_provider
from build_tools.files import format_size, sha256_file
from build_tools.pipeline.run import BuildResult
from build_tools.planning.arch_plan import ArchPlan
from build_tools.planning.driver import driver_notices
from build_tools.settings.declare import ResolvedOptions

__all__ = ["build_summary", "write_build_summary"]


def _staging_rows(staging: Path) -> list[tuple[str, int, str]]:
    """(path, size, sha256) of the regular files of an unpackaged staging tree."""
    rows = []
    for path in sorted(staging.rglob("*")):
        if path.is_file() and not path.is_symlink():
            rows.append(
                (path.relative_to(staging).as_posix(), path.stat().st_size, sha256_file(path))
            )
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _driver_line(arch_plan: ArchPlan) -> str:
    """Why the toolkit is what it is, as ``plan`` says it (planning.driver.driver_notices)."""
    said = driver_notices(arch_plan.cuda_version, arch_plan.archs, arch_plan.request.driver)
    return "Driver: " + _cell(" ".join(said))


def _reuse_lines(result: BuildResult) -> list[str]:
    """What this build did not do again: the compiler cache's hits and the skipped steps."""
    lines = []
    cache = result.compiler_cache
    if cache is not None and cache.get("build") is not None:
        build = cache["build"]
        rate = "-" if build["hit_rate"] is None else f"{build['hit_rate']:.0%}"
        lines += [
            "",
            f"Compiler cache ({cache['program']}): {build['hits']} hits, {build['misses']} "
            f"misses, hit rate {rate}.",
        ]
    if result.skipped:
        names = ", ".join(f"`{s.name}`" for s in result.skipped)
        lines += ["", f"Unchanged, not run again: {names}."]
    return lines


def build_summary(result: BuildResult, options: ResolvedOptions | None = None) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: artifacts (size, sha256), archs, GPUs, options."""
    plan, package = result.plan, result.package
    arch_plan = plan.arch_plan
    profile = (
        "" if options is None or options.profile is None else f" (profile `{options.profile}`)"
    )
    lines = [
        f"## Ollama {plan.checkout.version}: CUDA {plan.toolkit.version}, "
        f"`{arch_plan.cuda_architectures}`{profile}",
        "",
        f"Source `{plan.checkout.ref}` at `{plan.checkout.commit}`, "
        f"build generation {plan.tree.generation.name}.",
        "",
        _driver_line(arch_plan),
        "",
    ]
    if package is not None and package.artifacts:
        lines += ["| artifact | size | sha256 |", "| --- | ---: | --- |"]
        lines += [
            f"| `{_cell(a.path.name)}` | {format_size(a.size)} | `{a.sha256}` |"
            for a in package.artifacts
        ]
    else:
        lines += [f"Not packaged; the staging tree `{plan.staging_dir}` holds:", ""]
        lines += ["| file | size | sha256 |", "| --- | ---: | --- |"]
        lines += [
            f"| `{_cell(name)}` | {format_size(size)} | `{sha}` |"
            for name, size, sha in _staging_rows(plan.staging_dir)
        ]
    lines += ["", "| arch | SASS | PTX |", "| --- | --- | --- |"]
    lines += [
        f"| {a.name} | {'yes' if a.sass else '-'} | {'yes' if a.ptx else '-'} |"
        for a in arch_plan.archs
    ]
    lines += ["", "| backend | built | archs or reason |", "| --- | --- | --- |"]
    lines += [
        f"| {b.name} | {'yes' if b.enabled else 'no'} | "
        f"{_cell(f'`{b.archs}`' if b.archs else b.reason)} |"
        for b in plan.backends
    ]
    if arch_plan.coverage:
        lines += ["", "| # | GPU | cc | Ollama | why |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {c.gpu.index} | {_cell(c.gpu.name)} | {c.gpu.compute_capability} | "
            f"{'uses' if c.ollama_uses else 'skips'} | {_cell(c.reason)} |"
            for c in arch_plan.coverage
        ]
    lines += _reuse_lines(result)
    if options is not None:
        lines += ["", "<details><summary>Options</summary>", ""]
        lines += ["| option | value | source |", "| --- | --- | --- |"]
        lines += [
            f"| `{o.key}` | {_cell(o.text)} | {o.source.value} |"
            for o in options.options
            if o.value not in (None, False, [], ())
        ]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_build_summary(
    result: BuildResult, options: ResolvedOptions | None, environ: Mapping[str, str]
) -> Path | None:
    """Append :func:`build_summary` to ``$GITHUB_STEP_SUMMARY`` on GitHub Actions."""
    target = environ.get("GITHUB_STEP_SUMMARY")
    if detect_ci_provider(environ) is None or not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(build_summary(result, options))
    return path
