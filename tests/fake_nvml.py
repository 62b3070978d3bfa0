"""A stand-in for the `pynvml` module that behaves like NVML on a given box.

It implements the calls detect.py makes, with NVML's conventions: bytes-or-str strings,
memory in bytes, CUDA driver version as 12040, NotSupported for MIG on consumer GPUs.
"""

from __future__ import annotations

import types
from dataclasses import dataclass


class NVMLError(Exception):
    pass


class NVMLError_LibraryNotFound(NVMLError):
    pass


class NVMLError_NotSupported(NVMLError):
    pass


@dataclass
class _Memory:
    total: int
    free: int
    used: int


def make_fake_pynvml(
    box: list[tuple[str, str, int]],
    *,
    uuids: list[str],
    driver: str = "550.54.14",
    cuda: int = 12040,
    mig_capable: frozenset[int] = frozenset(),
    missing_library: bool = False,
) -> types.ModuleType:
    module = types.ModuleType("pynvml")
    state = {"initialised": False, "shutdown_calls": 0}

    def nvmlInit() -> None:
        if missing_library:
            raise NVMLError_LibraryNotFound("NVML Shared Library Not Found")
        state["initialised"] = True

    def require_init() -> None:
        if not state["initialised"]:
            raise NVMLError("Uninitialized")

    def nvmlShutdown() -> None:
        state["shutdown_calls"] = int(state["shutdown_calls"]) + 1
        state["initialised"] = False

    def nvmlSystemGetDriverVersion() -> bytes:
        require_init()
        return driver.encode()  # older bindings return bytes

    def nvmlSystemGetCudaDriverVersion() -> int:
        require_init()
        return cuda

    def nvmlDeviceGetCount() -> int:
        require_init()
        return len(box)

    def nvmlDeviceGetHandleByIndex(index: int) -> int:
        require_init()
        if not 0 <= index < len(box):
            raise NVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetName(handle: int) -> str:
        return box[handle][0]

    def nvmlDeviceGetUUID(handle: int) -> str:
        return uuids[handle]

    def nvmlDeviceGetCudaComputeCapability(handle: int) -> tuple[int, int]:
        major, minor = box[handle][1].split(".")
        return int(major), int(minor)

    def nvmlDeviceGetMemoryInfo(handle: int) -> _Memory:
        total = box[handle][2] * 1024 * 1024
        return _Memory(total=total, free=total, used=0)

    def nvmlDeviceGetMigMode(handle: int) -> tuple[int, int]:
        if handle not in mig_capable:
            raise NVMLError_NotSupported("Not Supported")
        return 1, 1

    module.__dict__.update(
        NVMLError=NVMLError,
        NVMLError_LibraryNotFound=NVMLError_LibraryNotFound,
        NVMLError_NotSupported=NVMLError_NotSupported,
        NVML_DEVICE_MIG_ENABLE=1,
        nvmlInit=nvmlInit,
        nvmlShutdown=nvmlShutdown,
        nvmlSystemGetDriverVersion=nvmlSystemGetDriverVersion,
        nvmlSystemGetCudaDriverVersion=nvmlSystemGetCudaDriverVersion,
        nvmlDeviceGetCount=nvmlDeviceGetCount,
        nvmlDeviceGetHandleByIndex=nvmlDeviceGetHandleByIndex,
        nvmlDeviceGetName=nvmlDeviceGetName,
        nvmlDeviceGetUUID=nvmlDeviceGetUUID,
        nvmlDeviceGetCudaComputeCapability=nvmlDeviceGetCudaComputeCapability,
        nvmlDeviceGetMemoryInfo=nvmlDeviceGetMemoryInfo,
        nvmlDeviceGetMigMode=nvmlDeviceGetMigMode,
        state=state,
    )
    return module
