"""GPU inventory values and their file formats (our JSON, or an ``nvidia-smi`` CSV capture).

An inventory is what ``detect`` finds on a machine; saved to a file it lets a CI builder
without a GPU plan for the target box.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from build_tools.errors import InventoryError
from build_tools.files import read_regular
from build_tools.gpus.cpuinfo import CpuInfo, cpu_from_json

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
    cpu: CpuInfo | None = None  # the box's CPU (detect records it), for --cpu-variants native

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "cpu": None if self.cpu is None else self.cpu.to_json(),
            "origin": self.origin,
            "driver_version": self.driver_version,
            "cuda_driver_version": self.cuda_driver_version,
            "gpus": [gpu.to_json() for gpu in self.gpus],
            "notices": list(self.notices),
        }


_CAPTURE_HINT = (
    "capture with nvidia-smi --query-gpu=index,uuid,name,compute_cap,memory.total --format=csv, "
    "or write it with `python -m build_tools detect --output FILE`"
)
# Larger than any real inventory (a few hundred bytes per GPU), small enough to read at once.
MAX_INVENTORY_BYTES = 16 * 2**20
# Compute capabilities as NVIDIA prints them: 5.0 ... 12.1 (one minor digit).
_CC = re.compile(r"([1-9][0-9]?)\.([0-9])")
_INDEX = re.compile(r"[0-9]{1,5}")
_MEMORY = re.compile(r"([0-9]{1,9})(?:\.[0-9]+)?(?:\s*MiB)?")
_NOT_AVAILABLE = {"", "[n/a]", "n/a", "[not supported]", "not supported"}
# Control characters other than tab, CR and LF: never part of an inventory.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _bad(where: str, what: str) -> InventoryError:
    return InventoryError(f"{where}: {what}", hint=_CAPTURE_HINT)


def _shown(value: object) -> str:
    """A value from the file as it can be quoted in a one-line message."""
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text[:40] + ("..." if len(text) > 40 else ""))


def _parse_cc(text: str, where: str) -> tuple[int, int]:
    match = _CC.fullmatch(text.strip())
    if match is None:
        raise _bad(where, f"compute capability {_shown(text)} is not of the form X.Y (such as 8.6)")
    return int(match[1]), int(match[2])


def _optional_memory(text: str, where: str) -> int | None:
    cleaned = text.strip()
    if cleaned.lower() in _NOT_AVAILABLE:
        return None
    match = _MEMORY.fullmatch(cleaned)
    if match is None:
        raise _bad(where, f"memory.total {_shown(text)} is not a number of MiB")
    return int(match[1])


def _mig(text: str) -> str | None:
    value = text.strip().lower()
    return value if value in {"enabled", "disabled"} else None


def _check_text(text: str, where: str) -> None:
    if (found := _CONTROL.search(text)) is not None:
        raise _bad(where, f"contains a control character ({found[0]!r}); is it a text file?")


def _check_unique(gpus: list[Gpu], where: str) -> None:
    """Two entries for one GPU (a UUID or an index twice) would be planned for twice."""
    for key in ("uuid", "index"):
        seen: set[object] = set()
        for gpu in gpus:
            value = getattr(gpu, key)
            if value in seen:
                raise _bad(where, f"two GPUs have the {key} {_shown(value)}")
            seen.add(value)


# Column order of our own nvidia-smi query (detect.py) and of the documented plain capture.
DEFAULT_COLUMNS = ("index", "uuid", "name", "compute_cap", "memory.total", "mig.mode.current")
REQUIRED_COLUMNS = ("uuid", "name", "compute_cap")
# detect's own query adds driver_version after DEFAULT_COLUMNS.
MAX_COLUMNS = len(DEFAULT_COLUMNS) + 1


def _csv_rows(text: str, where: str) -> list[list[str]]:
    try:
        reader = csv.reader(io.StringIO(text), skipinitialspace=True, strict=True)
        return [row for row in reader if len(row) > 1 or (row and row[0].strip())]
    except csv.Error as error:
        raise _bad(where, f"not a readable CSV capture ({error})") from None


def parse_nvidia_smi_csv(text: str, where: str = "nvidia-smi output") -> list[Gpu]:
    """Parse ``nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`` output.

    With a header, columns are found by name (``memory.total [MiB]`` included) and every row
    has one cell per column; without one the order of :data:`DEFAULT_COLUMNS` is assumed and a
    row has at least index, uuid, name and compute_cap. Anything else (an error message, a
    short row, a bad value) is an :class:`InventoryError` naming the row.
    """
    _check_text(text, where)
    rows = _csv_rows(text, where)
    if not rows:
        return []
    header = [cell.strip().split(" [")[0].lower() for cell in rows[0]]
    if "index" in header or "uuid" in header:
        columns, body, least, most = header, rows[1:], len(header), len(header)
    else:
        columns, body, least, most = list(DEFAULT_COLUMNS), rows, 4, MAX_COLUMNS
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise _bad(where, f"missing column(s) {', '.join(missing)}")
    gpus: list[Gpu] = []
    for number, row in enumerate(body, start=1):
        here = f"{where}, row {number}"
        if not least <= len(row) <= most:
            expected = f"{least}" if least == most else f"{least} to {most}"
            raise _bad(here, f"has {len(row)} field(s), expected {expected} ({', '.join(columns)})")
        cells = dict(zip(columns, (cell.strip() for cell in row), strict=False))
        major, minor = _parse_cc(cells["compute_cap"], here)
        index_text = cells.get("index", str(number - 1))
        if _INDEX.fullmatch(index_text) is None:
            raise _bad(here, f"index {_shown(index_text)} is not a whole number")
        if not cells["uuid"]:
            raise _bad(here, "the uuid is empty")
        gpus.append(
            Gpu(
                index=int(index_text),
                uuid=cells["uuid"],
                name=cells["name"],
                cc_major=major,
                cc_minor=minor,
                memory_total_mib=_optional_memory(cells.get("memory.total", ""), here),
                mig_mode=_mig(cells.get("mig.mode.current", "")),
            )
        )
    _check_unique(gpus, where)
    return gpus


def _whole_number(item: dict[str, Any], key: str, where: str, *, required: bool) -> int | None:
    value = item.get(key)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise _bad(where, f"'{key}' must be a whole number of at least 0, not {_shown(value)}")
    return value


def _text(item: dict[str, Any], key: str, where: str) -> str:
    value = item[key]
    if not isinstance(value, str) or not value.strip():
        raise _bad(where, f"'{key}' must be a non-empty string, not {_shown(value)}")
    return value


def _gpu_from_json(item: object, where: str) -> Gpu:
    if not isinstance(item, dict):
        raise _bad(where, f"a GPU entry must be an object, not {_shown(item)}")
    try:
        cc = item["compute_capability"]
        if isinstance(cc, bool) or not isinstance(cc, str | int | float):
            raise _bad(where, f"compute capability {_shown(cc)} is not of the form X.Y")
        major, minor = _parse_cc(str(cc), where)
        index = _whole_number(item, "index", where, required=True)
        assert index is not None
        mig_mode = item.get("mig_mode")
        if mig_mode not in (None, "enabled", "disabled"):
            raise _bad(
                where, f"'mig_mode' must be enabled, disabled or null, not {_shown(mig_mode)}"
            )
        return Gpu(
            index=index,
            uuid=_text(item, "uuid", where),
            name=_text(item, "name", where),
            cc_major=major,
            cc_minor=minor,
            memory_total_mib=_whole_number(item, "memory_total_mib", where, required=False),
            mig_mode=mig_mode,
        )
    except KeyError as missing:
        raise InventoryError(
            f"{where}: GPU entry lacks {missing}",
            hint="write inventory files with `python -m build_tools detect --output FILE`",
        ) from None


def _read_text(path: Path, where: str) -> str:
    try:
        data = read_regular(path, limit=MAX_INVENTORY_BYTES)
    except OSError as error:
        raise InventoryError(
            f"cannot read {where}: {error.strerror}",
            hint="check the --inventory path",
        ) from None
    try:
        text = data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")
    except UnicodeDecodeError as error:
        raise _bad(where, f"not UTF-8 text (byte {error.start})") from None
    if not text.strip():
        raise _bad(where, "the file is empty")
    return text


def _load_json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise _bad(where, "JSON nested too deeply") from None
    except ValueError as error:  # JSONDecodeError, and integers longer than Python allows
        raise InventoryError(
            f"{where} is not valid JSON: {error}",
            hint="write it with `python -m build_tools detect --output FILE`",
        ) from None


def load_inventory(path: Path) -> Inventory:
    """Read a saved inventory: our JSON (``detect --output``) or an nvidia-smi CSV capture."""
    where = f"inventory file {path}"
    text = _read_text(path, where)
    if text.lstrip().startswith(("{", "[")):
        data = _load_json(text, where)
        if not isinstance(data, dict) or not isinstance(data.get("gpus"), list):
            raise InventoryError(
                f"{where} has no 'gpus' list",
                hint="write it with `python -m build_tools detect --output FILE`",
            )
        gpus = [_gpu_from_json(item, f"{where}, gpus[{n}]") for n, item in enumerate(data["gpus"])]
        _check_unique(gpus, where)
        cpu = data.get("cpu")
        return Inventory(
            gpus=tuple(gpus),
            cpu=None if cpu is None else cpu_from_json(cpu, where),
            source="file",
            driver_version=data.get("driver_version"),
            cuda_driver_version=data.get("cuda_driver_version"),
            origin=str(path),
        )
    return Inventory(gpus=tuple(parse_nvidia_smi_csv(text, where)), source="file", origin=str(path))
