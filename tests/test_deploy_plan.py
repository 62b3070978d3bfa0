"""`deploy plan`: GPU groups with their own arch plan, toolkit, port and models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.console import reporter

from boxes import RTX_5090, SEED_BOX, inventory, uuid_for, write_json_inventory


@pytest.fixture
def seed(tmp_path: Path) -> Path:
    return write_json_inventory(tmp_path / "seed.json", SEED_BOX)


@pytest.fixture(autouse=True)
def messages_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reporter, "quiet", False)


def plan_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code = main(["deploy", "plan", *argv, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    data: dict[str, Any] = json.loads(captured.out)
    return data


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(["deploy", "plan", *argv])
    return code, capsys.readouterr().err


SEED_3060 = [uuid_for(i, "NVIDIA GeForce RTX 3060") for i in range(3)]
SEED_M10 = [uuid_for(i, "Tesla M10") for i in range(3, 7)]


def test_seed_box_gets_a_3060_group_and_an_m10_group_on_cuda_12_4(
    capsys: pytest.CaptureFixture[str], seed: Path
) -> None:
    data = plan_json(capsys, "--inventory", str(seed), "--model", "tiny-b=50")
    groups = {g["name"]: g for g in data["groups"]}
    assert list(groups) == ["86", "50"]
    assert groups["86"]["uuids"] == SEED_3060
    assert groups["50"]["uuids"] == SEED_M10
    assert groups["50"]["toolkit"] == {"version": "12.4", "provider": "debian"}
    # Without driver information the newest toolkit that compiles sm_86 is chosen.
    assert groups["86"]["toolkit"]["version"] == "13.0"
    assert groups["86"]["cuda_architectures"] == "86"
    assert groups["50"]["cuda_architectures"] == "50"
    assert [g["compute_capabilities"] for g in groups.values()] == [["8.6"], ["5.0"]]
    assert [g["port"] for g in groups.values()] == [11501, 11502]
    # The 86 group is the default: it takes every model not routed elsewhere.
    assert data["default_group"] == "86"
    assert groups["86"]["default"] is True
    assert groups["50"]["models"] == ["tiny-b"]
    assert data["models"] == {"tiny-b": "50"}
    # Each group's plan covers exactly its own GPUs, as `plan` would for them.
    assert [g["uuid"] for g in groups["50"]["plan"]["gpus"]] == SEED_M10
    assert all(g["ollama_uses"] for g in groups["50"]["plan"]["gpus"])
    # G5 uses only GPUs whose exact cc is compiled in: each build refuses the other group.
    assert groups["86"]["foreign_gpus_the_build_would_use"] == []
    assert groups["50"]["foreign_gpus_the_build_would_use"] == []
    assert data["unassigned_gpus"] == []
    assert data["warnings"] == []


def test_a_driver_that_only_runs_cuda_12_keeps_every_group_on_cuda_12(
    capsys: pytest.CaptureFixture[str], fake_nvidia_smi: Path
) -> None:
    del fake_nvidia_smi  # the seed box behind driver 550 (CUDA 12.4)
    data = plan_json(capsys)
    assert [(g["name"], g["toolkit"]["version"]) for g in data["groups"]] == [
        ("86", "12.4"),
        ("50", "12.4"),
    ]
    assert any("driver 550.54.14" in n and "cannot run" in n for n in data["notices"])


def test_explicit_groups_by_every_selector_kind(
    capsys: pytest.CaptureFixture[str], seed: Path
) -> None:
    data = plan_json(
        capsys,
        "--inventory",
        str(seed),
        "--group",
        f"big=index:0,1+{SEED_3060[2]}",
        "--group",
        "small=name:*m10*",
        "--model",
        "llama3.1:8b=big",
        "--model",
        "All-MiniLM:latest=small",
        "--default-group",
        "small",
        "--base-port",
        "12000",
        "--router-port",
        "12999",
    )
    groups = {g["name"]: g for g in data["groups"]}
    assert groups["big"]["uuids"] == SEED_3060
    assert groups["big"]["selector"] == f"index:0,1+{SEED_3060[2]}"
    assert groups["small"]["uuids"] == SEED_M10
    assert [g["port"] for g in data["groups"]] == [12000, 12001]
    assert data["router"] == {"listen": "127.0.0.1", "port": 12999}
    # Names as the router compares them: lower case, no ':latest'.
    assert data["models"] == {"llama3.1:8b": "big", "all-minilm": "small"}
    assert data["default_group"] == "small"


def test_a_gpu_in_two_groups_is_an_error(capsys: pytest.CaptureFixture[str], seed: Path) -> None:
    code, err = run(
        capsys, "--inventory", str(seed), "--group", "a=cc:8.6", "--group", "b=index:2,3"
    )
    assert code == 2
    assert "GPU 2 NVIDIA GeForce RTX 3060" in err
    assert "is in two groups, a and b" in err


def test_a_gpu_in_no_group_is_a_warning(capsys: pytest.CaptureFixture[str], seed: Path) -> None:
    data = plan_json(capsys, "--inventory", str(seed), "--group", "big=cc:8.6")
    assert [g["index"] for g in data["unassigned_gpus"]] == [3, 4, 5, 6]
    assert sum("is in no group: no instance will use it" in w for w in data["warnings"]) == 4
    code, err = run(capsys, "--inventory", str(seed), "--group", "big=cc:8.6")
    assert code == 0
    assert "warning: GPU 3 Tesla M10" in err


def test_a_group_no_installable_toolkit_builds_is_an_error(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # sm_50 needs CUDA < 13, sm_120 needs CUDA >= 12.8: neither 12.4 nor 13.0 compiles both.
    box = write_json_inventory(tmp_path / "box.json", [SEED_BOX[3], *RTX_5090])
    code, err = run(capsys, "--inventory", str(box), "--group", "all=cc:5.0,12.0")
    assert code == 3
    assert "group all: no CUDA toolkit this tool can install compiles all of 50, 120" in err
    assert "split the group" in err
    # One group per compute capability works: 12.4 for the M10, 13.0 for the 5090.
    data = plan_json(capsys, "--inventory", str(box))
    assert [(g["name"], g["toolkit"]["version"]) for g in data["groups"]] == [
        ("120", "13.0"),
        ("50", "12.4"),
    ]


def test_an_old_release_without_a_cuda_13_preset_and_with_a_minimum_rule(
    capsys: pytest.CaptureFixture[str], seed: Path
) -> None:
    data = plan_json(capsys, "--inventory", str(seed), "--ref", "v0.6.8", "--model", "x=50")
    assert data["ollama_generation"] == "G3"
    assert [g["toolkit"]["version"] for g in data["groups"]] == ["12.4", "12.4"]
    # G3 uses every GPU above the build's minimum: the M10 group's build (minimum 5.0) would
    # also take the 3060s, so only CUDA_VISIBLE_DEVICES keeps them apart - said as a warning.
    m10 = data["groups"][1]
    assert m10["foreign_gpus_the_build_would_use"] == SEED_3060
    assert sum("only the environment keeps it off" in w for w in data["warnings"]) == 3
    assert data["groups"][0]["foreign_gpus_the_build_would_use"] == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--model", "x=nosuch"], "--model x=nosuch: there is no group nosuch"),
        (["--model", "x=86", "--model", "x:latest=50"], "model x is routed to two groups"),
        (["--default-group", "nosuch"], "--default-group nosuch is not a group"),
        (["--group", "a=cc:8.6", "--group", "a=cc:5.0"], "--group names a more than once"),
        (["--group", "a=cc:7.5"], "--group a=cc:7.5: cc:7.5 matches no GPU"),
        (["--group", "a=index:9"], "index:9 matches no GPU"),
        (["--group", "A=cc:8.6"], "'A' is not a group name"),
        (["--group", "a=cc:86"], "'86' is not a compute capability"),
        (["--group", "a=gpu-1"], "is not a selector"),
        (["--model", "bad name=86"], "is not an Ollama model name"),
        (["--router-port", "11502"], "--router-port 11502 is also a group's port"),
        (["--base-port", "80"], "expected a TCP port from 1024 to 65535"),
    ],
)
def test_bad_groups_and_routes_are_usage_errors(
    capsys: pytest.CaptureFixture[str], seed: Path, argv: list[str], message: str
) -> None:
    code, err = run(capsys, "--inventory", str(seed), *argv)
    assert code == 2, err
    assert message in err


def test_an_empty_inventory_has_nothing_to_group(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    box = write_json_inventory(tmp_path / "empty.json", [])
    code, err = run(capsys, "--inventory", str(box))
    assert code == 3
    assert "the inventory has no GPUs" in err


def test_the_table_names_each_group_and_gpu(capsys: pytest.CaptureFixture[str], seed: Path) -> None:
    code, err = run(capsys, "--inventory", str(seed), "--model", "tiny-b=50")
    assert code == 0
    assert "86     0,1,2    8.6  86     13.0  11501  every model not routed" in err
    assert "50     3,4,5,6  5.0  50     12.4  11502  tiny-b" in err
    assert inventory(SEED_BOX).gpus[6].uuid in err
