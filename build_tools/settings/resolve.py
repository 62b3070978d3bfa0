"""The hook in ``main()``: profile values become parser defaults, then the real parse runs, and
every option's source (default, profile, command line) is recorded for ``--show-options`` and
the CI step summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from build_tools.console import Row, reporter
from build_tools.errors import ConfigurationError
from build_tools.settings.profiles import PROFILES_FILE, find_profiles_file, load_profiles
from build_tools.settings.values import command_parsers, option_actions, profile_values

__all__ = [
    "ResolvedOption",
    "ResolvedOptions",
    "Source",
    "add_profile_arguments",
    "apply_profile",
    "show_options",
]


class Source(StrEnum):
    DEFAULT = "default"
    PROFILE = "profile"
    COMMAND_LINE = "command line"


@dataclass(frozen=True, kw_only=True)
class ResolvedOption:
    key: str  # the long option name, as written in a profile
    value: Any
    source: Source

    def to_json(self) -> dict[str, Any]:
        return {"option": self.key, "value": _jsonable(self.value), "source": self.source.value}


@dataclass(frozen=True, kw_only=True)
class ResolvedOptions:
    command: str
    profile: str | None
    profiles_file: Path | None
    options: tuple[ResolvedOption, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "profile": self.profile,
            "profiles_file": None if self.profiles_file is None else str(self.profiles_file),
            "options": [o.to_json() for o in self.options],
        }


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("profiles")
    group.add_argument(
        "--profile",
        metavar="NAME",
        help=f"take option values from [profiles.NAME] in ./{PROFILES_FILE} (or "
        "[tool.build_tools.profiles.NAME] in ./pyproject.toml); flags given here override them",
    )
    group.add_argument(
        "--profiles-file",
        type=Path,
        metavar="FILE",
        help=f"read profiles from this TOML file instead of ./{PROFILES_FILE}",
    )
    group.add_argument(
        "--show-options",
        action="store_true",
        help="print every resolved option value and where it came from (default, profile, "
        "command line), then stop",
    )


def _given_on_command_line(argv: Sequence[str], command: str) -> set[str]:
    """The dests the command line itself set: a parse in which every default is suppressed."""
    from build_tools.cli import build_parser  # cli imports the commands, which import us

    probe, _ = build_parser()
    sub = command_parsers(probe)[command]
    dests = set()
    for action in sub._actions:
        if action.option_strings and not isinstance(action, argparse._HelpAction):
            action.default = argparse.SUPPRESS
            dests.add(action.dest)
    return set(vars(probe.parse_args(argv))) & dests


def apply_profile(args: argparse.Namespace, argv: Sequence[str]) -> argparse.Namespace:
    """Re-parse ``argv`` with the chosen profile's values as defaults; record every source.

    Commands without ``--show-options`` are returned unchanged. The result carries
    ``resolved_options`` (:class:`ResolvedOptions`).
    """
    if not hasattr(args, "show_options"):
        return args
    from build_tools.cli import build_parser, normalise_argv

    parser, commands = build_parser()
    argv = normalise_argv(argv, commands)
    parsers = command_parsers(parser)
    sub = parsers[args.command]
    given = _given_on_command_line(argv, args.command)
    values: dict[str, Any] = {}
    path: Path | None = None
    if args.profile is not None:
        path = find_profiles_file(args.profiles_file)
        profile = load_profiles(path).get(args.profile)
        values = profile_values(profile, path, parsers, args.command)
        # Defaults, so that argparse lets the command line win; a list given on the command
        # line replaces the profile's list instead of extending it.
        sub.set_defaults(**{dest: v for dest, v in values.items() if dest not in given})
    elif args.profiles_file is not None:
        raise ConfigurationError(
            "--profiles-file without --profile selects nothing", hint="add --profile NAME"
        )
    resolved = parser.parse_args(argv)
    options = []
    for key, action in option_actions(sub).items():
        if f"--{key}" != _first_long(action):
            continue  # an alias: report each option once, under its first long name
        source = (
            Source.COMMAND_LINE
            if action.dest in given
            else Source.PROFILE
            if action.dest in values
            else Source.DEFAULT
        )
        options.append(
            ResolvedOption(key=key, value=getattr(resolved, action.dest, None), source=source)
        )
    resolved.resolved_options = ResolvedOptions(
        command=args.command,
        profile=args.profile,
        profiles_file=path,
        options=tuple(options),
    )
    return resolved


def _first_long(action: argparse.Action) -> str:
    return next(s for s in action.option_strings if s.startswith("--"))


def _display(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_display(v) for v in value) or "-"
    return str(value)


def show_options(args: argparse.Namespace) -> int:
    """``--show-options``: every resolved value and its source, as a table or JSON."""
    from build_tools.cli.commands.common import print_json

    resolved: ResolvedOptions = args.resolved_options
    if getattr(args, "json", False):
        print_json(resolved.to_json())
        return 0
    title = f"{resolved.command} options"
    if resolved.profile is not None:
        title += f" (profile {resolved.profile} from {resolved.profiles_file})"
    rows = [
        Row(
            [o.key, _display(o.value), _source_label(o, resolved)],
            style=None if o.source is Source.DEFAULT else "bold",
        )
        for o in resolved.options
    ]
    reporter.table(title, ["option", "value", "source"], rows)
    return 0


def _source_label(option: ResolvedOption, resolved: ResolvedOptions) -> str:
    if option.source is Source.PROFILE:
        return f"profile {resolved.profile}"
    return option.source.value
