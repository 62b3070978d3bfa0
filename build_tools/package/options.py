"""Command-line options of packaging, and the one place that reads SOURCE_DATE_EPOCH."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, cast

from build_tools.errors import ConfigurationError
from build_tools.package.tarball import Compression

__all__ = [
    "FORMATS",
    "Format",
    "PackageOptions",
    "add_package_arguments",
    "package_options_from_args",
]

Format = Literal["tar", "wheel"]
FORMATS: tuple[Format, ...] = ("tar", "wheel")


@dataclass(frozen=True, kw_only=True)
class PackageOptions:
    formats: tuple[Format, ...]
    compress: Compression
    dist_dir: Path
    source_date_epoch: int | None  # None: the source commit's time


def _epoch(text: str, origin: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise ConfigurationError(
            f"{origin} must be a non-negative number of seconds since 1970, not {text!r}",
            hint="e.g. $(git log -1 --format=%ct), or leave it unset to use the commit time",
        )
    return value


def add_package_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("package")
    group.add_argument(
        "--format",
        dest="package_formats",
        action="append",
        choices=FORMATS,
        help="package format; repeat for several (default: tar). wheel: a pip-installable "
        "platform wheel with an `ollama` command",
    )
    group.add_argument(
        "--compress",
        choices=("gzip", "zstd"),
        default="gzip",
        help="tarball compression: .tar.gz or .tar.zst (default: gzip)",
    )
    group.add_argument(
        "--dist-dir",
        type=Path,
        default=Path("dist"),
        metavar="DIR",
        help="where packages, manifests and SHA256SUMS go (default: ./dist)",
    )
    group.add_argument(
        "--source-date-epoch",
        metavar="N",
        help="timestamp of every packaged file (default: $SOURCE_DATE_EPOCH, else the source "
        "commit's time)",
    )


def package_options_from_args(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> PackageOptions:
    formats = tuple(dict.fromkeys(args.package_formats or ["tar"]))  # de-duplicated, in order
    epoch: int | None = None
    if args.source_date_epoch is not None:
        epoch = _epoch(args.source_date_epoch, "--source-date-epoch")
    elif environ.get("SOURCE_DATE_EPOCH"):
        epoch = _epoch(environ["SOURCE_DATE_EPOCH"], "SOURCE_DATE_EPOCH")
    return PackageOptions(
        formats=cast(tuple[Format, ...], formats),
        compress=cast(Compression, args.compress),
        dist_dir=Path(args.dist_dir).resolve(),
        source_date_epoch=epoch,
    )
