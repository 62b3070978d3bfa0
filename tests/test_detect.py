from __future__ import annotations

import json
import types
from pathlib import Path

import pytest

from build_tools.errors import InventoryError
from build_tools.gpus.detect import detect_inventory, detect_with_nvml
from build_tools.gpus.inventory import load_inventory, parse_nvidia_smi_csv
from build_tools.runner import Runner

from boxes import SEED_BOX, smi_csv, uuid_for, write_json_inventory
from fake_nvml import make_fake_pynvml

UUIDS = [uuid_for(i, name) for i, (name, _, _) in enumerate(SEED_BOX)]


def seed_nvml(**kwargs: object) -> types.ModuleType:
    return make_fake_pynvml(SEED_BOX, uuids=UUIDS, **kwargs)  # type: ignore[arg-type]


def test_nvml_reports_every_gpu_with_cc_memory_and_driver() -> None:
    fake = seed_nvml()
    inventory = detect_with_nvml(fake)
    assert inventory.source == "nvml"
    assert inventory.driver_version == "550.54.14"
    assert inventory.cuda_driver_version == "12.4"
    assert [g.compute_capability for g in inventory.gpus] == ["8.6"] * 3 + ["5.0"] * 4
    assert [g.uuid for g in inventory.gpus] == UUIDS
    assert inventory.gpus[0].memory_total_mib == 12288
    assert inventory.gpus[0].mig_mode is None  # consumer GPUs: NVML says NotSupported
    assert fake.state["shutdown_calls"] == 1


def test_nvml_reports_mig_mode_where_supported() -> None:
    fake = make_fake_pynvml(
        [("NVIDIA A100-SXM4-40GB", "8.0", 40960)], uuids=["GPU-a100"], mig_capable=frozenset({0})
    )
    assert detect_with_nvml(fake).gpus[0].mig_mode == "enabled"


def test_without_nvml_nvidia_smi_is_used(fake_nvidia_smi: Path) -> None:
    inventory = detect_inventory(Runner())
    assert inventory.source == "nvidia-smi"
    assert len(inventory.gpus) == 7
    assert [g.uuid for g in inventory.gpus] == UUIDS
    assert inventory.driver_version == "550.54.14"
    assert inventory.cuda_driver_version == "12.4"
    assert any("NVML unavailable" in n for n in inventory.notices)
    del fake_nvidia_smi


@pytest.mark.usefixtures("empty_path")
def test_without_nvml_and_nvidia_smi_the_inventory_is_empty_with_a_notice() -> None:
    inventory = detect_inventory(Runner())
    assert inventory.gpus == ()
    assert inventory.source == "none"
    assert "--inventory" in inventory.notices[0]


def test_nvidia_smi_csv_capture_with_header_and_units(tmp_path: Path) -> None:
    path = tmp_path / "box.csv"
    path.write_text(smi_csv(SEED_BOX, header=True))
    inventory = load_inventory(path)
    assert [g.compute_capability for g in inventory.gpus] == ["8.6"] * 3 + ["5.0"] * 4
    assert inventory.gpus[3].name == "Tesla M10"
    assert inventory.gpus[3].memory_total_mib == 8192


def test_json_inventory_round_trip(tmp_path: Path) -> None:
    path = write_json_inventory(tmp_path / "box.json", SEED_BOX)
    inventory = load_inventory(path)
    assert inventory.source == "file"
    assert inventory.origin == str(path)
    assert json.loads(path.read_text())["gpus"] == [g.to_json() for g in inventory.gpus]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"gpus": [{"index": 0}]}', "lacks"),
        ('{"devices": []}', "no 'gpus' list"),
        ("index, uuid, name, compute_cap\n0, GPU-x, Tesla M10, five\n", "X.Y"),
        ("index, name\n0, Tesla M10\n", "missing column"),
    ],
)
def test_bad_inventory_files_say_what_is_wrong(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad"
    path.write_text(content)
    with pytest.raises(InventoryError, match=message):
        load_inventory(path)


def test_missing_inventory_file() -> None:
    with pytest.raises(InventoryError, match="cannot read inventory file"):
        load_inventory(Path("/nonexistent/box.json"))


def test_csv_without_header_assumes_query_order() -> None:
    gpus = parse_nvidia_smi_csv(smi_csv(SEED_BOX, header=False, full=True))
    assert [g.mig_mode for g in gpus] == [None] * 7
    assert gpus[0].memory_total_mib == 12288
