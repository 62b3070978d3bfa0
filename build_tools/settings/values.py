"""Profile values checked and converted by the real argparse actions of each command.

The known keys are the long options of the commands that take ``--profile``, so a new option is
valid in profiles the moment a command registers it, and a value is converted exactly as the
command line would convert it.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from build_tools.errors import ConfigurationError
from build_tools.settings.profiles import Profile, did_you_mean

__all__ = ["command_parsers", "option_actions", "profile_values"]

# Options about this invocation's output or profile choice, not about what gets built.
NOT_PROFILE_OPTIONS = frozenset({"help", "profile", "profiles_file", "show_options", "json"})


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
            hint=did_you_mean(text, choices) or None,
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
                hint=did_you_mean(key, known) + f"keys are the long options of {commands}",
            )
        for name, actions in by_command.items():
            if key in actions:  # validates against every command that has the option
                value = _convert(where, key, actions[key], raw, path.parent)
                if name == command:
                    values[actions[key].dest] = value
    return values
