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
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from build_tools.console import reporter
from build_tools.toolkit.model import Provider, Toolkit

__all__ = ["MANIFEST", "InstalledToolkit", "ToolkitCache", "disk_usage"]

MANIFEST = "build-tools-toolkit.json"
_SCHEMA = 1
_PROVIDERS: tuple[Provider, ...] = ("pypi", "debian", "system")


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


class ToolkitCache:
    def __init__(self, cache_dir: Path) -> None:
        self.base = cache_dir / "toolkits"

    def root_for(self, version: str, provider: Provider) -> Path:
        return self.base / f"{version}-{provider}"

    def downloads_for(self, version: str, provider: Provider) -> Path:
        return self.base / "downloads" / f"{provider}-{version}"

    def log_path(self, version: str, provider: Provider, what: str) -> Path:
        return self.base / "logs" / f"{what}-{version}-{provider}.log"

    # -- reading -------------------------------------------------------------------------------

    def load(self, root: Path) -> InstalledToolkit | None:
        """The manifest of ``root`` if it is a complete install, else None."""
        try:
            data = json.loads((root / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("schema") != _SCHEMA:
            return None
        provider = data.get("provider")
        if provider not in _PROVIDERS or not (root / "bin" / "nvcc").is_file():
            return None
        toolkit = Toolkit(
            version=str(data["version"]),
            full_version=str(data["full_version"]),
            provider=cast(Provider, provider),
            root=root,
            nvcc=root / "bin" / "nvcc",
            sass_archs=tuple(str(a) for a in data["sass_archs"]),
            ptx_archs=tuple(str(a) for a in data["ptx_archs"]),
        )
        return InstalledToolkit(
            toolkit=toolkit,
            packages=tuple(str(p) for p in data.get("packages", ())),
            installed_at=str(data.get("installed_at", "")),
        )

    def installed(self) -> list[InstalledToolkit]:
        if not self.base.is_dir():
            return []
        found = []
        for entry in sorted(self.base.iterdir()):
            if entry.name.startswith(".") or not entry.is_dir():
                continue
            item = self.load(entry)
            if item is not None:
                found.append(item)
        found.sort(key=lambda item: item.toolkit.version_tuple)
        return found

    def find(self, version: str, provider: Provider) -> InstalledToolkit | None:
        return self.load(self.root_for(version, provider))

    # -- writing (call with the lock held) -----------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Serialise installs and removals across processes (pytest workers, parallel CLIs)."""
        self.base.mkdir(parents=True, exist_ok=True)
        with (self.base / ".lock").open("a+") as handle:
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
        # Rename first (atomic: it stops counting at once), then delete at leisure.
        trash = Path(tempfile.mkdtemp(prefix=".trash-", dir=self.base))
        path.rename(trash / path.name)
        shutil.rmtree(trash, ignore_errors=True)
