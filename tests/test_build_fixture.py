"""End-to-end builds of miniature G3/G4 trees with real cmake, ninja, nvcc and go."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, write_json_inventory
from ollama_fixture import write_fixture
from test_patches_support import fingerprint, hole_fixture

pytestmark = [pytest.mark.toolchain, pytest.mark.usefixtures("no_ambient_cuda")]


def cuobjdump_listing(toolkit: Toolkit, library: Path) -> list[str]:
    """`cuobjdump --list-elf --list-ptx` as ["ELF sm_86", "PTX sm_86", ...] (sorted)."""
    result = subprocess.run(
        [str(toolkit.root / "bin" / "cuobjdump"), "--list-elf", "--list-ptx", str(library)],
        capture_output=True,
        text=True,
        check=True,
    )
    entries = []
    for line in result.stdout.splitlines():
        kind = line.split()[0]
        arch = line.rsplit(".", 2)[-2]
        entries.append(f"{kind} {arch}")
    return sorted(entries)


def build(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def in_place(source: Path, workdir: Path, inventory: Path, *extra: str) -> list[str]:
    """`build` arguments for a fixture tree built in place with CUDA 12.4."""
    return [
        "build", "--source-dir", str(source), "--workdir", str(workdir),
        "--inventory", str(inventory), "--cuda", "12.4", *extra,
    ]  # fmt: skip


def log_of(workdir: Path, stem: str) -> str:
    (log,) = workdir.glob(f"logs/*/*-{stem}.log")
    return log.read_text()


@pytest.fixture(scope="module")
def seed_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_json_inventory(tmp_path_factory.mktemp("box") / "seed.json", SEED_BOX)


@pytest.fixture
def g4_source(tmp_path: Path) -> Path:
    return write_fixture(tmp_path / "ollama-g4", generation="G4", tag="v0.24.0")


@pytest.fixture
def no_ambient_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)


def test_g4_build_release_layout_planned_sass_and_incremental_rebuilds(
    tmp_path: Path,
    g4_source: Path,
    seed_inventory: Path,
    cuda12_toolkit: Toolkit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workdir = tmp_path / "work"
    common = [
        "build",
        "--source",
        str(g4_source),
        "--ref",
        "v0.24.0",
        "--workdir",
        str(workdir),
        "--inventory",
        str(seed_inventory),
        "--cuda",
        "12.4",
        "--compiler-cache",
        "none",
    ]
    code, out, err = build(capsys, *common, "--exclude-arch", "50", "--json")
    assert code == 0, err
    summary = json.loads(out)
    staging = Path(summary["staging_dir"])
    assert summary["plan"]["cuda_architectures"] == "86"
    assert summary["generation"] == "G4"
    assert [(a["library"].endswith("libggml-cuda.so"), a["ok"]) for a in summary["audit"]] == [
        (True, True)
    ]

    # The official release layout.
    lib = staging / "lib" / "ollama"
    assert (staging / "bin" / "ollama").is_file()
    assert {p.name for p in lib.glob("libggml-*.so")} == {
        "libggml-base.so",
        "libggml-cpu-x64.so",
        "libggml-cpu-sse42.so",
        "libggml-cpu-haswell.so",
    }
    cuda_lib = lib / "cuda_v12" / "libggml-cuda.so"
    assert cuda_lib.is_file()
    assert (lib / "cuda_v12" / "libcudart.so.12").exists()
    assert (lib / "cuda_v12" / "libcublas.so.12").exists()
    assert not (lib / "vulkan").exists()

    # Device code: exactly the plan - SASS and PTX for 86 (PTX goes to the highest arch).
    assert cuobjdump_listing(cuda12_toolkit, cuda_lib) == ["ELF sm_86", "PTX sm_86"]
    # The Go binary carries the version and release mode, like an official build.
    output = subprocess.run(
        [str(staging / "bin" / "ollama")], capture_output=True, text=True, check=True
    ).stdout
    assert "version=0.24.0" in output
    assert "mode=release" in output
    assert "cgo=7" in output

    # Unchanged inputs: nothing is recompiled.
    code, _, err = build(capsys, *common, "--exclude-arch", "50")
    assert code == 0, err
    assert "ninja: no work to do" in log_of(workdir, "build-cpu")
    assert "ninja: no work to do" in log_of(workdir, "build-cuda_v12")

    # Only the arch list changes: CUDA objects recompile, CPU objects do not.
    code, _, err = build(capsys, *common, "--arch", "75,86")
    assert code == 0, err
    assert "ninja: no work to do" in log_of(workdir, "build-cpu")
    cuda_log = log_of(workdir, "build-cuda_v12")
    assert "Building CUDA object" in cuda_log
    assert "Building C object" not in cuda_log
    assert cuobjdump_listing(cuda12_toolkit, cuda_lib) == ["ELF sm_75", "ELF sm_86", "PTX sm_86"]


def test_g3_build_sets_ollamas_minimum_from_the_plan(
    tmp_path: Path,
    seed_inventory: Path,
    cuda12_toolkit: Toolkit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_fixture(tmp_path / "ollama-g3", generation="G3", tag="v0.6.8")
    code, out, err = build(
        capsys,
        "build",
        "--source",
        str(source),
        "--ref",
        "v0.6.8",
        "--workdir",
        str(tmp_path / "work"),
        "--inventory",
        str(seed_inventory),
        "--exclude-arch",
        "50",
        "--cuda",
        "12.4",
        "--json",
    )
    assert code == 0, err
    summary = json.loads(out)
    assert summary["generation"] == "G3"
    staging = Path(summary["staging_dir"])
    # G3 installs CUDA into lib/ollama/cuda_v<major> by itself (no OLLAMA_RUNNER_DIR).
    cuda_lib = staging / "lib" / "ollama" / "cuda_v12" / "libggml-cuda.so"
    assert cuobjdump_listing(cuda12_toolkit, cuda_lib) == ["ELF sm_86", "PTX sm_86"]
    output = subprocess.run(
        [str(staging / "bin" / "ollama")], capture_output=True, text=True, check=True
    ).stdout
    # The M10 (cc 5.0) is below this minimum: G3 Ollama logs it "too old" and skips it.
    assert "minimum=8.6" in output
    assert "version=0.6.8" in output
    # `inspect` reads version and minimum back from the binary (Go omits -ldflags from the
    # build info under -trimpath) and so knows this Ollama skips the M10.
    code, out, err = build(
        capsys, "inspect", str(staging), "--inventory", str(seed_inventory), "--json"
    )
    assert code == 0, err
    report = json.loads(out)
    assert report["ollama_version"] == "0.6.8"
    assert report["generation"] == "G3"
    assert [g["ollama_uses"] for g in report["gpus"]] == [True] * 3 + [False] * 4


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_dry_run_prints_every_command_and_touches_nothing(
    tmp_path: Path,
    g4_source: Path,
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    workdir = tmp_path / "work"
    before = sorted(p.relative_to(g4_source) for p in g4_source.rglob("*"))
    code, _, err = build(
        capsys, "--dry-run", *in_place(g4_source, workdir, seed_inventory, "--exclude-arch", "50")
    )
    assert code == 0, err
    text = " ".join(err.split())
    for expected in (
        "would run:",
        "--preset CPU",
        "--preset 'CUDA 12'",
        "-DCMAKE_CUDA_ARCHITECTURES=86",
        "-DCUDAToolkit_ROOT=",
        "CGO_ENABLED=1",
        "GOTOOLCHAIN=local",
        "go build -trimpath -buildmode=pie",
    ):
        assert expected in text, expected
    assert not workdir.exists()
    assert sorted(p.relative_to(g4_source) for p in g4_source.rglob("*")) == before


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_validation_hole_ref_is_refused_unless_accepted(
    tmp_path: Path,
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_fixture(tmp_path / "hole", generation="G4", tag="v0.13.0", validates_cuda=False)
    # Without the shipped G4 fix (it is on by default for this range: see the next test).
    args = [
        "--dry-run",
        *in_place(source, tmp_path / "w", seed_inventory, "--exclude-arch", "50"),
        "--no-patch",
        "g4-cuda-init-validation",
    ]
    code, _, err = build(capsys, *args)
    assert code == 3
    assert "f8f107181" in err
    assert "CUDA_VISIBLE_DEVICES" in err
    code, _, err = build(capsys, *args, "--accept-validation-hole")
    assert code == 0, err
    assert "warning" in err


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_too_old_go_is_named(
    tmp_path: Path,
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_fixture(tmp_path / "future", generation="G4", go_version="1.99.0")
    code, _, err = build(capsys, "--dry-run", *in_place(source, tmp_path / "w", seed_inventory))
    assert code == 5
    assert "1.99.0" in err


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_audit_fails_the_build_when_the_tree_ignores_the_plan(
    tmp_path: Path,
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = write_fixture(tmp_path / "stubborn", generation="G4", override_archs="75;86")
    code, _, err = build(
        capsys, *in_place(source, tmp_path / "w", seed_inventory, "--exclude-arch", "50")
    )
    assert code == 7
    text = " ".join(err.split())
    assert "differs from the plan" in text
    assert "sm_75" in text


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_hole_ref_gets_the_g4_fix_by_default(
    tmp_path: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = hole_fixture(tmp_path / "hole")
    before = fingerprint(source)
    args = in_place(source, tmp_path / "w", seed_inventory, "--exclude-arch", "50", "--json")
    code, out, err = build(capsys, "--dry-run", *args)
    assert code == 0, err
    assert [p["series"] for p in json.loads(out)["patches"]] == ["g4-cuda-init-validation"]
    assert fingerprint(source) == before  # a dry run writes nothing
    code, out, err = build(capsys, *args, "--stop-after", "configure")
    assert code == 0, err
    assert [p["series"] for p in json.loads(out)["patches"]] == ["g4-cuda-init-validation"]
    assert '"CUDA"' in (source / "ml" / "device.go").read_text()
