"""The box's NVIDIA driver in the plan: which CUDA toolkit it can run, and the one choice.

A CUDA runtime refuses to start on a driver older than its release needs (table in
``toolkit.pins.MINIMUM_LINUX_DRIVERS``): an Ollama built with CUDA 13.0 on a 570 driver loads no
CUDA backend and runs on the CPU. The driver comes from the inventory (``detect`` records it),
or from ``--target-driver`` when the build is for a box that will be upgraded. Without either
nothing is guessed: the plan says that the driver was not checked.

:func:`choose_cuda` is the one place where ``plan``, ``build`` and ``deploy`` pick a toolkit
version; :func:`check_runs` is the one check of a version the user asked for.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from build_tools.errors import PlanError
from build_tools.gpus.driver import (
    CudaDriverVersion,
    DriverVersion,
    parse_cuda_driver_version,
    parse_driver_version,
)
from build_tools.gpus.inventory import Inventory
from build_tools.planning.archs import CudaArch
from build_tools.planning.cuda_support import (
    describe_support,
    installable_versions_for,
    version_tuple,
)
from build_tools.toolkit.pins import MINIMUM_LINUX_DRIVERS

__all__ = [
    "BoxDriver",
    "DriverSource",
    "box_driver",
    "check_runs",
    "choose_cuda",
    "driver_notices",
    "minimum_driver",
]

DriverSource = Literal["inventory", "--target-driver"]
TARGET_HINT = "--target-driver VERSION plans for a box whose driver will be upgraded"


def minimum_driver(cuda_version: str) -> DriverVersion | None:
    """The oldest driver that runs ``cuda_version`` (its table row, else the nearest older row
    of the same major); None where the table does not say."""
    wanted = version_tuple(cuda_version)
    rows = sorted(
        (version_tuple(version), driver)
        for version, driver in MINIMUM_LINUX_DRIVERS.items()
        if version_tuple(version)[0] == wanted[0] and version_tuple(version) <= wanted
    )
    if not rows:
        return None
    return parse_driver_version(rows[-1][1])


@dataclass(frozen=True, kw_only=True)
class BoxDriver:
    """What is known about the target box's driver: its version, or only the CUDA version it
    reports (an ``nvidia-smi`` header without a driver column), or both."""

    version: DriverVersion | None
    cuda: CudaDriverVersion | None  # the newest CUDA version the driver runs
    source: DriverSource

    def runs(self, cuda_version: str) -> bool:
        """Whether this driver runs a CUDA ``cuda_version`` runtime. Where the table has no row
        for the version, only the driver's own CUDA version can say no."""
        needed = minimum_driver(cuda_version)
        if self.version is not None and needed is not None:
            return self.version >= needed
        if self.cuda is not None:
            return version_tuple(cuda_version) <= (self.cuda.major, self.cuda.minor)
        return True

    def describe(self) -> str:
        parts = []
        if self.version is not None:
            parts.append(f"driver {self.version}")
        if self.cuda is not None:
            parts.append(f"CUDA {self.cuda} at most")
        origin = " (--target-driver)" if self.source == "--target-driver" else ""
        if not parts:
            return f"a driver of unknown version{origin}"
        if self.version is None:
            return f"a driver that runs {parts[0]}{origin}"
        return " that runs ".join(parts) + origin

    def to_json(self) -> dict[str, Any]:
        return {
            "version": None if self.version is None else self.version.text,
            "cuda_version": None if self.cuda is None else str(self.cuda),
            "source": self.source,
        }


def box_driver(inventory: Inventory, target_driver: str | None) -> BoxDriver | None:
    """``--target-driver`` (validated by its option parser), else the inventory's driver, else
    None. A target replaces the inventory's CUDA version too: it is a different driver."""
    if target_driver is not None:
        return BoxDriver(
            version=parse_driver_version(target_driver), cuda=None, source="--target-driver"
        )
    version = parse_driver_version(inventory.driver_version or "")
    cuda = parse_cuda_driver_version(inventory.cuda_driver_version or "")
    if version is None and cuda is None:
        return None
    return BoxDriver(version=version, cuda=cuda, source="inventory")


def _needs(cuda_version: str) -> str:
    needed = minimum_driver(cuda_version)
    if needed is None:
        return f"a driver that runs CUDA {cuda_version}"
    return f"driver {needed} or newer"


def check_runs(cuda_version: str, driver: BoxDriver | None, what: str) -> None:
    """A CUDA version the user chose (``what``: ``--cuda 13.0``, the toolkit at DIR) must run
    on the box's driver: PlanError (exit 3) naming the driver it needs."""
    if driver is None or driver.runs(cuda_version):
        return
    raise PlanError(
        f"{what}: CUDA {cuda_version} needs {_needs(cuda_version)}, but the box has "
        f"{driver.describe()}",
        hint=f"update the driver, choose an older --cuda, or {TARGET_HINT}",
    )


def choose_cuda(
    archs: Sequence[CudaArch],
    driver: BoxDriver | None,
    *,
    has_preset: Callable[[int], bool] | None = None,
    target: str = "this Ollama",
    split: str = "split the plan into builds that each need one toolkit, or use --cuda-home "
    "with a newer CUDA",
) -> str:
    """The newest CUDA version this tool can install that compiles every arch, that the target
    Ollama has a preset for (``has_preset`` of the major, when known) and that the driver runs.
    PlanError naming what ruled the rest out."""
    compiling = installable_versions_for(archs)
    with_preset = [v for v in compiling if has_preset is None or has_preset(version_tuple(v)[0])]
    runnable = [v for v in with_preset if driver is None or driver.runs(v)]
    if runnable:
        return runnable[0]
    names = ", ".join(a.name for a in archs)
    if not compiling:
        needs = "; ".join(f"{a.name} needs {describe_support(a.number, a.suffix)}" for a in archs)
        raise PlanError(
            f"no CUDA toolkit this tool can install compiles all of {names}",
            hint=f"{needs}; {split}",
        )
    if not with_preset:
        raise PlanError(
            f"{target} has no CUDA preset for {' or '.join(compiling)}, the toolkits that "
            f"compile {names}",
            hint="plan for another --ref, or split the plan",
        )
    assert driver is not None
    needs = "; ".join(f"CUDA {v} needs {_needs(v)}" for v in with_preset)
    raise PlanError(
        f"the box has {driver.describe()}, which runs none of CUDA {' or '.join(with_preset)}, "
        f"the toolkits that compile {names}",
        hint=f"{needs}; update the driver, or {TARGET_HINT}",
    )


def driver_notices(
    cuda_version: str, archs: Sequence[CudaArch], driver: BoxDriver | None
) -> tuple[str, ...]:
    """What the plan says about the driver: that it was not checked, or why a newer toolkit
    that compiles the plan was passed over."""
    if driver is None:
        return (
            "the inventory records no driver version, so the toolkit choice cannot check that "
            f"the box runs CUDA {cuda_version} (it needs {_needs(cuda_version)}); record it with "
            "`detect --output FILE` on the box, or pass --target-driver VERSION",
        )
    newer = [
        v
        for v in installable_versions_for(archs)
        if version_tuple(v) > version_tuple(cuda_version) and not driver.runs(v)
    ]
    if not newer:
        return (f"the box has {driver.describe()}: CUDA {cuda_version} runs on it",)
    passed = " and ".join(f"CUDA {v} needs {_needs(v)}" for v in newer)
    return (
        f"CUDA {cuda_version} because the box has {driver.describe()}, and {passed} "
        f"({TARGET_HINT})",
    )
