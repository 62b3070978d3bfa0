"""The driver's version numbers: strict parsers, and where detect and inventories record them."""

from __future__ import annotations

import json
import os
import sys
import types
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from build_tools.__main__ import main
from build_tools.errors import InventoryError
from build_tools.gpus.detect import detect_with_nvml
from build_tools.gpus.driver import parse_cuda_driver_version, parse_driver_version
from build_tools.gpus.inventory import load_inventory, nvidia_smi_driver_version

from boxes import SEED_BOX, inventory, smi_csv, uuid_for
from fake_nvml import make_fake_pynvml

examples = settings(max_examples=200, deadline=None, derandomize=True)

branch = st.integers(min_value=10, max_value=9999)
part = st.integers(min_value=0, max_value=999)


@examples
@given(branch, part, st.one_of(st.none(), part), st.booleans())
def test_every_driver_version_nvidia_prints_parses_back(
    first: int, second: int, third: int | None, pad: bool
) -> None:
    # 580.65.06: later parts may carry a leading zero; it is kept in the text, not compared.
    rest = f"{second:02d}" if pad else str(second)
    text = f"{first}.{rest}" + ("" if third is None else f".{third:02d}")
    parsed = parse_driver_version(f" {text}\n")
    assert parsed is not None
    assert parsed.text == text
    assert parsed.branch == first
    assert parsed.parts == (first, second) + (() if third is None else (third,))


@examples
@given(st.text(max_size=20))
def test_a_driver_version_is_digits_and_dots_or_nothing(text: str) -> None:
    parsed = parse_driver_version(text)
    if parsed is not None:
        assert all(c in "0123456789." for c in parsed.text)
        assert 2 <= len(parsed.parts) <= 3
        assert parse_driver_version(parsed.text) == parsed


@examples
@given(branch, part, st.integers(min_value=0, max_value=998), part)
def test_driver_versions_order_by_their_numbers(a: int, b: int, c: int, d: int) -> None:
    low = parse_driver_version(f"{a}.{b}.{c}")
    high = parse_driver_version(f"{a}.{b}.{c + 1}")
    other = parse_driver_version(f"{a}.{d}")
    assert low is not None
    assert high is not None
    assert other is not None
    assert low < high
    assert (low < other) == ((a, b, c) < (a, d))


@examples
@given(st.integers(min_value=1, max_value=99), st.integers(min_value=0, max_value=99))
def test_cuda_driver_versions_round_trip(major: int, minor: int) -> None:
    parsed = parse_cuda_driver_version(f"{major}.{minor}")
    assert parsed is not None
    assert (parsed.major, parsed.minor) == (major, minor)
    assert parse_cuda_driver_version(str(parsed)) == parsed


@examples
@given(st.text(max_size=12))
def test_a_cuda_driver_version_is_major_dot_minor_or_nothing(text: str) -> None:
    parsed = parse_cuda_driver_version(text)
    if parsed is not None:
        assert str(parsed) == ".".join(str(int(p)) for p in text.strip().split("."))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "570",
        "570.",
        ".86.15",
        "570.86.15.1",
        "570,86",
        "v570.86",
        "0570.86",
        "\uff15\uff17\uff10.86",
    ],
)
def test_what_is_not_a_driver_version(text: str) -> None:
    assert parse_driver_version(text) is None


@pytest.mark.parametrize("text", ["", "12", "12.", "12.8.1", "CUDA 12.8", "012.8", "1\uff12.8"])
def test_what_is_not_a_cuda_version(text: str) -> None:
    assert parse_cuda_driver_version(text) is None


UUIDS = [uuid_for(i, name) for i, (name, _, _) in enumerate(SEED_BOX)]


def test_nvml_records_driver_and_cuda_version() -> None:
    fake = make_fake_pynvml(SEED_BOX, uuids=UUIDS, driver="570.86.15", cuda=12080)
    found = detect_with_nvml(fake)
    assert (found.driver_version, found.cuda_driver_version) == ("570.86.15", "12.8")


def test_nvml_garbage_is_not_a_driver_version() -> None:
    fake: types.ModuleType = make_fake_pynvml(SEED_BOX, uuids=UUIDS, driver="N/A", cuda=-1)
    found = detect_with_nvml(fake)
    assert (found.driver_version, found.cuda_driver_version) == (None, None)
    assert len(found.gpus) == 7


def test_a_capture_with_a_driver_column_records_it(tmp_path: Path) -> None:
    capture = tmp_path / "box.csv"
    rows = smi_csv(SEED_BOX, header=False).splitlines()
    header = "index, uuid, name, compute_cap, memory.total [MiB], driver_version"
    capture.write_text("\n".join([header, *(f"{r}, 570.86.15" for r in rows)]) + "\n")
    assert load_inventory(capture).driver_version == "570.86.15"
    # detect's own headerless query ends with the driver
    assert nvidia_smi_driver_version(smi_csv(SEED_BOX, header=False, full=True)) == "550.54.14"


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (
            ["0, GPU-a, A, 8.6, 1 MiB, [N/A], 570.86.15", "1, GPU-b, B, 8.6, 1 MiB, [N/A], 550.1"],
            "2 different driver versions",
        ),
        (["0, GPU-a, A, 8.6, 1 MiB, [N/A], rm -rf"], "not of the form 570.86.15"),
    ],
)
def test_a_capture_with_a_bad_driver_column_is_refused(rows: list[str], message: str) -> None:
    with pytest.raises(InventoryError, match=message):
        nvidia_smi_driver_version("\n".join(rows))


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"driver_version": "latest"}, "driver version 'latest'"),
        ({"driver_version": 570}, "driver version '570'"),
        ({"driver_version": "570.86.15", "cuda_driver_version": "12"}, "CUDA driver version"),
        ({"cuda_driver_version": 12.8}, "CUDA driver version"),
    ],
)
def test_an_inventory_with_a_bad_driver_field_exits_4(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fields: dict[str, object], message: str
) -> None:
    data = {**inventory(SEED_BOX).to_json(), **fields}
    path = tmp_path / "box.json"
    path.write_text(json.dumps(data))
    assert main(["plan", "--inventory", str(path), "--exclude-arch", "50"]) == 4
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_detect_output_keeps_the_driver(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_nvidia_smi: Path
) -> None:
    del fake_nvidia_smi  # the seed box behind driver 550.54.14 (CUDA 12.4)
    saved = tmp_path / "saved.json"
    assert main(["detect", "--output", str(saved)]) == 0
    capsys.readouterr()
    loaded = load_inventory(saved)
    assert (loaded.driver_version, loaded.cuda_driver_version) == ("550.54.14", "12.4")


@pytest.mark.usefixtures("no_nvml")
def test_nvidia_smi_with_a_garbled_driver_column_keeps_the_gpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    rows = smi_csv(SEED_BOX, header=False).splitlines()
    query = "".join(f"{row}, [N/A], 5xx.yy\n" for row in rows)
    script = bindir / "nvidia-smi"
    script.write_text(
        f"#!{sys.executable}\nimport sys\n"
        f"sys.stdout.write({query!r} if sys.argv[1:] else 'CUDA Version: 12.8\\n')\n"
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    assert main(["detect", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["source"] == "nvidia-smi"
    assert len(data["gpus"]) == 7
    assert (data["driver_version"], data["cuda_driver_version"]) == (None, "12.8")
    assert any("'5xx.yy'" in n and "stays unknown" in n for n in data["notices"])
