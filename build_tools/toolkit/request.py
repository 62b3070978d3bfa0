"""Toolkit options of a command (``--cuda``, ``--toolkit-provider``, ``--cuda-home``), resolved."""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast, get_args

from build_tools.errors import ConfigurationError, ToolkitError
from build_tools.paths import default_cache_dir
from build_tools.runner import Runner
from build_tools.toolkit.cache import ToolkitCache
from build_tools.toolkit.install import SOURCES, install_toolkit
from build_tools.toolkit.model import Provider, Toolkit
from build_tools.toolkit.system import environment_cuda_home, find_system_toolkit

__all__ = [
    "INSTALLABLE_VERSIONS",
    "PROVIDERS",
    "ToolkitRequest",
    "add_toolkit_arguments",
    "default_provider",
    "normalize_cuda_version",
    "resolve_toolkit",
    "toolkit_request_from_args",
]

PROVIDERS: tuple[Provider, ...] = cast(tuple[Provider, ...], get_args(Provider))
_VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.\d+)*$")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


# Every CUDA version some provider can install, newest first: the one list the planner and the
# build choose from (cuda_support.REACHABLE_CUDA_VERSIONS), derived from the providers' pins.
INSTALLABLE_VERSIONS: tuple[str, ...] = tuple(
    sorted({v for source in SOURCES.values() for v in source.versions()}, key=_version_key)[::-1]
)
# A bare major picks the newest installable minor of that major.
_MAJOR_DEFAULTS = {v.split(".")[0]: v for v in reversed(INSTALLABLE_VERSIONS)}


@dataclass(frozen=True, kw_only=True)
class ToolkitRequest:
    cuda_version: str | None  # "12.4", "13.0"; None = install nothing, use a system toolkit
    provider: Provider | None  # None = chosen by version
    cuda_home: Path | None  # explicit system toolkit (--cuda-home)
    cache_dir: Path


def normalize_cuda_version(text: str) -> str:
    """``"12.4.1"`` -> ``"12.4"``, ``"13"`` -> ``"13.0"``; ConfigurationError if malformed."""
    match = _VERSION_RE.match(text.strip())
    if match is None:
        raise ConfigurationError(
            f"'{text}' is not a CUDA version", hint="write it as MAJOR.MINOR, e.g. --cuda 12.4"
        )
    major, minor = match.groups()
    if minor is None:
        if major not in _MAJOR_DEFAULTS:
            raise ConfigurationError(
                f"no CUDA {major}.x toolkit is available",
                hint=f"available: {', '.join(sorted(INSTALLABLE_VERSIONS))}",
            )
        return _MAJOR_DEFAULTS[major]
    return f"{major}.{minor}"


def default_provider(version: str) -> Provider:
    """CUDA 12 comes from Debian (PyPI has no CUDA 12 compiler), CUDA 13 from PyPI wheels."""
    return "debian" if version.split(".", maxsplit=1)[0] == "12" else "pypi"


def resolve_toolkit(
    request: ToolkitRequest,
    runner: Runner,
    *,
    install: bool,
    environ: Mapping[str, str] | None = None,
) -> Toolkit | None:
    """The toolkit a command should build with.

    - ``provider == "system"`` or a ``cuda_home``: the toolkit already on the machine (its
      version must match ``cuda_version`` when one is given).
    - ``cuda_version`` given: the cached install, installed on demand when ``install`` is true
      (under --dry-run, the planned toolkit with the pinned version's arch lists).
    - neither: the nvcc on PATH if there is one, else None.
    """
    env = os.environ if environ is None else environ
    version = request.cuda_version
    if request.provider == "system" or (request.cuda_home is not None and request.provider is None):
        toolkit = find_system_toolkit(runner, cuda_home=request.cuda_home, environ=env)
        if toolkit is None:
            raise ToolkitError(
                "no CUDA toolkit found on this machine (checked CUDA_HOME, CUDA_PATH, PATH)",
                hint="pass --cuda-home DIR, or let the tool install one: --cuda 12.4 or 13.0",
            )
        if version is not None and toolkit.version != version:
            raise ToolkitError(
                f"the system toolkit at {toolkit.root} is CUDA {toolkit.version}, not {version}",
                hint=f"drop --cuda-home/--toolkit-provider system to install CUDA {version}",
            )
        return toolkit
    provider: Provider | None = request.provider
    if provider is None:
        if version is None:
            return find_system_toolkit(runner, cuda_home=None, environ=env)
        provider = default_provider(version)
    elif version is None:
        # Only a provider was named: its newest pinned version.
        version = max(SOURCES[provider].versions(), key=_version_key)
    cached = ToolkitCache(request.cache_dir).find(version, provider)
    if cached is not None:
        return cached.toolkit
    if not install:
        raise ToolkitError(
            f"CUDA {version} ({provider}) is not installed in {request.cache_dir}",
            hint=f"run: python -m build_tools toolkit install --cuda {version}",
        )
    return install_toolkit(
        version, provider, cache_dir=request.cache_dir, runner=runner, environ=env
    )


def add_toolkit_arguments(parser: argparse.ArgumentParser) -> None:
    """``--cuda``, ``--toolkit-provider``, ``--cuda-home`` and ``--cache-dir``."""
    group = parser.add_argument_group("CUDA toolkit")
    group.add_argument(
        "--cuda",
        metavar="VERSION",
        help="CUDA toolkit version to use, installed into the cache on demand: 12.4 (archs "
        "5.0-9.0, from Debian packages) or 13.0 (archs 7.5-12.1, from PyPI wheels)",
    )
    group.add_argument(
        "--toolkit-provider",
        choices=PROVIDERS,
        help="where the toolkit comes from (default: debian for 12.x, pypi for 13.x; "
        "'system' uses --cuda-home, CUDA_HOME, CUDA_PATH or nvcc on PATH)",
    )
    group.add_argument(
        "--cuda-home",
        type=Path,
        metavar="DIR",
        help="an installed CUDA toolkit root (containing bin/nvcc) to use instead of the cache",
    )
    group.add_argument(
        "--cache-dir",
        type=Path,
        metavar="DIR",
        help=f"cache for toolkits and downloads (default: {default_cache_dir()}, "
        "or $BUILD_TOOLS_CACHE_DIR)",
    )


def toolkit_request_from_args(
    args: argparse.Namespace, environ: Mapping[str, str]
) -> ToolkitRequest:
    """Turn parsed arguments into a request; reads CUDA_HOME/CUDA_PATH from ``environ``.

    An environment toolkit only counts when no version is requested: ``--cuda 12.4`` always
    means the pinned toolkit, so a stray CUDA_HOME cannot change what gets built.
    """
    version_arg: str | None = getattr(args, "cuda", None)
    version = normalize_cuda_version(version_arg) if version_arg else None
    provider = cast(Provider | None, getattr(args, "toolkit_provider", None))
    cuda_home: Path | None = getattr(args, "cuda_home", None)
    if cuda_home is None and (version is None or provider == "system"):
        cuda_home = environment_cuda_home(environ)
    if cuda_home is not None and provider not in (None, "system"):
        raise ConfigurationError(
            f"--cuda-home names a system toolkit, but --toolkit-provider is {provider}",
            hint="drop one of the two",
        )
    cache_dir: Path | None = getattr(args, "cache_dir", None)
    return ToolkitRequest(
        cuda_version=version,
        provider=provider,
        cuda_home=cuda_home,
        cache_dir=cache_dir if cache_dir is not None else default_cache_dir(dict(environ)),
    )
