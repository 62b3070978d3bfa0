"""Continuous-integration awareness: GitHub Actions log folding and annotations.

The console calls :func:`log_group` around each step and :func:`annotation` for warnings and
errors; it knows nothing about builds (the build's step summary is ``pipeline.summary``).
Everything here is a no-op off CI, and detection reads the environment at each call (tests and
callers may set ``GITHUB_ACTIONS`` after import).

Workflow commands are recognised on stderr as well as stdout, so the tool's ``--json`` output
on stdout stays clean.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from enum import Enum
from typing import Literal

__all__ = ["CIProvider", "annotation", "detect_ci_provider", "escape_data", "log_group"]


class CIProvider(Enum):
    GITHUB_ACTIONS = "github-actions"


def detect_ci_provider(environ: Mapping[str, str] | None = None) -> CIProvider | None:
    env = os.environ if environ is None else environ
    if env.get("GITHUB_ACTIONS") == "true":
        return CIProvider.GITHUB_ACTIONS
    return None


def escape_data(text: str) -> str:
    # https://github.com/actions/toolkit/blob/main/packages/core/src/command.ts (escapeData):
    # a raw newline would end the command and print the rest as plain log.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(
    level: Literal["error", "warning", "notice"], message: str, *, title: str | None = None
) -> str | None:
    """The ``::error::`` line for ``message`` on GitHub Actions, else None."""
    if detect_ci_provider() is None:
        return None
    props = "" if title is None else f" title={_escape_property(title)}"
    return f"::{level}{props}::{escape_data(message)}"


_open_groups: list[str] = []  # GitHub cannot nest groups: only the outermost step folds


@contextmanager
def log_group(title: str, write: Callable[[str], None]) -> Iterator[None]:
    """Fold everything ``write`` prints inside into one collapsible ``::group::`` section."""
    fold = not _open_groups and detect_ci_provider() is CIProvider.GITHUB_ACTIONS
    if fold:
        write(f"::group::{escape_data(title)}")
    _open_groups.append(title)
    try:
        yield
    finally:
        _open_groups.pop()
        if fold:
            write("::endgroup::")
