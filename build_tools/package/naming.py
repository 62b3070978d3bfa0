"""Names of release artifacts: readable, filename-safe, and distinct for distinct plans.

Tarball stem: ``ollama-<version>-linux-<goarch>-cuda<major>-<archs>[-vulkan]`` where ``<archs>``
lists every planned arch as ``sm<N>`` (SASS) first, then ``ptx<N>`` (PTX), each in numeric order:
``61-real;86`` gives ``sm61-sm86-ptx86``, ``90a`` gives ``sm90a-ptx90a``. Only ``[a-z0-9]`` and
``-`` appear in that part, so the stem is safe in any filesystem, URL and shell. The archs and
their code kinds are the whole plan as far as the binaries are concerned; the CUDA minor version
and the inventory that led to the plan are recorded in the manifest, not the name.

Wheels carry the same variant as a PEP 440 local version label: ``0.24.0+cuda12.sm86.ptx86``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from build_tools.errors import ConfigurationError
from build_tools.planning.archs import CudaArch

__all__ = [
    "arch_label",
    "artifact_stem",
    "go_arch",
    "pep440_version",
    "wheel_local_label",
]

# platform.machine() -> GOARCH, for the architectures Ollama releases for Linux.
_GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")

# `git describe` output as Ollama tags it: v0.24.0, v0.13.1-rc1, v0.24.0-3-gabc1234.
_DESCRIBE = re.compile(
    r"^v?(?P<release>\d+(?:\.\d+)*)"
    r"(?:-?(?P<pre>rc|alpha|beta|a|b|pre)\.?(?P<pre_n>\d*))?"
    r"(?:-(?P<distance>\d+)-g(?P<sha>[0-9a-f]+))?$"
)
_PRE = {"alpha": "a", "a": "a", "beta": "b", "b": "b", "rc": "rc", "pre": "rc"}


def _sorted(archs: Iterable[CudaArch]) -> list[CudaArch]:
    return sorted(archs, key=lambda a: (a.number, a.suffix))


def _arch_tokens(archs: Iterable[CudaArch]) -> list[str]:
    ordered = _sorted(archs)
    return [f"sm{a.name}" for a in ordered if a.sass] + [f"ptx{a.name}" for a in ordered if a.ptx]


def arch_label(archs: Iterable[CudaArch]) -> str:
    """``sm61-sm86-ptx86``: every planned arch and code kind, filename-safe."""
    tokens = _arch_tokens(archs)
    if not tokens:
        raise ConfigurationError("cannot name a package for an empty architecture plan")
    return "-".join(tokens)


def go_arch(machine: str) -> str:
    """GOARCH for ``platform.machine()`` (the build host: the tool does not cross-compile)."""
    try:
        return _GOARCH[machine.lower()]
    except KeyError:
        raise ConfigurationError(
            f"cannot package for machine type '{machine}'",
            hint="Ollama's Linux releases exist for x86_64 (amd64) and aarch64 (arm64)",
        ) from None


def artifact_stem(
    version: str,
    goarch: str,
    cuda_major: int,
    archs: Iterable[CudaArch],
    *,
    with_vulkan: bool = False,
) -> str:
    """``ollama-0.24.0-linux-amd64-cuda12-sm86-ptx86``; see the module docstring."""
    safe_version = _UNSAFE.sub("-", version).strip("-.") or "unknown"
    stem = f"ollama-{safe_version}-linux-{goarch}-cuda{cuda_major}-{arch_label(archs)}"
    # A Vulkan backend is extra content under the same plan: it must not share the name.
    return stem + "-vulkan" if with_vulkan else stem


def pep440_version(describe: str) -> tuple[str, str | None]:
    """The public PEP 440 version of a ``git describe`` string and, when the checkout is not
    exactly at a tag, the commit as a local-label segment (``g<sha>``).

    ``v0.13.1-rc1`` -> ``0.13.1rc1``; ``v0.24.0-3-gabc1234`` -> ``0.24.0.post3`` + ``gabc1234``;
    anything unparseable (a bare commit) -> ``0`` + ``g<describe>``.
    """
    match = _DESCRIBE.match(describe.strip())
    if match is None:
        label = re.sub(r"[^a-z0-9]+", "", describe.lower())[:12] or "unknown"
        return "0", f"g{label}"
    version = ".".join(str(int(part)) for part in match["release"].split("."))
    if match["pre"]:
        version += f"{_PRE[match['pre']]}{int(match['pre_n'] or 0)}"
    if match["distance"] and int(match["distance"]) > 0:
        return f"{version}.post{int(match['distance'])}", f"g{match['sha']}"
    return version, None


def wheel_local_label(
    cuda_major: int,
    archs: Iterable[CudaArch],
    *,
    commit: str | None = None,
    with_vulkan: bool = False,
) -> str:
    """``cuda12.sm86.ptx86`` (PEP 440 local labels allow only ``[a-z0-9.]``)."""
    parts = [f"cuda{cuda_major}", *_arch_tokens(archs)]
    if with_vulkan:
        parts.append("vulkan")
    if commit:
        parts.append(commit)
    return ".".join(parts)
