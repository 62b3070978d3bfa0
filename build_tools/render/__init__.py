"""Render release pipelines from build profiles: a GitHub Actions workflow and a Containerfile.

Pure functions over validated profile values and Jinja2 templates in
``build_tools/resources/templates`` (``StrictUndefined``: a missing value fails the render
instead of leaving a hole). ``build_tools.commands.render`` does the reading and writing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import jinja2

from build_tools.errors import ConfigurationError
from build_tools.settings.pins import (
    DEFAULT_APT_SNAPSHOT,
    DEFAULT_BASE_IMAGE,
    DEFAULT_BASE_IMAGE_NOTE,
    DEFAULT_DEBIAN_SUITE,
    DEFAULT_GO_VERSION,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_APT_SNAPSHOT",
    "DEFAULT_BASE_IMAGE",
    "DEFAULT_GO_VERSION",
    "RenderProfile",
    "check_pinned",
    "render_ci",
    "render_container",
]

PYTHON_VERSION = "3.11"
# Where the scheduled `upstream check` job reads Ollama's tags (written into the workflow as is).
UPSTREAM_SOURCE = "https://github.com/ollama/ollama.git"
RUNNER = "ubuntu-24.04"

# Actions pinned by commit (tags can be moved); the comment is the release it was taken from.
ACTIONS = {
    "checkout": "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683  # v4.2.2",
    "setup_python": "actions/setup-python@0b93645e9fea7318ecaed2b359559ac225c90a2b  # v5.3.0",
    "cache": "actions/cache@1bd1e32a3bdc45362d1e726936510720a7c30a57  # v4.2.0",
    "upload_artifact": "actions/upload-artifact@ea165f8d65b6e75b540449e92b4886f43607fa02  # v4.6.2",
    "download_artifact": "actions/download-artifact@d3f86a106a0bac45b974a628896c90dbdf5c8093"
    "  # v4.3.0",
}

_PINNED = re.compile(r"^[^\s@]+@sha256:[0-9a-f]{64}\Z")
_SNAPSHOT = re.compile(r"^\d{8}T\d{6}Z\Z")


@dataclass(frozen=True, kw_only=True)
class RenderProfile:
    """What a template needs of one profile (values already validated by the build parser)."""

    name: str
    description: str
    cuda: str | None  # None: the build picks the newest toolkit that compiles the plan
    ref: str


def _environment() -> jinja2.Environment:
    return jinja2.Environment(  # noqa: S701 - YAML and Containerfiles, not HTML: no escaping
        loader=jinja2.PackageLoader("build_tools", "resources/templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render(template: str, context: Mapping[str, Any]) -> str:
    try:
        return _environment().get_template(template).render(**context)
    except jinja2.UndefinedError as error:  # a template bug, reported as one
        raise AssertionError(f"{template}: {error}") from error


def check_pinned(image: str) -> None:
    if not _PINNED.match(image):
        raise ConfigurationError(
            f"base image '{image}' is not pinned by digest",
            hint="write it as NAME[:TAG]@sha256:<64 hex digits>, e.g. from "
            "`docker buildx imagetools inspect NAME:TAG`",
        )


def render_ci(
    profiles: Sequence[RenderProfile],
    *,
    profiles_file: str,
    output: str,
    go_version: str = DEFAULT_GO_VERSION,
    upstream_check_schedule: str | None = None,
) -> str:
    """A GitHub Actions workflow: one matrix job per profile, a release job on tags, and with
    ``upstream_check_schedule`` (a cron line from ``settings.parse.cron_schedule``) a scheduled
    ``upstream check`` job; scheduled runs skip the builds."""
    return _render(
        "workflow.yml.j2",
        {
            "profiles": profiles,
            "profiles_file": profiles_file,
            "output": output,
            "go_version": go_version,
            "upstream_check_schedule": upstream_check_schedule,
            "upstream_source": UPSTREAM_SOURCE,
            "python_version": PYTHON_VERSION,
            "runner": RUNNER,
            "actions": ACTIONS,
        },
    )


def render_container(
    profile: RenderProfile,
    *,
    profiles_file: str,
    output: str,
    base_image: str = DEFAULT_BASE_IMAGE,
    apt_snapshot: str | None = DEFAULT_APT_SNAPSHOT,
    debian_suite: str = DEFAULT_DEBIAN_SUITE,
    go_version: str = DEFAULT_GO_VERSION,
    source_date_epoch: int = 0,
) -> str:
    """A multi-stage Containerfile whose last stage holds only the artifacts."""
    check_pinned(base_image)
    if profile.cuda is None:
        raise ConfigurationError(
            f"profile '{profile.name}' does not pin a CUDA version, so a container build "
            "could not install its toolkit ahead of the build",
            hint='add cuda = "12.4" (or "13.0") to the profile',
        )
    if apt_snapshot is not None and not _SNAPSHOT.match(apt_snapshot):
        raise ConfigurationError(
            f"--apt-snapshot {apt_snapshot}: not a snapshot.debian.org timestamp",
            hint="write it as YYYYMMDDTHHMMSSZ, e.g. " + DEFAULT_APT_SNAPSHOT,
        )
    note = DEFAULT_BASE_IMAGE_NOTE if base_image == DEFAULT_BASE_IMAGE else "--base-image"
    return _render(
        "Containerfile.j2",
        {
            "profile": profile,
            "profiles_file": profiles_file,
            "output": output,
            "base_image": base_image,
            "base_image_note": note,
            "apt_snapshot": apt_snapshot,
            "debian_suite": debian_suite,
            "go_version": go_version,
            "cuda": profile.cuda,
            "source_date_epoch": source_date_epoch,
        },
    )
