"""Continuous-integration awareness: GitHub Actions log folding, annotations, step summary.

The console calls :func:`log_group` around each step and :func:`annotation` for warnings and
errors; the build calls :func:`write_build_summary` when it finished. Everything here is a
no-op off CI, and detection reads the environment at each call (tests and callers may set
``GITHUB_ACTIONS`` after import).

Workflow commands are recognised on stderr as well as stdout, so the tool's ``--json`` output
on stdout stays clean.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from build_tools.build_plan import BuildPlan
    from build_tools.package import PackageResult
    from build_tools.settings import ResolvedOptions

__all__ = [
    "CIProvider",
    "annotation",
    "build_summary",
    "detect_ci_provider",
    "log_group",
    "write_build_summary",
]


class CIProvider(Enum):
    GITHUB_ACTIONS = "github-actions"


def detect_ci_provider(environ: Mapping[str, str] | None = None) -> CIProvider | None:
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true":
        return CIProvider.GITHUB_ACTIONS
    return None


def _escape_data(text: str) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData):
    # a raw newline would end the command and print the rest as plain log.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: Literal["error", "warning", "notice"], message: str, *, title: str | None = None
) -> str | None:
    """The ``::error::`` line for ``message`` on GitHub Actions, else None."""
    if detect_ci_provider() is None:
        return None
    props = "" if title is None else f" title={_escape_property(title)}"
    return f"::{level}{props}::{_escape_data(message)}"


_open_groups: list[str] = []  # GitHub cannot nest groups: only the outermost step folds


@contextmanager
def log_group(title: str, write: Callable[[str], None]) -> Iterator[None]:
    """Fold everything ``write`` prints inside into one collapsible ``::group::`` section."""
    fold = not _open_groups and detect_ci_provider() is CIProvider.GITHUB_ACTIONS
    if fold:
        write(f"::group::{_escape_data(title)}")
    _open_groups.append(title)
    try:
        yield
    finally:
        _open_groups.pop()
        if fold:
            write("::endgroup::")


# --- step summary ----------------------------------------------------------------------------
def _size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _staging_rows(staging: Path) -> list[tuple[str, int, str]]:
    """(path, size, sha256) of the regular files of an unpackaged staging tree."""
    rows = []
    for path in sorted(staging.rglob("*")):
        if path.is_file() and not path.is_symlink():
            rows.append((path.relative_to(staging).as_posix(), path.stat().st_size, _sha256(path)))
    return rows


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def build_summary(
    plan: BuildPlan,
    package: PackageResult | None = None,
    options: ResolvedOptions | None = None,
) -> str:
    """Markdown for ``$GITHUB_STEP_SUMMARY``: artifacts (size, sha256), archs, GPUs, options."""
    arch_plan = plan.arch_plan
    profile = (
        "" if options is None or options.profile is None else f" (profile `{options.profile}`)"
    )
    lines = [
        f"## Ollama {plan.checkout.version}: CUDA {plan.toolkit.version}, "
        f"`{arch_plan.cuda_architectures}`{profile}",
        "",
        f"Source `{plan.checkout.ref}` at `{plan.checkout.commit}`, "
        f"build generation {plan.tree.generation.value}.",
        "",
    ]
    if package is not None and package.artifacts:
        lines += ["| artifact | size | sha256 |", "| --- | ---: | --- |"]
        lines += [
            f"| `{_cell(a.path.name)}` | {_size(a.size)} | `{a.sha256}` |"
            for a in package.artifacts
        ]
    else:
        lines += [f"Not packaged; the staging tree `{plan.staging_dir}` holds:", ""]
        lines += ["| file | size | sha256 |", "| --- | ---: | --- |"]
        lines += [
            f"| `{_cell(name)}` | {_size(size)} | `{sha}` |"
            for name, size, sha in _staging_rows(plan.staging_dir)
        ]
    lines += ["", "| arch | SASS | PTX |", "| --- | --- | --- |"]
    lines += [
        f"| {a.name} | {'yes' if a.sass else '-'} | {'yes' if a.ptx else '-'} |"
        for a in arch_plan.archs
    ]
    if arch_plan.coverage:
        lines += ["", "| # | GPU | cc | Ollama | why |", "| --- | --- | --- | --- | --- |"]
        lines += [
            f"| {c.gpu.index} | {_cell(c.gpu.name)} | {c.gpu.compute_capability} | "
            f"{'uses' if c.ollama_uses else 'skips'} | {_cell(c.reason)} |"
            for c in arch_plan.coverage
        ]
    if options is not None:
        lines += ["", "<details><summary>Options</summary>", ""]
        lines += ["| option | value | source |", "| --- | --- | --- |"]
        lines += [
            f"| `{o.key}` | {_cell(str(o.value))} | {o.source.value} |"
            for o in options.options
            if o.value not in (None, False, [])
        ]
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def write_build_summary(
    plan: BuildPlan,
    package: PackageResult | None = None,
    options: ResolvedOptions | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path | None:
    """Append :func:`build_summary` to ``$GITHUB_STEP_SUMMARY`` on GitHub Actions."""
    env = os.environ if environ is None else environ
    target = env.get("GITHUB_STEP_SUMMARY")
    if detect_ci_provider(env) is None or not target:
        return None
    path = Path(target)
    with path.open("a", encoding="utf-8") as stream:
        stream.write(build_summary(plan, package, options))
    return path
