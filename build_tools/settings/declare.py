"""Options declared once, on the settings dataclasses, and resolved from several sources.

Each settings field carries an :class:`Option` in its metadata: its flags, help text, how a
raw value is parsed, and whether a profile or an environment variable may set it. That one
declaration serves the command line (``build_tools.cli`` makes argparse arguments of it),
profiles (keys are the long option names) and ``--show-options`` (the provenance of every
value). Precedence, lowest first: default < environment < profile < command line.

Nothing here imports argparse: the command layer hands :func:`resolve` what the user typed.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal, TypeVar

from build_tools.errors import ConfigurationError

__all__ = [
    "REQUIRED",
    "Declared",
    "Option",
    "OptionKind",
    "ResolvedOption",
    "ResolvedOptions",
    "Source",
    "declared_options",
    "group",
    "option",
    "resolve",
]

OPTION = "build_tools.option"
GROUP = "build_tools.group"
OptionKind = Literal["value", "list", "switch", "positional"]
T = TypeVar("T")
S = TypeVar("S")


class _Required:
    """Marker: the field has no static default (its value comes from a source or ``fallback``)."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()


def _identity(text: str) -> str:
    return text


@dataclass(frozen=True, kw_only=True)
class Option:
    flags: tuple[str, ...]  # "--jobs", "-j"; a positional's name; () = environment only
    help: str
    name: str | None = None  # the key when there is no long flag (environment-only options)
    kind: OptionKind = "value"
    metavar: str | None = None
    choices: tuple[str, ...] | None = None
    parse: Callable[[str], Any] = _identity  # one raw string to a value; ConfigurationError
    profile: bool = True  # may be set in a profile
    env: tuple[str, ...] = ()  # variables read (first non-empty one) when nothing else set it
    from_env: Callable[[Mapping[str, str]], Any] | None = None  # a reader instead of ``env``
    fallback: Callable[[Mapping[str, str]], Any] | None = None  # a default computed at resolve
    path: bool = False  # a relative path in a profile is relative to the profiles file
    unique: bool = False  # a list option drops repeated values (the first one stays)
    conflicts: tuple[str, ...] = ()  # keys of options that may not be set together with this

    @property
    def key(self) -> str:
        """The long option name (``exclude-arch``): profile key and ``--show-options`` row."""
        for flag in self.flags:
            if flag.startswith("--"):
                return flag[2:]
        if self.kind == "positional" and self.flags:
            return self.flags[0]
        assert self.name is not None, "an option without a long flag needs a name"
        return self.name

    @property
    def on_command_line(self) -> bool:
        return bool(self.flags)

    def parse_text(self, text: str, where: str) -> Any:
        if self.choices is not None and text not in self.choices:
            from build_tools.settings.profiles import did_you_mean

            raise ConfigurationError(
                f"{where} is {text!r}, not one of {', '.join(self.choices)}",
                hint=did_you_mean(text, self.choices) or None,
            )
        try:
            return self.parse(text)
        except ConfigurationError as error:
            raise ConfigurationError(f"{where}: {error.message}", hint=error.hint) from None
        except (TypeError, ValueError) as error:
            raise ConfigurationError(f"{where} has an invalid value {text!r}: {error}") from None


def option(default: T, *flags: str, help: str, **details: Any) -> T:
    """A settings field declared as an option (see :class:`Option` for ``details``)."""
    declared = Option(flags=flags, help=help, **details)
    metadata = {OPTION: declared}
    if default is REQUIRED:
        return field(metadata=metadata)  # type: ignore[no-any-return]
    if isinstance(default, list | dict | set):
        raise TypeError("option defaults must be immutable (use a tuple)")
    return field(default=default, metadata=metadata)


def group(title: str, factory: Callable[[], T] | None = None) -> T:
    """A nested settings dataclass whose options appear under ``title`` in ``--help``."""
    if factory is None:
        return field(metadata={GROUP: title})  # type: ignore[no-any-return]
    return field(default_factory=factory, metadata={GROUP: title})


@dataclass(frozen=True)
class Declared:
    """One option of a settings class, with where it sits (field path) and its default."""

    path: tuple[str, ...]  # field names from the settings class down to the option
    option: Option
    default: Any  # REQUIRED when the field has none
    group: str | None


def declared_options(cls: type) -> Iterator[Declared]:
    """Every option of a settings dataclass, nested groups included, in declaration order."""
    yield from _declared(cls)


@functools.cache
def _declared(cls: type) -> tuple[Declared, ...]:
    # Once per class and run: the parser, the resolution and --show-options all walk it, and
    # resolving the nested groups' string annotations is the costly part of a start-up.
    return tuple(_walk(cls, (), None))


