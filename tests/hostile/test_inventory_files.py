"""Inventory files (``--inventory FILE``): JSON from ``detect --output`` or an nvidia-smi CSV.

A malformed file is exit 4 with one line naming the file and the problem; a valid one (a BOM
included: Windows editors write one) gives a plan. Each case runs
``plan --inventory FILE --arch 86 --json``: with an explicit arch list, the inventory decides
nothing but the coverage report, so only the file itself can fail the command.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest

from .conftest import Box
from .support import assert_clean_error, assert_ok, good_csv, good_json, run_main

GOOD: dict[str, Any] = good_json()
GPU: dict[str, Any] = GOOD["gpus"][0]


def _with_gpu(**changes: Any) -> bytes:
    data = copy.deepcopy(GOOD)
    gpu = data["gpus"][0]
    for key, value in changes.items():
        if value is KeyError:
            del gpu[key]
        else:
            gpu[key] = value
    return json.dumps(data).encode()


def _doc(**changes: Any) -> bytes:
    data = copy.deepcopy(GOOD)
    data.update(changes)
    return json.dumps(data).encode()


CSV = good_csv().encode()
CSV_NOHEADER = good_csv(header=False).encode()
ROW = CSV_NOHEADER.decode().strip()

# (case id, file bytes, expected exit code)
INVENTORY_CASES: list[tuple[str, bytes, int]] = [
    # --- valid files: a result ---
    ("json-valid", json.dumps(GOOD).encode(), 0),
    ("csv-valid-header", CSV, 0),
    ("csv-valid-noheader", CSV_NOHEADER, 0),
    ("json-no-gpus", _doc(gpus=[]), 0),
    ("csv-header-only", b"index, uuid, name, compute_cap, memory.total [MiB]\n", 0),
    ("json-cc-as-number", _with_gpu(compute_capability=8.6), 0),
    ("csv-memory-na", CSV.replace(b"12288 MiB", b"[N/A]"), 0),
    ("json-utf8-bom", b"\xef\xbb\xbf" + json.dumps(GOOD).encode(), 0),
    ("csv-utf8-bom", b"\xef\xbb\xbf" + CSV, 0),
    ("csv-crlf", CSV.replace(b"\n", b"\r\n"), 0),
    # --- unreadable or empty ---
    ("empty-file", b"", 4),
    ("whitespace-only", b"  \n\t\n", 4),
    ("non-utf8-bytes", b"\xff\xfe\x00garbage\x80\x81", 4),
    ("utf16-json", json.dumps(GOOD).encode("utf-16"), 4),
    ("nul-bytes-csv", CSV.replace(b"RTX", b"R\x00X"), 4),
    ("latin1-name", CSV.replace(b"RTX 3060", b"RTX 3060 \xe9"), 4),
    # --- JSON structure ---
    ("json-truncated", json.dumps(GOOD).encode()[:-10], 4),
    ("json-no-gpus-key", b'{"source": "file"}', 4),
    ("json-gpus-object", _doc(gpus={"0": GPU}), 4),
    ("json-gpus-string", _doc(gpus="GPU 0"), 4),
    ("json-gpu-entry-int", _doc(gpus=[1]), 4),
    ("json-gpu-entry-string", _doc(gpus=["GPU-0"]), 4),
    ("json-gpu-entry-null", _doc(gpus=[None]), 4),
    ("json-gpu-entry-list", _doc(gpus=[[0, "GPU-0", "x", "8.6"]]), 4),
    ("json-top-level-list", json.dumps([GPU]).encode(), 4),
    ("json-top-level-string", b'"gpus"', 4),
    ("json-deeply-nested-list", b'{"gpus": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", 4),
    ("json-deeply-nested-object", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000, 4),
    ("json-trailing-garbage", json.dumps(GOOD).encode() + b" trailing", 4),
    # --- JSON GPU fields ---
    ("json-missing-uuid", _with_gpu(uuid=KeyError), 4),
    ("json-missing-cc", _with_gpu(compute_capability=KeyError), 4),
    ("json-missing-index", _with_gpu(index=KeyError), 4),
    ("json-index-not-integer", _with_gpu(index="abc"), 4),
    ("json-index-float", _with_gpu(index=1.5), 4),
    ("json-index-null", _with_gpu(index=None), 4),
    ("json-index-bool", _with_gpu(index=True), 4),
    ("json-index-negative", _with_gpu(index=-1), 4),
    ("json-index-huge-digits", json.dumps(GOOD).replace('"index": 0', '"index": ' + "9" * 5000).encode(), 4),
    ("json-index-nan", json.dumps(GOOD).replace('"index": 0', '"index": NaN').encode(), 4),
    ("json-index-infinity", json.dumps(GOOD).replace('"index": 0', '"index": 1e999').encode(), 4),
    ("json-uuid-null", _with_gpu(uuid=None), 4),
    ("json-name-object", _with_gpu(name={"x": 1}), 4),
    ("json-cc-no-dot", _with_gpu(compute_capability="86"), 4),
    ("json-cc-three-parts", _with_gpu(compute_capability="8.6.1"), 4),
    ("json-cc-text", _with_gpu(compute_capability="Ampere"), 4),
    ("json-cc-negative", _with_gpu(compute_capability="-1.0"), 4),
    ("json-cc-negative-minor", _with_gpu(compute_capability="8.-6"), 4),
    ("json-cc-huge", _with_gpu(compute_capability="99999.9"), 4),
    ("json-cc-null", _with_gpu(compute_capability=None), 4),
    ("json-memory-text", _with_gpu(memory_total_mib="lots"), 4),
    ("json-memory-negative", _with_gpu(memory_total_mib=-5), 4),
    ("json-duplicate-uuids", _doc(gpus=[GPU, {**GPU, "index": 1}]), 4),
    ("json-duplicate-indexes", _doc(gpus=[GPU, {**GPU, "uuid": "GPU-other"}]), 4),
    # --- CSV structure ---
    ("csv-wrong-columns", b"foo, bar, baz\n1, 2, 3\n", 4),
    ("csv-missing-cc-column", b"index, uuid, name\n0, GPU-x, RTX\n", 4),
    ("csv-short-row", CSV + b"1, GPU-short\n", 4),
    ("csv-short-row-noheader", b"0, GPU-short\n", 4),
    ("csv-one-column", b"GPU 0\n", 4),
    ("csv-only-commas", b",,,,,\n", 4),
    ("csv-index-not-integer", CSV.replace(b"\n0, ", b"\nzero, "), 4),
    ("csv-cc-text", CSV.replace(b", 8.6,", b", Ampere,"), 4),
    ("csv-cc-negative", CSV.replace(b", 8.6,", b", -1.0,"), 4),
    ("csv-memory-overflow", CSV.replace(b"12288 MiB", b"1e999"), 4),
    ("csv-memory-two-dots", CSV.replace(b"12288 MiB", b"1.2.3"), 4),
    ("csv-field-too-large", b"index, uuid, name, compute_cap\n0, GPU-x, " + b"N" * 200_000 + b", 8.6\n", 4),
    ("csv-unterminated-quote", b'index, uuid, name, compute_cap\n0, GPU-x, "RTX, 8.6\n', 4),
    ("csv-duplicate-uuids", CSV + (ROW.replace("0, ", "1, ", 1) + "\n").encode(), 4),
    ("smi-driver-failure-text", b"NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running.\n", 4),
    ("smi-no-devices-text", b"No devices were found\n", 4),
    ("smi-error-line", b"Field \"compute_cap\" is not a valid field to query.\n", 4),
    ("yaml-instead", b"gpus:\n  - index: 0\n    name: RTX\n", 4),
    ("binary-elf", b"\x7fELF\x02\x01\x01" + b"\0" * 57, 4),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "expected"),
    [pytest.param(data, code, id=name) for name, data, code in INVENTORY_CASES],
)
def test_inventory_file(
    data: bytes, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    path = box.file("inventory", data)
    outcome = run_main(["plan", "--inventory", str(path), "--arch", "86", "--json"], capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_clean_error(outcome, expected, contains=["inventory"])


def _special_path(kind: str, box: Box) -> Path:
    root = box.root / "special"
    root.mkdir()
    path = root / "inventory"
    if kind == "missing":
        return path
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "dangling-symlink":
        path.symlink_to(root / "nowhere")
    elif kind == "under-a-file":
        path.write_text("{}")
        return path / "box.json"
    elif kind == "dev-null":
        return Path(os.devnull)
    elif kind == "empty-name":
        return Path()
    return path


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("missing", 4),
        ("directory", 4),
        ("symlink-loop", 4),
        ("dangling-symlink", 4),
        ("under-a-file", 4),
        ("dev-null", 4),
        ("empty-name", 4),
    ],
)
def test_inventory_path(
    kind: str, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _special_path(kind, box)
    outcome = run_main(["plan", "--inventory", str(path), "--arch", "86", "--json"], capsys)
    assert_clean_error(outcome, expected)


def test_inventory_is_read_by_inspect_too(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    """The same loader behind another command: same code, same one line."""
    bad = box.file("bad.json", _with_gpu(index="abc"))
    install = box.root / "install" / "lib" / "ollama"
    install.mkdir(parents=True)
    (install.parent.parent / "bin").mkdir()
    (install.parent.parent / "bin" / "ollama").write_bytes(b"not really ollama")
    outcome = run_main(["inspect", str(install.parent.parent), "--inventory", str(bad)], capsys)
    assert_clean_error(outcome, 4)


def test_wrong_columns_file_is_reported_with_its_name(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    path = box.file("columns.csv", b"foo, bar\n1, 2\n")
    outcome = run_main(["plan", "--inventory", str(path), "--arch", "86"], capsys)
    line = assert_clean_error(outcome, 4)
    assert "columns.csv" in line
