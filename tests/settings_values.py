"""Settings as a command resolves them: the real parser, the real profile and env handling."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from build_tools.cli.dispatch import resolve_invocation
from build_tools.cli.parser import parse_command_line

__all__ = ["resolved"]


def resolved(command: str, *argv: str, environ: Mapping[str, str] | None = None) -> Any:
    """The settings ``python -m build_tools COMMAND ARGV...`` would run with, in ``environ``
    (default: an empty environment, so the caller's shell never leaks in)."""
    invocation = parse_command_line([*command.split(), *argv])
    settings, _ = resolve_invocation(invocation, dict(environ or {}))
    return settings
