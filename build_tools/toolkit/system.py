"""Provider ``system``: a toolkit that is already on the machine.

Looked up, in order, at ``--cuda-home``, ``$CUDA_HOME``, ``$CUDA_PATH`` and the ``nvcc`` on
PATH. Nothing is downloaded or verified by compiling; the toolkit is probed with nvcc.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from pathlib import Path

from build_tools.console import reporter
from build_tools.errors import ToolkitError
from build_tools.runner import Runner
from build_tools.toolkit.model import Toolkit
from build_tools.toolkit.nvcc import probe_toolkit

__all__ = ["environment_cuda_home", "find_system_toolkit", "system_nvcc"]

_ENV_VARS = ("CUDA_HOME", "CUDA_PATH")


def environment_cuda_home(environ: Mapping[str, str]) -> Path | None:
    """``$CUDA_HOME`` or ``$CUDA_PATH`` when it holds a toolkit.

    A variable that points nowhere useful is only a warning: the user did not name it in this
    command, and CMake is always handed the chosen root explicitly (CUDAToolkit_ROOT).
    """
    for var in _ENV_VARS:
        value = environ.get(var)
        if not value:
            continue
        if (Path(value) / "bin" / "nvcc").is_file():
            return Path(value)
        reporter.warning(f"{var}={value} has no bin/nvcc; ignoring it")
    return None


def system_nvcc(*, cuda_home: Path | None, environ: Mapping[str, str]) -> tuple[Path, Path] | None:
    """(root, nvcc) of ``cuda_home`` (an error if it has no nvcc), else of the nvcc on PATH."""
    if cuda_home is not None:
        nvcc = cuda_home / "bin" / "nvcc"
        if not nvcc.is_file():
            raise ToolkitError(
                f"--cuda-home {cuda_home} has no bin/nvcc",
                hint="pass the toolkit root (the directory containing bin/nvcc and include/)",
            )
        return cuda_home, nvcc
    found = shutil.which("nvcc", path=environ.get("PATH"))
    if found is None:
        return None
    # /usr/local/cuda/bin/nvcc is often reached through /usr/local/cuda -> cuda-12.x; the root
    # is the directory above the real binary, where its include/ and lib64/ live.
    nvcc = Path(found).resolve()
    return nvcc.parent.parent, nvcc


def find_system_toolkit(
    runner: Runner, *, cuda_home: Path | None, environ: Mapping[str, str]
) -> Toolkit | None:
    located = system_nvcc(cuda_home=cuda_home, environ=environ)
    if located is None:
        return None
    root, nvcc = located
    return probe_toolkit(root, "system", runner, nvcc=nvcc)
