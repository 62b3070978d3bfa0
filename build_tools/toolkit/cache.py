"""The versioned toolkit cache under ``<cache_dir>/toolkits``.

Layout::

    toolkits/
      .lock                      flock held while installing or removing
      12.4-debian/               an installed root; counts only with its manifest
        build-tools-toolkit.json
      .staging-13.0-pypi-XXXX/   an install in progress (or killed): never counted
      downloads/debian-12.4/     .deb and wheel files, reused by later installs
      downloads/pypi-13.0/
      downloads/apt/             the private apt configuration and lists
      logs/                      verification logs

An install is assembled and verified in a staging directory and then renamed into place in
one ``rename(2)``, after its manifest has been written: a killed install leaves only a staging
directory, which nothing reads and the next install deletes.

A ``<version>-<provider>`` directory whose manifest is missing, unreadable or malformed is a
broken entry: it is never used, ``toolkit list`` names it, and ``toolkit remove --cuda
<version>`` deletes it. A cache path that is not a usable directory is a configuration error.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from build_tools.console import reporter
from build_tools.errors import ConfigurationError, ToolkitError
from build_tools.files import read_regular
from build_tools.toolkit.model import Provider, Toolkit

__all__ = ["MANIFEST", "BrokenEntry", "InstalledToolkit", "ToolkitCache", "disk_usage"]

MANIFEST = "build-tools-toolkit.json"
_SCHEMA = 1
_PROVIDERS: tuple[Provider, ...] = ("pypi", "debian", "system")
# The name of an installed root: <major>.<minor>-<provider>.
_ENTRY = re.compile(r"(\d{1,3}\.\d{1,3})-(pypi|debian|system)")
_VERSION = re.compile(r"\d{1,3}\.\d{1,3}")
_ARCH = re.compile(r"\d{2,3}[af]?")
_MAX_MANIFEST_BYTES = 2**20
_CACHE_HINT = "choose another with --cache-dir or BUILD_TOOLS_CACHE_DIR"


def disk_usage(path: Path) -> int:
    """Bytes allocated under ``path``, symlinks not followed (what ``du -s`` reports)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in (*dirnames, *filenames):
            with contextlib.suppress(FileNotFoundError):
                total += (Path(dirpath) / name).lstat().st_blocks * 512
    return total


@dataclass(frozen=True, kw_only=True)
class InstalledToolkit:
    """A toolkit recorded in the cache, with what ``toolkit list`` shows about it."""

    toolkit: Toolkit
    packages: tuple[str, ...]
    installed_at: str

    def size_bytes(self) -> int:
        return disk_usage(self.toolkit.root)

    def to_json(self) -> dict[str, Any]:
        tk = self.toolkit
        return {
            "version": tk.version,
            "full_version": tk.full_version,
            "provider": tk.provider,
            "path": str(tk.root),
            "nvcc": str(tk.nvcc),
            "sass_archs": list(tk.sass_archs),
            "ptx_archs": list(tk.ptx_archs),
            "size_bytes": self.size_bytes(),
            "packages": list(self.packages),
            "installed_at": self.installed_at,
        }


@dataclass(frozen=True, kw_only=True)
class BrokenEntry:
    """A ``<version>-<provider>`` directory that is not a complete install, and why."""

    root: Path
    version: str
    provider: str
    reason: str


class _Malformed(Exception):
    """A manifest that cannot be read or does not say what an install needs."""


def _manifest_text(data: dict[str, Any], key: str, pattern: re.Pattern[str] | None = None) -> str:
    value = data.get(key)
    if not isinstance(value, str) or (pattern is not None and not pattern.fullmatch(value)):
        raise _Malformed(f"'{key}' is {value!r}")
    return value


