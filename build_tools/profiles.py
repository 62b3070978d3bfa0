"""Build profiles: named sets of build options in ``ollama-build.toml``.

A profile holds any option of ``build``/``plan`` under its long option name::

    [profiles.cuda12-no-maxwell]
    description = "CUDA 12 without Maxwell"
    cuda = "12.4"
    exclude-arch = ["50", "52"]     # a list for a repeatable option
    arch = ["preset"]

Precedence is defaults < profile < command line; a flag given on the command line replaces the
profile's value (lists included). The known keys are read from the real argparse parsers, so a
new option is valid in profiles the moment a command registers it, and a typo fails with a
"did you mean". Profile values become parser defaults before the real parse, and every value's
source is recorded for ``--show-options`` and the CI step summary.
"""

from __future__ import annotations

import argparse
import difflib
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from build_tools.console import Row, reporter
from build_tools.errors import ConfigurationError

__all__ = [
    "PROFILES_FILE",
    "Profile",
    "ProfilesFile",
    "ResolvedOption",
    "ResolvedOptions",
    "Source",
    "add_profile_arguments",
    "apply_profile",
    "command_parsers",
    "find_profiles_file",
    "load_profiles",
    "option_actions",
    "profile_values",
    "show_options",
]

PROFILES_FILE = "ollama-build.toml"
META_KEYS = frozenset({"description"})
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# Options about this invocation's output or profile choice, not about what gets built.
NOT_PROFILE_OPTIONS = frozenset({"help", "profile", "profiles_file", "show_options", "json"})


class Source(StrEnum):
    DEFAULT = "default"
    PROFILE = "profile"
    COMMAND_LINE = "command line"


@dataclass(frozen=True, kw_only=True)
class Profile:
    name: str
    description: str | None
    values: Mapping[str, Any]  # option key -> raw TOML value


@dataclass(frozen=True, kw_only=True)
class ProfilesFile:
    path: Path
    profiles: Mapping[str, Profile]  # in file order; the first is the default

    @property
    def default(self) -> Profile:
        return next(iter(self.profiles.values()))

    def get(self, name: str) -> Profile:
        if name in self.profiles:
            return self.profiles[name]
        raise ConfigurationError(
            f"{self.path}: no profile named '{name}'",
            hint=_did_you_mean(name, self.profiles) + "profiles: " + ", ".join(self.profiles),
        )


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


def _did_you_mean(word: str, candidates: Sequence[str] | Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=3, cutoff=0.6)
    return f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""


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


# --- the profiles file -----------------------------------------------------------------------
def find_profiles_file(explicit: Path | None, cwd: Path | None = None) -> Path:
    """``--profiles-file``, else ./ollama-build.toml, else ./pyproject.toml with a
    [tool.build_tools] table."""
    if explicit is not None:
        if not explicit.is_file():
            raise ConfigurationError(f"--profiles-file {explicit}: no such file")
        return explicit
    here = Path.cwd() if cwd is None else cwd
    if (here / PROFILES_FILE).is_file():
        return here / PROFILES_FILE
    pyproject = here / "pyproject.toml"
    if pyproject.is_file() and "build_tools" in _read_toml(pyproject).get("tool", {}):
        return pyproject
    raise ConfigurationError(
        f"--profile needs a profiles file, and {here} has neither {PROFILES_FILE} nor a "
        "[tool.build_tools] table in pyproject.toml",
        hint="pass --profiles-file FILE (see ci/ollama-build.toml for an example)",
    )


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as stream:
            return tomllib.load(stream)
    except OSError as error:
        raise ConfigurationError(f"cannot read {path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path} is not valid TOML: {error}") from None


def load_profiles(path: Path) -> ProfilesFile:
    """Read and shape-check a profiles file; option keys are checked by :func:`profile_values`."""
    data = _read_toml(path)
    if path.name == "pyproject.toml":
        data = data.get("tool", {}).get("build_tools", {})
    unknown = sorted(set(data) - {"profiles"})
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown top-level key '{unknown[0]}'",
            hint=_did_you_mean(unknown[0], ["profiles"]) + "profiles go in [profiles.NAME] tables",
        )
    tables = data.get("profiles", {})
    if not isinstance(tables, dict) or not tables:
        raise ConfigurationError(
            f"{path} defines no profiles",
            hint="add a table such as [profiles.lab] with arch = ['86']",
        )
    profiles: dict[str, Profile] = {}
    for name, table in tables.items():
        if not _NAME.match(name):
            raise ConfigurationError(
                f"{path}: profile name '{name}' must be letters, digits, '.', '_' or '-'",
                hint="it names CI jobs, artifacts and shell arguments",
            )
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: profiles.{name} must be a table of options")
        description = table.get("description")
        if description is not None and not isinstance(description, str):
            raise ConfigurationError(f"{path}: profiles.{name}.description must be a string")
        values = {k: v for k, v in table.items() if k not in META_KEYS}
        profiles[name] = Profile(name=name, description=description, values=values)
    return ProfilesFile(path=path, profiles=profiles)


