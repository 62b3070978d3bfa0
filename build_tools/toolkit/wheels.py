"""Downloading pinned wheels with pip into the cache, and unpacking parts of them.

Wheels are only used as archives here: nothing is installed into any Python environment.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import zipfile
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath

from build_tools.console import reporter
from build_tools.errors import ToolkitError
from build_tools.runner import Runner

__all__ = ["extract_wheel", "find_wheel", "pip_download", "wheel_members"]

_CHUNK = 1 << 20


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def find_wheel(downloads: Path, requirement: str) -> Path | None:
    """The downloaded wheel for ``name==version``, if a complete one is in ``downloads``."""
    name, _, version = requirement.partition("==")
    for candidate in sorted(downloads.glob(f"{_normalized(name)}-{version}-*.whl")):
        return candidate
    return None


def _show_pip_line(line: str) -> None:
    text = line.strip()
    if text.startswith("Downloading "):
        reporter.info(f"  {text}")


def pip_download(requirements: Sequence[str], downloads: Path, runner: Runner) -> list[Path]:
    """Make sure every ``name==version`` wheel is in ``downloads``; returns their paths.

    pip writes into a private sub-directory that is moved into place only after pip succeeded,
    so an interrupted download never leaves a truncated wheel that a later run would trust.
    """
    downloads.mkdir(parents=True, exist_ok=True)
    missing = [req for req in requirements if find_wheel(downloads, req) is None]
    if missing:
        partial = downloads / f".partial-{os.getpid()}"
        shutil.rmtree(partial, ignore_errors=True)
        runner.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--progress-bar",
                "off",
                "-d",
                partial,
                *missing,
            ],
            on_line=_show_pip_line,
            what="pip download",
            hint="PyPI must be reachable (pip honours PIP_INDEX_URL and proxy settings)",
        )
        for wheel in partial.glob("*.whl"):
            wheel.replace(downloads / wheel.name)
        shutil.rmtree(partial, ignore_errors=True)
    found = [find_wheel(downloads, req) for req in requirements]
    return [path for path in found if path is not None]


def wheel_members(wheel: Path) -> list[str]:
    """Names of the files in a wheel (directories left out)."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            return [info.filename for info in archive.infolist() if not info.is_dir()]
    except zipfile.BadZipFile as exc:
        raise ToolkitError(
            f"{wheel} is not a valid wheel ({exc})",
            hint=f"delete {wheel} and run the install again to re-download it",
        ) from None


def extract_wheel(
    wheel: Path,
    dest: Path,
    *,
    prefix: str,
    rename: Callable[[str], str | None] = lambda rel: rel,
) -> int:
    """Unpack the files under ``prefix`` into ``dest``; returns the bytes written.

    ``rename`` maps a path relative to ``prefix`` to its place under ``dest`` (``None`` skips
    it). Execute bits are restored from the zip entries, since zipfile drops them.
    """
    selected: list[tuple[zipfile.ZipInfo, PurePosixPath]] = []
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            if info.is_dir() or not info.filename.startswith(prefix):
                continue
            rel = info.filename[len(prefix) :]
            if PurePosixPath(rel).name in {"__init__.py"} or "__pycache__" in rel:
                continue
            target = rename(rel)
            if target is None:
                continue
            path = PurePosixPath(target)
            if path.is_absolute() or ".." in path.parts:
                raise ToolkitError(f"{wheel.name} holds an unsafe path: {info.filename}")
            selected.append((info, path))
        total = sum(info.file_size for info, _ in selected)
        with reporter.byte_progress(f"unpack {wheel.name}", total) as progress:
            for info, path in selected:
                out_path = dest.joinpath(*path.parts)
                out_path.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as src, out_path.open("wb") as out:
                    while chunk := src.read(_CHUNK):
                        out.write(chunk)
                        progress.advance(len(chunk))
                executable = (info.external_attr >> 16) & 0o111
                out_path.chmod(0o755 if executable else 0o644)
    return total
