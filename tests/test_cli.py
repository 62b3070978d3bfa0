"""The CLI as a user runs it: exit codes, one-line errors, JSON on stdout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, smi_csv, write_json_inventory
from ollama_fixture import write_fixture

REPO = Path(__file__).resolve().parent.parent


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m build_tools` in a child process, exactly as a user would."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("CUDA_HOME", None)
    full_env.pop("CUDA_PATH", None)
    return subprocess.run(
        [sys.executable, "-m", "build_tools", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=REPO,
        check=False,
    )


@pytest.fixture
def seed_inventory(tmp_path: Path) -> Path:
    return write_json_inventory(tmp_path / "seed-box.json", SEED_BOX)


@pytest.fixture(autouse=True)
def no_system_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plans here must not depend on whatever CUDA the test machine happens to have."""
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)


def test_seed_box_plan_from_inventory_file(
    seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["plan", "--inventory", str(seed_inventory), "--exclude-arch", "50", "--json"])
    assert code == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cuda_architectures"] == "86"
    assert [(g["name"], g["ollama_uses"]) for g in data["gpus"]] == [
        ("NVIDIA GeForce RTX 3060", True)
    ] * 3 + [("Tesla M10", False)] * 4
    assert data["archs"] == [{"arch": "86", "sass": True, "ptx": True}]
    assert data["ollama_generation"] == "G5"
    assert data["toolkit"] is None
    assert isinstance(data["warnings"], list)


def test_plan_preset_without_a_tree_says_it_used_the_built_in_table(
    seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["plan", "--inventory", str(seed_inventory), "--arch", "preset", "--ref", "v0.32.15"]
    args += ["--exclude-arch", "50,52,100,120"]  # CUDA 12.4 cannot compile 100 and 120
    assert main(args) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "--arch preset: CUDA 12 stock list from the built-in table (G5, lists since " in err
    assert main([*args, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["base"] == "preset"
    assert "built-in table" in data["stock_source"]


def test_nvidia_smi_csv_capture_is_an_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capture = tmp_path / "box.csv"
    capture.write_text(smi_csv(SEED_BOX, header=True))
    assert main(["plan", "--inventory", str(capture), "--exclude-arch", "50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["cuda_architectures"] == "86"
    assert len(data["gpus"]) == 7


@pytest.mark.usefixtures("fake_nvidia_smi")
def test_plan_finds_the_seven_gpus_through_nvidia_smi(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--exclude-arch", "50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inventory"]["source"] == "nvidia-smi"
    assert data["cuda_architectures"] == "86"
    assert [g["ollama_uses"] for g in data["gpus"]] == [True] * 3 + [False] * 4


def test_invalid_arch_is_one_line_exit_2_and_no_traceback() -> None:
    result = run_cli("plan", "--arch", "5O")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "'5O'" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_debug_shows_the_traceback() -> None:
    result = run_cli("--debug", "plan", "--arch", "5O")
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_detect_without_gpu_is_an_empty_inventory_not_an_error(
    tmp_path: Path,
) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    # NVML cannot load on a machine without the driver; keep PATH free of nvidia-smi.
    result = run_cli("detect", "--json", env={"PATH": f"{empty}:{Path(sys.executable).parent}"})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    if data["source"] == "nvml":
        pytest.skip("this machine has a working NVIDIA driver")
    assert data["gpus"] == []
    assert data["notices"]
    assert "Traceback" not in result.stderr


@pytest.mark.usefixtures("fake_nvidia_smi")
def test_detect_output_feeds_plan_inventory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    saved = tmp_path / "saved.json"
    assert main(["detect", "--output", str(saved)]) == 0
    capsys.readouterr()
    assert main(["plan", "--inventory", str(saved), "--exclude-arch", "50", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["inventory"]["source"] == "file"
    assert data["cuda_architectures"] == "86"


def test_with_mlx_is_refused_in_one_line_before_any_work(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    result = run_cli("build", "--with-mlx", "--arch", "86", "--workdir", str(workdir))
    assert result.returncode == 9
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: --with-mlx: this version cannot build")
    assert "cuDNN 9" in lines[0]
    assert not workdir.exists()


def test_empty_plan_exits_3(seed_inventory: Path) -> None:
    result = run_cli("plan", "--inventory", str(seed_inventory), "--exclude-arch", "50,86")
    assert result.returncode == 3
    assert "empty" in result.stderr


def test_unreadable_inventory_exits_4(tmp_path: Path) -> None:
    result = run_cli("plan", "--inventory", str(tmp_path / "missing.json"))
    assert result.returncode == 4
    assert "--inventory" in result.stderr


def test_bare_invocation_runs_the_default_build_command(
    seed_inventory: Path, tmp_path: Path
) -> None:
    source = write_fixture(tmp_path / "ollama", generation="G4")
    result = run_cli(
        "--dry-run",
        "--inventory",
        str(seed_inventory),
        "--exclude-arch",
        "50",
        "--source-dir",
        str(source),
        "--workdir",
        str(tmp_path / "work"),
        "--cuda",
        "12.4",
    )
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stderr.split())
    assert "CMAKE_CUDA_ARCHITECTURES=86" in text
    assert "would run:" in text
    assert "--preset 'CUDA 12'" in text


def test_unreachable_source_is_one_line_with_what_to_check(tmp_path: Path) -> None:
    result = run_cli(
        "build",
        "--source",
        str(tmp_path / "no-such-repo"),
        "--workdir",
        str(tmp_path / "w"),
        "--arch",
        "86",
        "--cuda",
        "12.4",
    )
    assert result.returncode == 8
    assert "cannot fetch 'v0.24.0'" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_teaches_the_main_job() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "--exclude-arch 50" in result.stdout
    plan_help = run_cli("plan", "--help")
    assert "--inventory" in plan_help.stdout
    assert "examples:" in plan_help.stdout


@pytest.mark.toolchain
def test_arch_50_against_a_real_cuda_13_nvcc_fails_naming_cuda_12(cuda13_toolkit: Toolkit) -> None:
    result = run_cli("plan", "--arch", "50", "--cuda-home", str(cuda13_toolkit.root))
    assert result.returncode == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert str(cuda13_toolkit.nvcc) in lines[0]  # judged by that nvcc's own lists
    assert "CUDA 6.0 to 12.x" in lines[0]
    assert "--cuda 12.4" in lines[0]


@pytest.mark.toolchain
def test_plan_reports_the_toolkit_it_validated_against(cuda12_toolkit: Toolkit) -> None:
    result = run_cli("plan", "--arch", "50,86", "--cuda", "12.4", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["toolkit"]["version"] == "12.4"
    assert data["toolkit"]["nvcc"] == str(cuda12_toolkit.nvcc)
    assert data["cuda_architectures"] == "50-real;86"
