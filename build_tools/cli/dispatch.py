"""From an :class:`Invocation` to a finished command: profile, settings, handler.

Settings are resolved once, here, from the declared defaults, the environment (read once in
``main``), the chosen profile and the command line; the handler gets them frozen and never sees
argparse.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from build_tools import interrupts
from build_tools.cli.output import print_json
from build_tools.cli.parser import Invocation
from build_tools.cli.spec import Context
from build_tools.console import Row, reporter
from build_tools.errors import ConfigurationError
from build_tools.runner import Runner
from build_tools.settings.commands import profile_options
from build_tools.settings.declare import ResolvedOption, ResolvedOptions, Source, resolve
from build_tools.settings.profiles import find_profiles_file, load_profiles

__all__ = ["dispatch", "resolve_invocation", "show_options"]


def resolve_invocation(
    invocation: Invocation, environ: Mapping[str, str]
) -> tuple[Any, ResolvedOptions]:
    """The command's settings (and every value's source) for what the user asked for."""
    command = invocation.command
    settings = command.settings_type()
    assert settings is not None, f"{invocation.name} declares no settings"
    profile = None
    path = None
    if invocation.profile is not None:
        path = find_profiles_file(invocation.profiles_file)
        profile = load_profiles(path).get(invocation.profile)
    elif invocation.profiles_file is not None:
        raise ConfigurationError(
            "--profiles-file without --profile selects nothing", hint="add --profile NAME"
        )
    return resolve(
        settings,
        command=invocation.name,
        given=invocation.given,
        environ=environ,
        profile=None if profile is None else profile.values,
        profile_name=invocation.profile,
        profiles_file=path,
        profile_options=None if profile is None else profile_options(),
    )


def dispatch(invocation: Invocation, runner: Runner, environ: Mapping[str, str]) -> int:
    settings, resolved = resolve_invocation(invocation, environ)
    for notice in resolved.notices:
        reporter.notice(notice)
    if invocation.show_options:
        show_options(resolved, as_json=invocation.json)
        return 0
    handler = invocation.command.load()
    interrupts.check()  # a Ctrl-C while the command's modules loaded
    context = Context(runner=runner, json=invocation.json, environ=environ, options=resolved)
    return int(handler(settings, context))


def _source_label(option: ResolvedOption, resolved: ResolvedOptions) -> str:
    if option.source is Source.PROFILE:
        return f"profile {resolved.profile}"
    if option.source is Source.ENVIRONMENT and option.origin is not None:
        return f"environment ({option.origin})"
    return option.source.value


def show_options(resolved: ResolvedOptions, *, as_json: bool) -> None:
    """``--show-options``: every resolved value and its source, as a table or JSON."""
    if as_json:
        print_json(resolved.to_json())
        return
    title = f"{resolved.command} options"
    if resolved.profile is not None:
        title += f" (profile {resolved.profile} from {resolved.profiles_file})"
    rows = [
        Row(
            [o.key, o.text, _source_label(o, resolved)],
            style=None if o.source is Source.DEFAULT else "bold",
        )
        for o in resolved.options
    ]
    reporter.table(title, ["option", "value", "source"], rows)