def _walk(cls: type, path: tuple[str, ...], group_title: str | None) -> Iterator[Declared]:
    for item in dataclasses.fields(cls):
        if OPTION in item.metadata:
            default = item.default if item.default is not dataclasses.MISSING else REQUIRED
            yield Declared((*path, item.name), item.metadata[OPTION], default, group_title)
        elif GROUP in item.metadata:
            nested = item.type if isinstance(item.type, type) else _resolve_type(cls, item.name)
            yield from _walk(nested, (*path, item.name), item.metadata[GROUP])


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    import typing

    return typing.get_type_hints(cls)


def _resolve_type(cls: type, name: str) -> type:
    nested = _type_hints(cls)[name]
    assert isinstance(nested, type), name
    assert dataclasses.is_dataclass(nested), name
    return nested


# --- provenance ------------------------------------------------------------------------------
class Source(StrEnum):
    DEFAULT = "default"
    ENVIRONMENT = "environment"
    PROFILE = "profile"
    COMMAND_LINE = "command line"


@dataclass(frozen=True, kw_only=True)
class ResolvedOption:
    key: str  # the long option name, as written in a profile
    value: Any
    source: Source
    origin: str | None = None  # the environment variable that set it

    @property
    def text(self) -> str:
        """The value as a person reads it: ``-`` for none, lists joined with commas."""
        return _display(self.value)

    def to_json(self) -> dict[str, Any]:
        data = {"option": self.key, "value": _jsonable(self.value), "source": self.source.value}
        if self.origin is not None:
            data["origin"] = self.origin
        return data


@dataclass(frozen=True, kw_only=True)
class ResolvedOptions:
    command: str
    profile: str | None
    profiles_file: Path | None
    options: tuple[ResolvedOption, ...]
    notices: tuple[str, ...] = ()  # e.g. a profile value that a command-line flag excludes

    def source_of(self, key: str) -> Source:
        return next(o.source for o in self.options if o.key == key)

    def to_json(self) -> dict[str, Any]:
        return {
            "command": self.command,
            "profile": self.profile,
            "profiles_file": None if self.profiles_file is None else str(self.profiles_file),
            "options": [o.to_json() for o in self.options],
        }


def _display(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(_display(v) for v in value) or "-"
    return str(value)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool | dict):
        return value
    return str(value)  # a parsed value (--cpu-variants) as it is written


# --- resolution ------------------------------------------------------------------------------
def _from_profile(declared: Option, raw: Any, where: str, base: Path) -> Any:
    """A TOML value checked against the option's kind, then parsed like the command line."""
    if declared.kind == "switch":
        if not isinstance(raw, bool):
            raise ConfigurationError(f"{where}: '{declared.key}' is a switch: write true or false")
        return raw
    if declared.kind == "list":
        items = raw if isinstance(raw, list) else [raw]
        return _listed(declared, [_scalar(declared, item, where, base) for item in items])
    if isinstance(raw, list):
        raise ConfigurationError(f"{where}: '{declared.key}' takes one value, not a list")
    return _scalar(declared, raw, where, base)


def _scalar(declared: Option, raw: Any, where: str, base: Path) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ConfigurationError(
            f"{where}: '{declared.key}' must be a string or number, not {type(raw).__name__}"
        )
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ConfigurationError(f"{where}: '{declared.key}' must be a finite number")
    value = declared.parse_text(str(raw), f"{where}: '{declared.key}'")
    if declared.path and isinstance(value, Path) and not value.is_absolute():
        value = base / value  # relative to the profiles file, not to wherever the tool runs
    return value


def _from_command_line(declared: Option, raw: Any) -> Any:
    where = declared.flags[0] if declared.kind == "positional" else f"--{declared.key}"
    if declared.kind == "switch":
        return bool(raw)
    if declared.kind == "list":
        return _listed(declared, [declared.parse_text(str(item), where) for item in raw])
    return declared.parse_text(str(raw), where)


def _listed(declared: Option, values: list[Any]) -> tuple[Any, ...]:
    return tuple(dict.fromkeys(values)) if declared.unique else tuple(values)


def _from_environment(declared: Option, environ: Mapping[str, str]) -> tuple[Any, str] | None:
    if declared.from_env is not None:
        value = declared.from_env(environ)
        return None if value is None else (value, "/".join(declared.env) or "environment")
    for variable in declared.env:
        text = environ.get(variable)
        if text:
            return declared.parse_text(text, f"${variable}"), variable
    return None


def _build(cls: type[S], values: Mapping[tuple[str, ...], Any], prefix: tuple[str, ...] = ()) -> S:
    kwargs: dict[str, Any] = {}
    for item in dataclasses.fields(cls):  # type: ignore[arg-type]
        path = (*prefix, item.name)
        if OPTION in item.metadata:
            if path in values:
                kwargs[item.name] = values[path]
        elif GROUP in item.metadata:
            nested = item.type if isinstance(item.type, type) else _resolve_type(cls, item.name)
            kwargs[item.name] = _build(nested, values, path)
    return cls(**kwargs)


