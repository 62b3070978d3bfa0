"""Argument parsing and dispatch. Commands live in ``build_tools.commands``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from build_tools import __version__
from build_tools.cli.commands import (
    build,
    detect,
    inspect,
    patches,
    plan,
    render,
    reproducible,
    toolkit,
    verify,
)

__all__ = ["DEFAULT_COMMAND", "build_parser", "normalise_argv", "parse_args"]

DEFAULT_COMMAND = "build"
COMMANDS = (build, detect, inspect, patches, plan, render, reproducible, toolkit, verify)

DESCRIPTION = """\
Build Ollama whose CUDA code covers exactly the GPUs you want it to use.

Without a command, `build` runs: python -m build_tools --exclude-arch 50
detects the GPUs, plans CMAKE_CUDA_ARCHITECTURES without sm_50, and builds."""

EPILOG = """\
pipeline: detect -> plan -> source -> patch -> configure/build -> package -> audit

exit codes: 0 ok, 1 internal error, 2 usage/configuration, 3 plan cannot be built,
4 inventory file unreadable, 5 required program missing, 6 CUDA toolkit problem,
7 audit: compiled code differs from the plan, 8 unreadable source/library/archive,
9 generation not supported yet, 10 a build command failed, 11 a patch does not apply,
13 verify: the built Ollama failed to run or used other GPUs than planned,
14 verify-reproducible: two builds of the same inputs differ, 130 interrupted.
"""


def build_parser() -> tuple[argparse.ArgumentParser, list[str]]:
    """The parser and the names of its commands."""
    parser = argparse.ArgumentParser(
        prog="python -m build_tools",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks and every probe command"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="more detail on stderr")
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="print every command with its directory and environment changes; change nothing",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS:
        module.register(subparsers)
    return parser, list(subparsers.choices)


def parse_args(argv: Sequence[str]) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser, commands = build_parser()
    return parser, parser.parse_args(normalise_argv(argv, commands))


GLOBAL_FLAGS = {"--debug", "-v", "--verbose", "-q", "--quiet", "--dry-run"}


def normalise_argv(argv: Sequence[str], commands: Sequence[str]) -> list[str]:
    """Insert the default command when none is named.

    ``python -m build_tools --exclude-arch 50`` means ``build --exclude-arch 50``.
    """
    args = list(argv)
    position = 0
    while position < len(args) and args[position] in GLOBAL_FLAGS:
        position += 1
    rest = args[position:]
    if not rest or rest[0] in commands or rest[0] in {"-h", "--help", "--version"}:
        return args
    return [*args[:position], DEFAULT_COMMAND, *rest]