# --- options of the real parsers -------------------------------------------------------------
def option_actions(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Long option name (``exclude-arch``) -> its action, for every option a profile may set."""
    actions: dict[str, argparse.Action] = {}
    for action in parser._actions:  # argparse has no public accessor for its actions
        if action.dest in NOT_PROFILE_OPTIONS or isinstance(action, argparse._HelpAction):
            continue
        for option in action.option_strings:
            if option.startswith("--"):
                actions.setdefault(option[2:], action)
    return actions


def command_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The commands that take ``--profile`` (marked by ``--show-options``), by name."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if any(a.dest == "show_options" for a in sub._actions):
                    found[name] = sub
    return found


def _invalid(where: str, key: str, problem: str, hint: str | None = None) -> ConfigurationError:
    return ConfigurationError(f"{where}: '{key}' {problem}", hint=hint)


def _scalar(where: str, key: str, action: argparse.Action, raw: Any, base: Path) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _invalid(where, key, f"must be a string or number, not {type(raw).__name__}")
    text = str(raw)
    convert = action.type
    try:
        value: Any = convert(text) if callable(convert) else text
    except (TypeError, ValueError, argparse.ArgumentTypeError) as error:
        raise _invalid(where, key, f"has an invalid value {text!r}: {error}") from None
    if convert is Path and not value.is_absolute():
        value = base / value  # relative to the profiles file, not to wherever the tool runs
    if action.choices is not None and value not in action.choices:
        choices = [str(c) for c in action.choices]
        raise _invalid(
            where,
            key,
            f"is {text!r}, not one of {', '.join(choices)}",
            hint=_did_you_mean(text, choices) or None,
        )
    return value


def _convert(where: str, key: str, action: argparse.Action, raw: Any, base: Path) -> Any:
    if isinstance(action, argparse._StoreTrueAction | argparse._StoreFalseAction):
        if not isinstance(raw, bool):
            raise _invalid(where, key, "is a switch: write true or false")
        return action.const if raw else action.default
    if isinstance(action, argparse.BooleanOptionalAction):
        if not isinstance(raw, bool):
            raise _invalid(where, key, "is a switch: write true or false")
        return raw
    if isinstance(action, argparse._AppendAction):
        items = raw if isinstance(raw, list) else [raw]
        return [_scalar(where, key, action, item, base) for item in items]
    if isinstance(action, argparse._StoreAction) and action.nargs is None:
        if isinstance(raw, list):
            raise _invalid(where, key, "takes one value, not a list")
        return _scalar(where, key, action, raw, base)
    raise _invalid(where, key, "cannot be set in a profile")


def profile_values(
    profile: Profile,
    path: Path,
    parsers: Mapping[str, argparse.ArgumentParser],
    command: str,
) -> dict[str, Any]:
    """The profile's values for ``command`` as parser defaults (dest -> value).

    Every key is checked against all profile-aware commands, so a profile can hold build-only
    options (``workdir``) and still drive ``plan``; the keys ``command`` lacks are skipped.
    """
    where = f"{path}: profile '{profile.name}'"
    by_command = {name: option_actions(p) for name, p in parsers.items()}
    known = sorted({key for actions in by_command.values() for key in actions})
    values: dict[str, Any] = {}
    for key, raw in profile.values.items():
        if key not in known:
            commands = "/".join(sorted(parsers))
            raise ConfigurationError(
                f"{where}: unknown option '{key}'",
                hint=_did_you_mean(key, known) + f"keys are the long options of {commands}",
            )
        for name, actions in by_command.items():
            if key in actions:  # validates against every command that has the option
                value = _convert(where, key, actions[key], raw, path.parent)
                if name == command:
                    values[actions[key].dest] = value
    return values


# --- the hook: profile values as defaults, then the real parse -------------------------------
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
    from build_tools.commands.common import print_json

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
