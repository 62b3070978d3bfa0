"""``render ci`` / ``render container``: release pipelines rendered from the build profiles."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from build_tools.cli.spec import Context
from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.render import RenderProfile, render_ci, render_container
from build_tools.settings.commands import (
    BuildSettings,
    RenderCiSettings,
    RenderContainerSettings,
    profile_options,
)
from build_tools.settings.declare import resolve
from build_tools.settings.profiles import Profile, ProfilesFile, find_profiles_file, load_profiles

__all__ = ["run_ci", "run_container"]


def _shown(path: Path) -> str:
    """A path as the rendered file should name it: relative to the repository (cwd) root."""
    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:  # another drive
        return path.as_posix()


def _render_profile(profile: Profile, profiles: ProfilesFile) -> RenderProfile:
    """The profile read exactly as `build --profile NAME` reads it (a typo fails the render);
    the environment of this machine plays no part in a rendered file."""
    settings, _ = resolve(
        BuildSettings,
        command="build",
        given={},
        environ={},
        profile=profile.values,
        profile_name=profile.name,
        profiles_file=profiles.path,
        profile_options=profile_options(),
    )
    return RenderProfile(
        name=profile.name,
        description=profile.description or profile.name,
        cuda=settings.toolkit.cuda,
        ref=settings.source.ref,
    )


def _to_file(output: Path | None) -> Path | None:
    return None if output is None or str(output) == "-" else output


def _emit(text: str, output: Path | None, check: bool) -> int:
    output = _to_file(output)
    if output is None:
        if check:
            raise ConfigurationError("--check needs --output FILE to compare with")
        sys.stdout.write(text)
        return 0
    if check:
        if not output.is_file() or output.read_text() != text:
            raise ConfigurationError(
                f"{output} is out of date with the profiles",
                hint="re-render it: the same command without --check",
            )
        reporter.info(f"{output} is up to date")
        return 0
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    reporter.info(f"wrote {output}")
    return 0


def run_ci(settings: RenderCiSettings, context: Context) -> int:
    del context
    profiles = load_profiles(find_profiles_file(settings.profiles_file))
    rendered = render_ci(
        [_render_profile(p, profiles) for p in profiles.profiles.values()],
        profiles_file=_shown(profiles.path),
        output=_shown(out) if (out := _to_file(settings.output)) else "ci/workflow.yml",
        go_version=settings.go_version,
    )
    return _emit(rendered, settings.output, settings.check)


def run_container(settings: RenderContainerSettings, context: Context) -> int:
    del context
    common = settings.common
    profiles = load_profiles(find_profiles_file(common.profiles_file))
    profile = profiles.default if settings.profile is None else profiles.get(settings.profile)
    rendered = render_container(
        _render_profile(profile, profiles),
        profiles_file=_shown(profiles.path),
        output=_shown(out) if (out := _to_file(common.output)) else "ci/Containerfile",
        base_image=settings.base_image,
        apt_snapshot=settings.apt_snapshot,
        go_version=common.go_version,
        source_date_epoch=settings.source_date_epoch,
    )
    return _emit(rendered, common.output, common.check)
