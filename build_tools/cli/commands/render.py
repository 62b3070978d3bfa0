"""``render ci`` / ``render container``: release pipelines rendered from the build profiles."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import sys
import tempfile
from pathlib import Path

from build_tools.cli.spec import Context
from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.render import RenderProfile, render_ci, render_container
from build_tools.settings.commands import (
    BuildSettings,
    RenderContainerSettings,
    RenderWorkflowSettings,
    profile_options,
)
from build_tools.settings.declare import resolve
from build_tools.settings.profiles import Profile, ProfilesFile, find_profiles_file, load_profiles

__all__ = ["run_ci", "run_container"]


# What a path must look like to be written into a rendered file's instructions (a COPY line,
# a YAML value, a shell command in a comment) without quoting.
_SAFE_PATH = re.compile(r"[A-Za-z0-9._/+-]+\Z")


def _relative(path: Path) -> str:
    """A path relative to the repository root (cwd), as the rendered file should name it."""
    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:  # another drive
        return path.as_posix()


def _named(path: Path, what: str) -> str:
    shown = _relative(path)
    if not _SAFE_PATH.match(shown):
        raise ConfigurationError(
            f"{what} {shown!r} cannot be written into the rendered file",
            hint="use a path of letters, digits and . _ - + /",
        )
    return shown


def _profiles_in_context(path: Path) -> str:
    """The profiles file as the rendered file names it: it is read from the repository (the
    CI checkout, the container build context), so it must lie inside the current directory."""
    shown = _named(path, "the profiles file")
    if shown == ".." or shown.startswith(("../", "/")):
        raise ConfigurationError(
            f"the profiles file {path} is outside the current directory, so the rendered file "
            "could not read it from the repository (a COPY or checkout path cannot leave the "
            "build context)",
            hint="run render from the repository root that holds the profiles file",
        )
    return shown


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


def _write(output: Path, text: str) -> None:
    """Write ``output`` whole or not at all: a regular file through a temporary file and a
    rename; a device or FIFO (``/dev/stdout``) directly."""
    try:
        if output.exists() and not stat.S_ISREG(output.stat().st_mode):
            if output.is_dir():
                raise IsADirectoryError(21, "is a directory")
            with output.open("w", encoding="utf-8") as stream:
                stream.write(text)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.write(text)
            Path(name).chmod(0o644)
            Path(name).replace(output)
        except BaseException:
            with contextlib.suppress(OSError):
                Path(name).unlink()
            raise
    except OSError as error:
        raise ConfigurationError(
            f"cannot write --output {output}: {error.strerror}",
            hint="choose a writable file path (or - for stdout)",
        ) from None


def _emit(text: str, output: Path | None, check: bool) -> int:
    output = _to_file(output)
    if output is None:
        if check:
            raise ConfigurationError("--check needs --output FILE to compare with")
        sys.stdout.write(text)
        return 0
    if check:
        try:
            current = output.read_text(encoding="utf-8") if output.is_file() else None
        except (OSError, UnicodeDecodeError):
            current = None
        if current != text:
            raise ConfigurationError(
                f"{output} is out of date with the profiles",
                hint="re-render it: the same command without --check",
            )
        reporter.info(f"{output} is up to date")
        return 0
    _write(output, text)
    reporter.info(f"wrote {output}")
    return 0


def run_ci(workflow: RenderWorkflowSettings, context: Context) -> int:
    del context
    settings = workflow.common
    profiles = load_profiles(find_profiles_file(settings.profiles_file, needed_by="render ci"))
    rendered = render_ci(
        [_render_profile(p, profiles) for p in profiles.profiles.values()],
        profiles_file=_profiles_in_context(profiles.path),
        output=_named(out, "--output") if (out := _to_file(settings.output)) else "ci/workflow.yml",
        go_version=settings.go_version,
        upstream_check_schedule=workflow.upstream_check_schedule,
    )
    return _emit(rendered, settings.output, settings.check)


def run_container(settings: RenderContainerSettings, context: Context) -> int:
    del context
    common = settings.common
    profiles = load_profiles(find_profiles_file(common.profiles_file, needed_by="render container"))
    profile = profiles.default if settings.profile is None else profiles.get(settings.profile)
    rendered = render_container(
        _render_profile(profile, profiles),
        profiles_file=_profiles_in_context(profiles.path),
        output=_named(out, "--output") if (out := _to_file(common.output)) else "ci/Containerfile",
        base_image=settings.base_image,
        apt_snapshot=settings.apt_snapshot,
        go_version=common.go_version,
        source_date_epoch=settings.source_date_epoch,
    )
    return _emit(rendered, common.output, common.check)
