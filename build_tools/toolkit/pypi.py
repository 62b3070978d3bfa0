"""Provider ``pypi``: CUDA 13 assembled from NVIDIA's wheels (no root, no system packages).

The pins are the component versions of the ``cuda-toolkit==13.0.1`` meta-package (CUDA 13.0
Update 1). Unlike CUDA 12's, the CUDA 13 wheels contain the whole compiler (nvcc, cicc,
cudafe++, fatbinary, nvlink) and the runtime wheel ships ``libcudart_static.a`` and
``libcudadevrt.a``, which CMake's compiler check links by default. They lack ``cuobjdump``
(``nvidia-cuda-cuobjdump`` starts at 13.2) and the driver, hence the generated libcuda stub.
"""

from __future__ import annotations

from pathlib import Path

from build_tools.errors import CommandFailedError, ToolkitError
from build_tools.runner import Runner
from build_tools.toolkit.layout import move_into
from build_tools.toolkit.model import Provider
from build_tools.toolkit.pins import PYPI_SPECS
from build_tools.toolkit.spec import ToolkitSpec
from build_tools.toolkit.wheels import extract_wheel, pip_download, wheel_members

__all__ = ["COMPILER_PARTS", "SPECS", "PypiSource", "missing_compiler_parts"]

SPECS = PYPI_SPECS

# What a wheel set must contain to be a compiler, as paths below the wheel's package directory.
COMPILER_PARTS = ("bin/nvcc", "bin/cudafe++", "bin/fatbinary", "bin/nvlink", "nvvm/bin/cicc")

_CU13_PREFIX = "nvidia/cu13/"


def missing_compiler_parts(members: list[str]) -> list[str]:
    """The parts of :data:`COMPILER_PARTS` that no member path ends with."""
    return [part for part in COMPILER_PARTS if not any(m.endswith("/" + part) for m in members)]


def _cu13_place(rel: str) -> str | None:
    if rel.startswith(".metadata/") or rel == "bin/nvcc.profile":
        return None  # provenance files; the profile is replaced by ours (layout.py)
    if rel.startswith("lib/"):
        return "lib64/" + rel[len("lib/") :]
    return rel


def _explain_cu12(version: str, downloads: Path, runner: Runner) -> ToolkitError:
    """Look inside the real ``nvidia-cuda-nvcc-cu12`` wheel and say why it cannot work."""
    requirement = f"nvidia-cuda-nvcc-cu12=={version}.*"
    fix = (
        "use '--cuda 12.4' with the debian provider (the default for 12.4), or '--cuda 13.0' "
        "(provider pypi) if every GPU is compute capability 7.5 or newer"
    )
    try:
        wheels = pip_download([requirement], downloads, runner)
    except CommandFailedError:
        return ToolkitError(f"PyPI has no nvidia-cuda-nvcc-cu12 wheel for CUDA {version}", hint=fix)
    if not wheels:  # --dry-run: nothing was downloaded to look into
        return ToolkitError(f"CUDA {version} cannot be assembled from PyPI wheels", hint=fix)
    members = wheel_members(wheels[0])
    missing = missing_compiler_parts(members)
    if not missing:  # a future cu12 wheel with a full compiler would land here
        return ToolkitError(
            f"{wheels[0].name} looks complete, but this version of build_tools has no pinned "
            f"CUDA {version} wheel set",
            hint=fix,
        )
    has = sorted({m.split("/", 2)[-1] for m in members if "/bin/" in m or "/nvvm/" in m})
    return ToolkitError(
        f"CUDA {version} cannot be assembled from PyPI: {wheels[0].name} contains only "
        f"{', '.join(has)} and no {', '.join(p.rsplit('/', 1)[-1] for p in missing)}",
        hint=fix,
    )


class PypiSource:
    name: Provider = "pypi"

    def spec_for(self, version: str, *, downloads: Path, runner: Runner) -> ToolkitSpec:
        spec = SPECS.get(version)
        if spec is not None:
            return spec
        if version.startswith("12."):
            raise _explain_cu12(version, downloads, runner)
        raise ToolkitError(
            f"the pypi provider has no pinned wheel set for CUDA {version}",
            hint=f"available: {', '.join(SPECS)}",
        )

    def fetch(self, spec: ToolkitSpec, downloads: Path, runner: Runner) -> None:
        pip_download(spec.packages, downloads, runner)

    def assemble(self, spec: ToolkitSpec, downloads: Path, root: Path, runner: Runner) -> None:
        for wheel in pip_download(spec.packages, downloads, runner):
            extract_wheel(wheel, root, prefix=_CU13_PREFIX, rename=_cu13_place)
        # FindCUDAToolkit and nvcc's LTO look for libnvvm under nvvm/lib64, as in NVIDIA's
        # installers; the nvvm wheel puts it next to the other libraries.
        for lib in sorted((root / "lib64").glob("libnvvm.so*")):
            move_into(lib, root / "nvvm" / "lib64" / lib.name)
