"""Asking a toolkit's nvcc what it is: version and supported architectures."""

from __future__ import annotations

import re
from pathlib import Path

from build_tools.errors import CommandFailedError, ToolkitError, ToolNotFoundError
from build_tools.runner import Runner
from build_tools.toolkit.model import Provider, Toolkit

__all__ = ["parse_arch_list", "parse_nvcc_version", "probe_toolkit"]

# "Cuda compilation tools, release 12.4, V12.4.131"
_RELEASE_RE = re.compile(r"release (\d+)\.(\d+), V(\d+\.\d+\.\d+)")


def parse_nvcc_version(text: str) -> tuple[str, str]:
    """``nvcc --version`` output -> (``"12.4"``, ``"12.4.131"``)."""
    match = _RELEASE_RE.search(text)
    if match is None:
        raise ToolkitError(
            "cannot read the CUDA version from 'nvcc --version'",
            hint=f"expected a line like 'release 12.4, V12.4.131', got: {text.strip()[:200]!r}",
        )
    major, minor, full = match.groups()
    return f"{major}.{minor}", full


def parse_arch_list(text: str, prefix: str) -> tuple[str, ...]:
    """``nvcc --list-gpu-code`` (prefix ``sm_``) or ``--list-gpu-arch`` (``compute_``) output.

    Returns the arch numbers without prefix, numerically sorted and de-duplicated. nvcc prints
    them without suffixes (90a/100f are accepted but not listed), so none are added here.
    """
    archs = {
        token[len(prefix) :]
        for token in text.split()
        if token.startswith(prefix) and token[len(prefix) :].isdigit()
    }
    return tuple(sorted(archs, key=int))


def _ask(runner: Runner, nvcc: Path, flag: str) -> str:
    """One nvcc question; an nvcc that cannot run, fails or hangs is a broken toolkit."""
    try:
        return runner.run([nvcc, flag], probe=True, quick=True, what=f"nvcc {flag}").output
    except (CommandFailedError, ToolNotFoundError) as error:
        raise ToolkitError(
            f"the CUDA toolkit at {nvcc.parent.parent} is not usable: {error.message}",
            hint="point --cuda-home (or CUDA_HOME) at a working toolkit, or install one with "
            "`toolkit install --cuda VERSION`",
        ) from None


def probe_toolkit(
    root: Path, provider: Provider, runner: Runner, *, nvcc: Path | None = None
) -> Toolkit:
    """Build a :class:`Toolkit` by running its nvcc (read-only, so it also runs under --dry-run)."""
    nvcc = nvcc or root / "bin" / "nvcc"
    if not nvcc.is_file():
        raise ToolkitError(f"no nvcc at {nvcc}", hint="point --cuda-home at a CUDA toolkit root")
    version, full_version = parse_nvcc_version(_ask(runner, nvcc, "--version"))
    sass = parse_arch_list(_ask(runner, nvcc, "--list-gpu-code"), "sm_")
    ptx = parse_arch_list(_ask(runner, nvcc, "--list-gpu-arch"), "compute_")
    if not sass or not ptx:
        raise ToolkitError(
            f"{nvcc} listed no GPU architectures",
            hint="the toolkit is incomplete; reinstall it with 'toolkit install'",
        )
    return Toolkit(
        version=version,
        full_version=full_version,
        provider=provider,
        root=root,
        nvcc=nvcc,
        sass_archs=sass,
        ptx_archs=ptx,
    )