def _manifest_list(
    data: dict[str, Any], key: str, pattern: re.Pattern[str] | None
) -> tuple[str, ...]:
    value = data.get(key, [] if pattern is None else None)
    if not isinstance(value, list) or not all(
        isinstance(item, str | int) and not isinstance(item, bool) for item in value
    ):
        raise _Malformed(f"'{key}' is not a list of names")
    items = tuple(str(item) for item in value)
    if pattern is not None and not all(pattern.fullmatch(item) for item in items):
        raise _Malformed(f"'{key}' holds something that is not an arch number")
    return items


def _check_directory(path: Path, what: str) -> None:
    """``path`` is a directory or does not exist yet; anything else is a configuration error."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return
    except OSError as error:
        reason = "a path under a file" if error.errno == errno.ENOTDIR else error.strerror
        raise ConfigurationError(
            f"{what} {path} is not usable: {reason}", hint=_CACHE_HINT
        ) from None
    if not stat.S_ISDIR(mode):
        raise ConfigurationError(f"{what} {path} is not a directory", hint=_CACHE_HINT)


class ToolkitCache:
    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir
        self.base = cache_dir / "toolkits"

    def check(self) -> None:
        """Fail with one line when the cache path cannot hold toolkits (before touching it)."""
        _check_directory(self.cache_dir, "the cache directory")
        _check_directory(self.base, "the toolkit cache")

    def root_for(self, version: str, provider: Provider) -> Path:
        return self.base / f"{version}-{provider}"

    def downloads_for(self, version: str, provider: Provider) -> Path:
        return self.base / "downloads" / f"{provider}-{version}"

    def log_path(self, version: str, provider: Provider, what: str) -> Path:
        return self.base / "logs" / f"{what}-{version}-{provider}.log"

    # -- reading -------------------------------------------------------------------------------

    def _read(self, root: Path) -> InstalledToolkit:
        """The manifest of ``root`` as an install; raises _Malformed saying what is wrong."""
        try:
            raw = read_regular(root / MANIFEST, limit=_MAX_MANIFEST_BYTES)
        except FileNotFoundError:
            raise _Malformed("it has no manifest (an interrupted or foreign install)") from None
        except OSError as error:
            raise _Malformed(f"its manifest cannot be read: {error.strerror}") from None
        try:
            data = json.loads(raw.decode("utf-8"))
        except (ValueError, RecursionError):  # bad UTF-8 or JSON, absurd nesting or numbers
            raise _Malformed("its manifest is not valid JSON") from None
        if not isinstance(data, dict) or data.get("schema") != _SCHEMA:
            raise _Malformed("its manifest has an unknown layout")
        provider = data.get("provider")
        if provider not in _PROVIDERS:
            raise _Malformed(f"its manifest names the provider {provider!r}")
        if not (root / "bin" / "nvcc").is_file():
            raise _Malformed("it has no bin/nvcc")
        toolkit = Toolkit(
            version=_manifest_text(data, "version", _VERSION),
            full_version=_manifest_text(data, "full_version"),
            provider=cast(Provider, provider),
            root=root,
            nvcc=root / "bin" / "nvcc",
            sass_archs=_manifest_list(data, "sass_archs", _ARCH),
            ptx_archs=_manifest_list(data, "ptx_archs", _ARCH),
        )
        installed_at = data.get("installed_at", "")
        return InstalledToolkit(
            toolkit=toolkit,
            packages=_manifest_list(data, "packages", None),
            installed_at=installed_at if isinstance(installed_at, str) else "",
        )

    def load(self, root: Path) -> InstalledToolkit | None:
        """The manifest of ``root`` if it is a complete install, else None."""
        try:
            return self._read(root)
        except _Malformed:
            return None

    def _entries(self) -> list[tuple[Path, re.Match[str]]]:
        if not self.base.is_dir():
            return []
        try:
            names = sorted(entry.name for entry in self.base.iterdir())
        except OSError as error:
            raise ConfigurationError(
                f"cannot read the toolkit cache {self.base}: {error.strerror}", hint=_CACHE_HINT
            ) from None
        found = []
        for name in names:
            match = _ENTRY.fullmatch(name)
            entry = self.base / name
            if match is not None and (entry.is_dir() or entry.is_symlink()):
                found.append((entry, match))
        return found

    def installed(self) -> list[InstalledToolkit]:
        found = []
        for entry, _ in self._entries():
            item = self.load(entry) if entry.is_dir() else None
            if item is not None:
                found.append(item)
        found.sort(key=lambda item: item.toolkit.version_tuple)
        return found

    def broken(self) -> list[BrokenEntry]:
        """Entries that look like installs but are not usable (never used; remove deletes)."""
        found = []
        for entry, match in self._entries():
            try:
                if not entry.is_dir():
                    raise _Malformed("it is a link to nothing")
                self._read(entry)
            except _Malformed as problem:
                found.append(
                    BrokenEntry(
                        root=entry, version=match[1], provider=match[2], reason=str(problem)
                    )
                )
        return found

    def find(self, version: str, provider: Provider) -> InstalledToolkit | None:
        return self.load(self.root_for(version, provider))

    # -- writing (call with the lock held) -----------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise installs and removals across processes (pytest workers, parallel CLIs)."""
        self.check()
        try:
            self.base.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise ConfigurationError(
                f"cannot create the toolkit cache {self.base}: {error.strerror}", hint=_CACHE_HINT
            ) from None
        lock_path = self.base / ".lock"
        try:
            handle = lock_path.open("a+")
        except IsADirectoryError:
            raise ToolkitError(
                f"{lock_path} is a directory, not the cache's lock file",
                hint="remove it (rmdir) and run again",
            ) from None
        except OSError as error:
            raise ConfigurationError(
                f"cannot write the toolkit cache {self.base}: {error.strerror}", hint=_CACHE_HINT
            ) from None
        with handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                reporter.notice(f"waiting for another toolkit install in {self.base} to finish")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def clean_stale(self) -> None:
        """Delete leftovers of killed installs/removals (only ever called under the lock)."""
        for entry in self.base.glob(".staging-*"):
            reporter.notice(f"removing the leftovers of an interrupted install: {entry.name}")
            shutil.rmtree(entry, ignore_errors=True)
        for entry in self.base.glob(".trash-*"):
            shutil.rmtree(entry, ignore_errors=True)

    @contextlib.contextmanager
    def staging(self, version: str, provider: Provider) -> Iterator[Path]:
        """A fresh directory on the cache's filesystem; deleted unless :meth:`commit` moved it."""
        import tempfile  # install and remove only: `plan` reads the cache at start-up

        self.base.mkdir(parents=True, exist_ok=True)
        path = Path(tempfile.mkdtemp(prefix=f".staging-{version}-{provider}-", dir=self.base))
        try:
            yield path
        finally:
            if path.exists():
                shutil.rmtree(path, ignore_errors=True)

    def commit(self, staging: Path, toolkit: Toolkit, packages: tuple[str, ...]) -> Path:
        """Write the manifest into ``staging`` and rename it to its final place."""
        manifest = {
            "schema": _SCHEMA,
            "version": toolkit.version,
            "full_version": toolkit.full_version,
            "provider": toolkit.provider,
            "sass_archs": list(toolkit.sass_archs),
            "ptx_archs": list(toolkit.ptx_archs),
            "packages": list(packages),
            "installed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        tmp = staging / (MANIFEST + ".tmp")
        tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        tmp.replace(staging / MANIFEST)
        staging.chmod(0o755)  # mkdtemp made it private; toolkits are shared read-only data
        final = self.root_for(toolkit.version, toolkit.provider)
        if final.exists() or final.is_symlink():
            self._discard(final)  # an incomplete root (no manifest) from an older layout
        staging.rename(final)
        return final

    def remove(self, root: Path) -> None:
        self._discard(root)

    def _discard(self, path: Path) -> None:
        import tempfile

        # Rename first (atomic: it stops counting at once), then delete at leisure.
        trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.base))
        path.rename(trash / path.name)
        shutil.rmtree(trash, ignore_errors=True)
