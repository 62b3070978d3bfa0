"""A toolkit request (version, provider, explicit root, cache) and the toolkit it resolves to."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import cast, get_args

from build_tools.errors import ConfigurationError, ToolkitError
from build_tools.runner import Runner
from build_tools.toolkit.cache import ToolkitCache
from build_tools.toolkit.model import Provider, Toolkit
from build_tools.toolkit.pins import INSTALLABLE_VERSIONS, PROVIDER_VERSIONS
from build_tools.toolkit.system import find_system_toolkit

__all__ = [
    "INSTALLABLE_VERSIONS",
    "PROVIDERS",
    "ToolkitRequest",
    "default_provider",
    "normalize_cuda_version",
    "resolve_toolkit",
]

PROVIDERS: tuple[Provider, ...] = cast(tuple[Provider, ...], get_args(Provider))
_VERSION_RE = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.\d+)*\Z")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


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
        version = max(PROVIDER_VERSIONS[provider], key=_version_key)
    cached = ToolkitCache(request.cache_dir).find(version, provider)
    if cached is not None:
        return cached.toolkit
    if not install:
        raise ToolkitError(
            f"CUDA {version} ({provider}) is not installed in {request.cache_dir}",
            hint=f"run: python -m build_tools toolkit install --cuda {version}",
        )
    # The installers (apt, pip, wheels) load only when a toolkit is installed.
    from build_tools.toolkit.install import install_toolkit

    return install_toolkit(
        version, provider, cache_dir=request.cache_dir, runner=runner, environ=env
    )