_RANK = {Source.DEFAULT: 0, Source.ENVIRONMENT: 1, Source.PROFILE: 2, Source.COMMAND_LINE: 3}


def _settle_conflicts(
    declared: list[Declared],
    values: dict[tuple[str, ...], Any],
    resolved: list[ResolvedOption],
    profile_name: str | None,
) -> list[str]:
    """Options that exclude each other (``Option.conflicts``). Both set at the same level (the
    command line, a profile, the environment) is an error: one would otherwise win silently.
    Set at different levels, the higher one wins as for any other option - a flag on the
    command line replaces the profile's value - and the other returns to its default, with a
    notice (returned) saying so."""
    index = {option.key: n for n, option in enumerate(resolved)}
    paths = {item.option.key: item for item in declared}
    notices: list[str] = []

    def where(option: ResolvedOption) -> str:
        if option.source is Source.PROFILE:
            return f"profile {profile_name}"
        if option.source is Source.ENVIRONMENT and option.origin is not None:
            return f"${option.origin}"
        return option.source.value

    for item in declared:
        for other_key in item.option.conflicts:
            if other_key not in index:
                continue
            mine, other = resolved[index[item.option.key]], resolved[index[other_key]]
            if Source.DEFAULT in (mine.source, other.source):
                continue
            if mine.source is other.source:
                raise ConfigurationError(
                    f"--{mine.key} and --{other.key} ({where(mine)}) cannot be used together",
                    hint=f"drop one of them; see --help for what --{mine.key} does",
                )
            winner, loser = (
                (mine, other) if _RANK[mine.source] > _RANK[other.source] else (other, mine)
            )
            default = paths[loser.key].default
            values[paths[loser.key].path] = default
            resolved[index[loser.key]] = ResolvedOption(
                key=loser.key, value=default, source=Source.DEFAULT
            )
            notices.append(
                f"--{loser.key} from {where(loser)} is not used: --{winner.key} from "
                f"{where(winner)} excludes it"
            )
    return notices


def resolve(
    cls: type[S],
    *,
    command: str,
    given: Mapping[str, Any],
    environ: Mapping[str, str],
    profile: Mapping[str, Any] | None = None,
    profile_name: str | None = None,
    profiles_file: Path | None = None,
    profile_options: Mapping[str, Option] | None = None,
) -> tuple[S, ResolvedOptions]:
    """Settings of type ``cls`` from the command line (``given``: key -> raw value as typed),
    a profile's table, the environment and the declared defaults; plus every value's source.

    A profile's keys and values are checked against ``profile_options`` (the options of every
    command that takes profiles, so one profile can drive ``plan`` and ``build``): a key ``cls``
    lacks is checked, then ignored.
    """
    declared = list(declared_options(cls))
    where = f"{profiles_file}: profile '{profile_name}'"
    base = profiles_file.parent if profiles_file is not None else Path.cwd()
    if profile is not None:
        from build_tools.settings.profiles import did_you_mean

        known = profile_options or {}
        for key, raw in profile.items():
            if key not in known:
                raise ConfigurationError(
                    f"{where}: unknown option '{key}'",
                    hint=did_you_mean(key, sorted(known))
                    + "keys are the long options of build, plan and verify-reproducible",
                )
            _from_profile(known[key], raw, where, base)
            for other in known[key].conflicts:
                if other in profile:
                    raise ConfigurationError(
                        f"{where}: '{key}' and '{other}' cannot be used together",
                        hint="drop one of them",
                    )
    values: dict[tuple[str, ...], Any] = {}
    resolved: list[ResolvedOption] = []
    for item in declared:
        opt = item.option
        origin = None
        if opt.key in given:
            value, source = _from_command_line(opt, given[opt.key]), Source.COMMAND_LINE
        elif profile is not None and opt.profile and opt.key in profile:
            value, source = _from_profile(opt, profile[opt.key], where, base), Source.PROFILE
        elif (found := _from_environment(opt, environ)) is not None:
            (value, origin), source = found, Source.ENVIRONMENT
        elif opt.fallback is not None:
            value, source = opt.fallback(environ), Source.DEFAULT
        elif item.default is REQUIRED:
            raise ConfigurationError(f"--{opt.key} is required")
        else:
            value, source = item.default, Source.DEFAULT
        values[item.path] = value
        resolved.append(ResolvedOption(key=opt.key, value=value, source=source, origin=origin))
    notices = _settle_conflicts(declared, values, resolved, profile_name)
    settings = _build(cls, values)
    provenance = ResolvedOptions(
        notices=tuple(notices),
        command=command,
        profile=profile_name,
        profiles_file=profiles_file,
        options=tuple(resolved),
    )
    return settings, provenance
