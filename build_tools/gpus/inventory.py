"""GPU inventory values and their file formats (our JSON, or an ``nvidia-smi`` CSV capture).

An inventory is what ``detect`` finds on a machine; saved to a file it lets a CI builder
without a GPU plan for the target box.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from build_tools.errors import InventoryError

__all__ = ["Gpu", "Inventory", "InventorySource", "load_inventory", "parse_nvidia_smi_csv"]

InventorySource = Literal["nvml", "nvidia-smi", "file", "none"]


@dataclass(frozen=True, kw_only=True)
class Gpu:
    index: int
    uuid: str
    name: str
    cc_major: int
    cc_minor: int
    memory_total_mib: int | None = None
    mig_mode: str | None = None  # "enabled" / "disabled"; None where MIG does not exist

    @property
    def compute_capability(self) -> str:
        return f"{self.cc_major}.{self.cc_minor}"

    @property
    def arch_number(self) -> int:
        """The CUDA arch number of this GPU (cc 8.6 -> 86, 12.0 -> 120)."""
        return self.cc_major * 10 + self.cc_minor

    @property
    def label(self) -> str:
        return f"GPU {self.index} {self.name} (cc {self.compute_capability}, {self.uuid})"

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "uuid": self.uuid,
            "name": self.name,
            "compute_capability": self.compute_capability,
            "memory_total_mib": self.memory_total_mib,
            "mig_mode": self.mig_mode,
        }


@dataclass(frozen=True, kw_only=True)
class Inventory:
    gpus: tuple[Gpu, ...]
    source: InventorySource
    driver_version: str | None = None
    cuda_driver_version: str | None = None  # highest CUDA version the driver supports
    origin: str | None = None  # file path when loaded from a file
    notices: tuple[str, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "origin": self.origin,
            "driver_version": self.driver_version,
            "cuda_driver_version": self.cuda_driver_version,
            "gpus": [gpu.to_json() for gpu in self.gpus],
            "notices": list(self.notices),
        }


def _parse_cc(text: str, where: str) -> tuple[int, int]:
    try:
        major, minor = text.strip().split(".")
        return int(major), int(minor)
    except ValueError:
        raise InventoryError(
            f"{where}: compute capability '{text}' is not of the form X.Y",
            hint="capture with nvidia-smi --query-gpu=index,uuid,name,compute_cap,memory.total "
            "--format=csv",
        ) from None


def _optional_int(text: str) -> int | None:
    cleaned = text.strip().split(" ")[0]
    return int(float(cleaned)) if cleaned and cleaned[0].isdigit() else None


def _mig(text: str) -> str | None:
    value = text.strip().lower()
    return value if value in {"enabled", "disabled"} else None


# Column order of our own nvidia-smi query (detect.py) and of the documented plain capture.
DEFAULT_COLUMNS = ("index", "uuid", "name", "compute_cap", "memory.total", "mig.mode.current")


def parse_nvidia_smi_csv(text: str, where: str = "nvidia-smi output") -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`` output.

    With a header, columns are found by name (``memory.total [MiB]`` included); without one the
    order of :data:`DEFAULT_COLUMNS` is assumed.
    """
    rows = [row for row in csv.reader(io.StringIO(text), skipinitialspace=True) if row]
    if not rows:
        return []
    header = [cell.strip().split(" [")[0].lower() for cell in rows[0]]
    if "index" in header or "uuid" in header:
        columns, body = header, rows[1:]
    else:
        columns, body = list(DEFAULT_COLUMNS), rows
    missing = {"uuid", "name", "compute_cap"} - set(columns)
    if missing:
        raise InventoryError(
            f"{where}: missing column(s) {', '.join(sorted(missing))}",
            hint="capture with nvidia-smi --query-gpu=index,uuid,name,compute_cap,memory.total "
            "--format=csv",
        )
    gpus: list[Gpu] = []
    for number, row in enumerate(body):
        cells = dict(zip(columns, (cell.strip() for cell in row), strict=False))
        major, minor = _parse_cc(cells["compute_cap"], f"{where}, row {number + 1}")
        gpus.append(
            Gpu(
                index=int(cells.get("index", number)),
                uuid=cells["uuid"],
                name=cells["name"],
                cc_major=major,
                cc_minor=minor,
                memory_total_mib=_optional_int(cells.get("memory.total", "")),
                mig_mode=_mig(cells.get("mig.mode.current", "")),
            )
        )
    return gpus


def _gpu_from_json(item: dict[str, Any], where: str) -> Gpu:
    try:
        major, minor = _parse_cc(str(item["compute_capability"]), where)
        return Gpu(
            index=int(item["index"]),
            uuid=str(item["uuid"]),
            name=str(item["name"]),
            cc_major=major,
            cc_minor=minor,
            memory_total_mib=item.get("memory_total_mib"),
            mig_mode=item.get("mig_mode"),
        )
    except KeyError as missing:
        raise InventoryError(
            f"{where}: GPU entry lacks {missing}",
            hint="write inventory files with `python -m build_tools detect --output FILE`",
        ) from None


def load_inventory(path: Path) -> Inventory:
    """Read a saved inventory: our JSON (``detect --output``) or an nvidia-smi CSV capture."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InventoryError(
            f"cannot read inventory file {path}: {error.strerror}",
            hint="check the --inventory path",
        ) from None
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise InventoryError(
                f"inventory file {path} is not valid JSON: {error}",
                hint="write it with `python -m build_tools detect --output FILE`",
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
            raise InventoryError(
                f"inventory file {path} has no 'gpus' list",
                hint="write it with `python -m build_tools detect --output FILE`",
            )
        gpus = tuple(
            _gpu_from_json(item, f"{path}, gpus[{n}]") for n, item in enumerate(data["gpus"])
        )
        return Inventory(
            gpus=gpus,
            source="file",
            driver_version=data.get("driver_version"),
            cuda_driver_version=data.get("cuda_driver_version"),
            origin=str(path),
        )
    return Inventory(
        gpus=tuple(parse_nvidia_smi_csv(text, str(path))), source="file", origin=str(path)
    )
