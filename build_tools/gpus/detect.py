"""Find the local GPUs: NVML first, ``nvidia-smi`` second, otherwise an empty inventory.

No GPU, no driver, no NVML library: none of these is an error; the inventory is empty and
carries a notice saying why, so that planning with ``--arch`` or ``--inventory`` still works.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

from build_tools.errors import CommandFailedError, InventoryError, ToolNotFoundError
from build_tools.gpus.cpuinfo import CPUINFO, read_cpuinfo
from build_tools.gpus.inventory import Gpu, Inventory, parse_nvidia_smi_csv
from build_tools.runner import Runner

__all__ = ["detect_inventory", "detect_with_nvidia_smi", "detect_with_nvml"]

SMI_QUERY = "index,uuid,name,compute_cap,memory.total,mig.mode.current,driver_version"


class NvmlUnavailable(Exception):
    """NVML could not be loaded or initialised; the caller falls back to nvidia-smi."""


def _text(value: Any) -> str:
    # Older nvidia-ml-py releases return bytes, newer ones str.
    return value.decode() if isinstance(value, bytes) else str(value)


def _cuda_version_from_int(value: int) -> str:
    # NVML encodes CUDA 12.4 as 12040.
    return f"{value // 1000}.{(value % 1000) // 10}"


def _mig_mode(pynvml: ModuleType, handle: Any) -> str | None:
    try:
        current, _pending = pynvml.nvmlDeviceGetMigMode(handle)
    except pynvml.NVMLError:
        return None  # GPUs without MIG report NotSupported
    return "enabled" if current == pynvml.NVML_DEVICE_MIG_ENABLE else "disabled"


def detect_with_nvml(pynvml: ModuleType | None = None) -> Inventory:
    """Query NVML. ``pynvml`` may be injected (tests pass a module that behaves like NVML)."""
    if pynvml is None:
        try:
            import pynvml as loaded
        except ImportError as error:  # the dependency is missing from this environment
            raise NvmlUnavailable(f"pynvml not importable: {error}") from None
        pynvml = loaded
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as error:
        raise NvmlUnavailable(f"NVML could not be initialised: {error}") from None
    try:
        driver = _text(pynvml.nvmlSystemGetDriverVersion())
        cuda = _cuda_version_from_int(int(pynvml.nvmlSystemGetCudaDriverVersion()))
        gpus = []
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            handle = pynvml.nvmlDeviceGetHandleByIndex(index)
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
            gpus.append(
                Gpu(
                    index=index,
                    uuid=_text(pynvml.nvmlDeviceGetUUID(handle)),
                    name=_text(pynvml.nvmlDeviceGetName(handle)),
                    cc_major=int(major),
                    cc_minor=int(minor),
                    memory_total_mib=int(memory.total) // (1024 * 1024),
                    mig_mode=_mig_mode(pynvml, handle),
                )
            )
    except pynvml.NVMLError as error:
        raise NvmlUnavailable(f"NVML query failed: {error}") from None
    finally:
        with contextlib.suppress(pynvml.NVMLError):
            pynvml.nvmlShutdown()
    return Inventory(
        gpus=tuple(gpus), source="nvml", driver_version=driver, cuda_driver_version=cuda
    )


_CUDA_VERSION = re.compile(r"CUDA Version:\s*(\d+\.\d+)")


def detect_with_nvidia_smi(runner: Runner, nvidia_smi: str) -> Inventory:
    result = runner.run(
        [nvidia_smi, f"--query-gpu={SMI_QUERY}", "--format=csv,noheader,nounits"],
        probe=True,
        quick=True,
        what="nvidia-smi --query-gpu",
        hint="check that the NVIDIA driver is loaded (nvidia-smi should list the GPUs)",
    )
    lines = [line for line in result.output.splitlines() if line.strip()]
    gpus = parse_nvidia_smi_csv("\n".join(lines))
    driver = None
    if lines:
        driver = lines[0].rsplit(",", 1)[-1].strip() or None
    # The CUDA version the driver supports is only printed in the summary header.
    try:
        header = runner.run([nvidia_smi], probe=True, check=False, quick=True, what="nvidia-smi")
    except CommandFailedError:  # it answered the query; a summary that hangs only costs this
        header = None
    match = _CUDA_VERSION.search(header.output) if header is not None else None
    return Inventory(
        gpus=tuple(gpus),
        source="nvidia-smi",
        driver_version=driver,
        cuda_driver_version=match[1] if match else None,
    )


def detect_inventory(
    runner: Runner, *, path: str | None = None, cpuinfo: Path = CPUINFO
) -> Inventory:
    """Detect local GPUs, never failing for lack of a GPU or driver, and this machine's CPU
    flags (from ``cpuinfo``; a notice instead when it cannot be read or parsed).

    ``path`` is the PATH used to look for ``nvidia-smi`` (None: the process's PATH).
    """
    inventory = _detect_gpus(runner, path)
    try:
        cpu = read_cpuinfo(cpuinfo)
    except InventoryError as error:
        notice = f"CPU flags not recorded ({error.message}): --cpu-variants native will need them"
        return dataclasses.replace(inventory, notices=(*inventory.notices, notice))
    return dataclasses.replace(inventory, cpu=cpu)


def _detect_gpus(runner: Runner, path: str | None) -> Inventory:
    try:
        return detect_with_nvml()
    except NvmlUnavailable as nvml_problem:
        reason = str(nvml_problem)
    nvidia_smi = shutil.which("nvidia-smi", path=path)
    if nvidia_smi is None:
        return Inventory(
            gpus=(),
            source="none",
            notices=(
                f"no NVIDIA GPU found: {reason}, and nvidia-smi is not on PATH; "
                "plan with --arch LIST or --inventory FILE captured on the target machine",
            ),
        )
    try:
        inventory = detect_with_nvidia_smi(runner, nvidia_smi)
    except (CommandFailedError, ToolNotFoundError, InventoryError) as error:
        # A broken nvidia-smi (garbage, an error text, a hang) is like a missing driver.
        return Inventory(
            gpus=(),
            source="none",
            notices=(f"no NVIDIA GPU found: {reason}; {error.message}",),
        )
    return Inventory(
        gpus=inventory.gpus,
        source=inventory.source,
        driver_version=inventory.driver_version,
        cuda_driver_version=inventory.cuda_driver_version,
        notices=(f"NVML unavailable ({reason}); used nvidia-smi",),
    )
