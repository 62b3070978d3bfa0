"""The command line, made from the command catalog and the settings' option declarations.

The only place that knows argparse. It turns argv into an :class:`Invocation`: which command,
the options the user actually typed (as raw strings: parsing values is the settings' job, so
the command line and profiles share one parser per option), and the flags about output.
"""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from build_tools import __version__
from build_tools.cli.catalog import COMMANDS, DEFAULT_COMMAND, PIPELINE
from build_tools.cli.spec import Command
from build_tools.errors import EXIT_CODES, ConfigurationError
from build_tools.settings.declare import declared_options
from build_tools.settings.profiles import PROFILES_FILE, did_you_mean

__all__ = ["GLOBAL_FLAGS", "Invocation", "build_parser", "normalise_argv", "parse_command_line"]

PROG = "python -m build_tools"
DESCRIPTION = """\
Build Ollama whose CUDA code covers exactly the GPUs you want it to use.

Without a command, `build` runs: python -m build_tools --exclude-arch 50
detects the GPUs, plans CMAKE_CUDA_ARCHITECTURES without sm_50, and builds."""


def _epilog() -> str:
    codes = ", ".join(f"{code} {meaning.split(' (')[0]}" for code, meaning in EXIT_CODES.items())
    return f"build order: {PIPELINE}\n\n" + textwrap.fill(f"exit codes: {codes}.", width=92) + "\n"


GLOBAL_FLAGS = {"--debug", "-v", "--verbose", "-q", "--quiet", "--dry-run"}
_SUB = "build_tools.command"  # the dest that records which command (and action) was chosen


class _Parser(argparse.ArgumentParser):
    """Usage errors become a ConfigurationError: one line, exit 2, caught in main()."""

    def error(self, message: str) -> NoReturn:
        raise ConfigurationError(message, hint=f"see `{self.prog} --help`")


@dataclass(frozen=True, kw_only=True)
class Invocation:
    path: tuple[Command, ...]  # the command, then its action (toolkit install ...)
    given: dict[str, Any]  # option key -> what was typed (a list for repeatable options)
    json: bool = False
    profile: str | None = None
    profiles_file: Path | None = None
    show_options: bool = False
    debug: bool = False
    verbose: bool = False
    quiet: bool = False
    dry_run: bool = False

    @property
    def command(self) -> Command:
        return self.path[-1]

    @property
    def name(self) -> str:
        return " ".join(c.name for c in self.path)


def _add_options(parser: argparse.ArgumentParser, command: Command) -> None:
    groups: dict[str | None, Any] = {None: parser}
    if (settings := command.settings_type()) is not None:
        for declared in declared_options(settings):
            option = declared.option
            if not option.on_command_line:
                continue
            target = groups.get(declared.group)
            if target is None:
                target = groups[declared.group] = parser.add_argument_group(declared.group)
            kwargs: dict[str, Any] = {"help": option.help, "dest": option.key}
            if option.kind == "positional":
                target.add_argument(option.key, metavar=option.metavar, help=option.help)
                continue
            kwargs["default"] = argparse.SUPPRESS
            if option.kind == "switch":
                kwargs["action"] = "store_true"
            else:
                kwargs["action"] = "append" if option.kind == "list" else "store"
                kwargs["metavar"] = option.metavar
                if option.choices is not None:
                    kwargs["choices"] = option.choices
            target.add_argument(*option.flags, **kwargs)
    if command.profiles:
        profiles = parser.add_argument_group("profiles")
        profiles.add_argument(
            "--profile",
            metavar="NAME",
            help=f"take option values from [profiles.NAME] in ./{PROFILES_FILE} (or "
            "[tool.build_tools.profiles.NAME] in ./pyproject.toml); flags given here override "
            "them",
        )
        profiles.add_argument(
            "--profiles-file",
            type=Path,
            metavar="FILE",
            help=f"read profiles from this TOML file instead of ./{PROFILES_FILE}",
        )
        profiles.add_argument(
            "--show-options",
            action="store_true",
            help="print every resolved option value and where it came from (default, "
            "environment, profile, command line), then stop",
        )
    if command.json:
        parser.add_argument(
            "--json", action="store_true", help="print the result as JSON on stdout"
        )


def _add_command(
    subparsers: Any, command: Command, path: tuple[str, ...], *, with_options: bool
) -> None:
    parser = subparsers.add_parser(
        command.name,
        help=command.help,
        description=command.description or command.help,
        epilog=command.epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    here = (*path, command.name)
    if command.children:
        actions = parser.add_subparsers(
            dest=_SUB + ".".join(here), metavar=command.child_title, required=True
        )
        for child in command.children:
            _add_command(actions, child, here, with_options=with_options)
        return
    parser.set_defaults(**{_SUB: here})
    if with_options:
        _add_options(parser, command)


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with ``only``, the options of that command alone (the others
    are listed, not parsed: a run needs one command's options, and building all costs time)."""
    top_level_help = only is None or only not in {c.name for c in COMMANDS}
    parser = _Parser(
        prog=PROG,
        description=DESCRIPTION,
        # Only `--help` without a command shows it; wrapping it is a measurable part of a run.
        epilog=_epilog() if top_level_help else None,
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
    subparsers = parser.add_subparsers(metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        _add_command(subparsers, command, (), with_options=only in (None, command.name))
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """Insert the default command when none is named: ``python -m build_tools --exclude-arch 50``
    (or nothing at all) means ``build --exclude-arch 50``. A word that is not a command is an
    unknown command, not an argument of ``build``."""
    args = list(argv)
    names = [c.name for c in COMMANDS]
    position = 0
    while position < len(args) and args[position] in GLOBAL_FLAGS:
        position += 1
    rest = args[position:]
    if rest and (rest[0] in names or rest[0] in {"-h", "--help", "--version"}):
        return args
    if rest and not rest[0].startswith("-"):
        raise ConfigurationError(
            f"unknown command '{rest[0]}'",
            hint=did_you_mean(rest[0], names) + f"commands: {', '.join(names)}",
        )
    return [*args[:position], DEFAULT_COMMAND, *rest]


def _find(path: tuple[str, ...]) -> tuple[Command, ...]:
    found: list[Command] = []
    candidates = COMMANDS
    for name in path:
        command = next(c for c in candidates if c.name == name)
        found.append(command)
        candidates = command.children
    return tuple(found)


def _command_word(args: Sequence[str]) -> str | None:
    return next((a for a in args if a not in GLOBAL_FLAGS), None)


def parse_command_line(argv: Sequence[str]) -> Invocation:
    args = normalise_argv(argv)
    namespace = vars(build_parser(only=_command_word(args)).parse_args(args))
    path = _find(namespace.pop(_SUB))
    command = path[-1]
    settings = command.settings_type()
    keys = {d.option.key for d in declared_options(settings)} if settings is not None else set()
    profiles = command.profiles  # else --profile may be a command's own option (render)
    return Invocation(
        path=path,
        given={key: value for key, value in namespace.items() if key in keys},
        json=bool(namespace.get("json", False)),
        profile=namespace.get("profile") if profiles else None,
        profiles_file=namespace.get("profiles_file") if profiles else None,
        show_options=bool(namespace.get("show_options", False)) if profiles else False,
        debug=bool(namespace["debug"]),
        verbose=bool(namespace["verbose"]),
        quiet=bool(namespace["quiet"]),
        dry_run=bool(namespace["dry_run"]),
    )
