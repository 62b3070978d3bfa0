"""`inspect` on release-shaped installs and tarballs holding a library compiled by real nvcc."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest
from test_audit_real import archs, compile_library

from build_tools.__main__ import main
from build_tools.audit.layout import read_layout
from build_tools.audit.scan import ScannedTree, TreeFile
from build_tools.generations import Generation
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, write_json_inventory

PLAN = "86"  # what `plan --exclude-arch 50` gives the seed box: sm_86 + compute_86
RTX_3060, TESLA_M10 = "NVIDIA GeForce RTX 3060", "Tesla M10"
# What `go build -ldflags ...` records in the binary (its build info), as Ollama's release does.
GO_BUILD_INFO = (
    b'build\t-ldflags="-w -s \\"-X=github.com/ollama/ollama/version.Version=0.6.8-0-g1234567\\" '
    b'\\"-X=github.com/ollama/ollama/server.mode=release\\" '
    b'\\"-X=github.com/ollama/ollama/discover.CudaComputeMajorMin=6\\""\n'
)


@pytest.fixture(scope="module")
def cuda_library(cuda12_toolkit: Toolkit, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_library(
        cuda12_toolkit, archs(PLAN), tmp_path_factory.mktemp("lib") / "libggml-cuda.so"
    )


@pytest.fixture
def seed_inventory(tmp_path: Path) -> Path:
    return write_json_inventory(tmp_path / "seed-box.json", SEED_BOX)


def release_tree(
    root: Path,
    cuda_library: Path,
    *,
    llama_server: bool = True,
    build_info: bytes = b"",
    vulkan: bool = False,
) -> Path:
    """The official layout: bin/ollama, CPU libs in lib/ollama, CUDA in lib/ollama/cuda_v12."""
    lib = root / "lib" / "ollama"
    (lib / "cuda_v12").mkdir(parents=True)
    (root / "bin").mkdir()
    (root / "bin" / "ollama").write_bytes(b"\x7fELF placeholder\x00" + build_info)
    for name in ("libggml-base.so", "libggml-cpu-haswell.so", "libggml-cpu-x64.so"):
        (lib / name).write_bytes(b"placeholder")
    if llama_server:
        (lib / "llama-server").write_bytes(b"placeholder")
    shutil.copy(cuda_library, lib / "cuda_v12" / "libggml-cuda.so")
    (lib / "cuda_v12" / "libcudart.so.12").write_bytes(b"placeholder")
    if vulkan:
        (lib / "vulkan").mkdir()
        (lib / "vulkan" / "libggml-vulkan.so").write_bytes(b"placeholder")
    return root


def run_inspect(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main(["inspect", *args, "--json"])
    assert code == 0, capsys.readouterr().err
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def gpu_verdicts(data: dict[str, Any]) -> list[tuple[str, bool, str]]:
    return [(g["name"], g["ollama_uses"], g["cuda_coverage"]) for g in data["gpus"]]


def cuda_backends(data: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    return {b["name"]: (b["sass"], b["ptx"]) for b in data["backends"] if b["kind"] == "cuda"}


SEED_UNDER_EXACT_86 = [(RTX_3060, True, "exact")] * 3 + [(TESLA_M10, False, "none")] * 4


def test_g5_install_directory_with_the_seed_box(
    tmp_path: Path, cuda_library: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = release_tree(tmp_path / "install", cuda_library)
    data = run_inspect(capsys, str(root), "--inventory", str(seed_inventory))
    assert data["generation"] == "G5"
    assert "llama-server" in data["generation_source"]
    assert cuda_backends(data) == {"cuda_v12": (["86"], ["86"])}
    cpu = [b for b in data["backends"] if b["kind"] == "cpu"]
    assert cpu == [
        {"kind": "cpu", "name": "cpu", "dir": "lib/ollama", "variants": ["haswell", "x64"]}
    ]
    assert gpu_verdicts(data) == SEED_UNDER_EXACT_86
    assert {g["backend"] for g in data["gpus"] if g["ollama_uses"]} == {"cuda_v12"}
    assert all("500" in g["reason"] for g in data["gpus"] if not g["ollama_uses"])
    assert data["warnings"] == []
    (library,) = next(b for b in data["backends"] if b["kind"] == "cuda")["libraries"]
    assert library["path"] == "lib/ollama/cuda_v12/libggml-cuda.so"
    assert library["compressed_entries"] >= 1  # the PTX


def make_tarball(root: Path, out: Path, extra: dict[str, bytes]) -> Path:
    """`tar -czf out -C root .` plus hostile entries, written with tarfile."""
    with tarfile.open(out, "w:gz") as archive:
        archive.add(root, arcname=".")
        for name, data in extra.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return out


def test_release_tarball_is_read_in_place_and_hostile_entries_are_not_followed(
    tmp_path: Path, cuda_library: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = release_tree(tmp_path / "install", cuda_library)
    library = cuda_library.read_bytes()  # real device code: it would show up if followed
    hostile = {
        "../evil/cuda_v99/libggml-cuda.so": library,
        "/abs/cuda_v98/libggml-cuda.so": library,
    }
    work = tmp_path / "work"
    work.mkdir()
    tarball = make_tarball(root, work / "ollama-linux-amd64.tgz", hostile)
    data = run_inspect(capsys, str(tarball), "--inventory", str(seed_inventory))
    assert data["source_kind"] == "tarball"
    assert data["generation"] == "G5"
    assert cuda_backends(data) == {"cuda_v12": (["86"], ["86"])}
    assert gpu_verdicts(data) == SEED_UNDER_EXACT_86
    assert sorted(s["name"] for s in data["skipped_entries"]) == sorted(hostile)
    assert sum("skipped" in w for w in data["warnings"]) == 2
    # Nothing was extracted next to the tarball or above it.
    assert sorted(p.name for p in work.iterdir()) == ["ollama-linux-amd64.tgz"]
    assert not (tmp_path / "evil").exists()


@pytest.mark.parametrize("packed", [False, True], ids=["directory", "tarball"])
def test_mlx_backend_code_is_audited_apart_from_ggml(
    tmp_path: Path,
    cuda_library: Path,
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
    packed: bool,
) -> None:
    """v0.33's MLX CUDA backend brings device code from its own arch list, runs on CUDA device 0
    and checks no compute capability: inspect shows its code and names the GPUs it lacks."""
    root = release_tree(tmp_path / "install", cuda_library)
    mlx = root / "lib" / "ollama" / "mlx_cuda_v13"
    mlx.mkdir()
    shutil.copy(cuda_library, mlx / "libmlx.so")  # real device code for sm_86 / compute_86
    (mlx / "libmlxc.so").write_bytes(b"placeholder")
    target = make_tarball(root, tmp_path / "o.tgz", {}) if packed else root
    data = run_inspect(capsys, str(target), "--inventory", str(seed_inventory))
    (backend,) = (b for b in data["backends"] if b["kind"] == "mlx")
    assert backend["dir"] == "lib/ollama/mlx_cuda_v13"
    assert (backend["sass"], backend["ptx"]) == (["86"], ["86"])
    assert backend["runs_on"] == "CUDA device 0 only"
    assert [lib["path"] for lib in backend["libraries"]] == ["lib/ollama/mlx_cuda_v13/libmlx.so"]
    # ggml's verdicts are untouched: the MLX library is no CUDA runner directory.
    assert cuda_backends(data) == {"cuda_v12": (["86"], ["86"])}
    assert gpu_verdicts(data) == SEED_UNDER_EXACT_86
    (missing,) = (w for w in data["warnings"] if "no MLX code runs on" in w)
    assert missing.count(TESLA_M10) == 4
    assert RTX_3060 not in missing
    assert "CUDA_VISIBLE_DEVICES" in missing
    assert any("CUDA device 0" in n and "mlx_cuda_v13" in n for n in data["notices"])


def test_tar_zst_release(
    tmp_path: Path, cuda_library: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zstd = shutil.which("zstd")
    if zstd is None:
        pytest.skip("the zstd program is not installed")
    root = release_tree(tmp_path / "install", cuda_library)
    tarball = tmp_path / "ollama-linux-amd64.tar.zst"
    plain = make_tarball(root, tmp_path / "plain.tgz", {})
    with tarfile.open(plain) as source, tarfile.open(tmp_path / "plain.tar", "w") as target:
        for member in source:
            target.addfile(member, source.extractfile(member) if member.isreg() else None)
    subprocess.run([zstd, "-q", str(tmp_path / "plain.tar"), "-o", str(tarball)], check=True)
    data = run_inspect(capsys, str(tarball), "--inventory", str(seed_inventory))
    assert cuda_backends(data) == {"cuda_v12": (["86"], ["86"])}
    assert gpu_verdicts(data) == SEED_UNDER_EXACT_86


def test_v068_build_with_raised_minimum_is_g3_from_the_binary(
    tmp_path: Path, cuda_library: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = release_tree(tmp_path / "i", cuda_library, llama_server=False, build_info=GO_BUILD_INFO)
    data = run_inspect(capsys, str(root), "--inventory", str(seed_inventory))
    assert data["ollama_version"] == "0.6.8-0-g1234567"
    assert data["generation"] == "G3"
    assert "6.0" in data["rule"]
    # G3 ignores the compiled list: the raised minimum is what keeps the M10 out.
    assert gpu_verdicts(data) == SEED_UNDER_EXACT_86
    assert all("minimum" in g["reason"] for g in data["gpus"])
    assert data["warnings"] == []


def test_g3_or_g4_layout_without_version_warns_and_can_be_overridden(
    tmp_path: Path, cuda_library: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = release_tree(tmp_path / "i", cuda_library, llama_server=False)
    data = run_inspect(capsys, str(root), "--inventory", str(seed_inventory))
    assert data["generation_candidates"] == ["G3", "G4"]
    assert data["generation"] == "G4"
    assert gpu_verdicts(data) == SEED_UNDER_EXACT_86
    (warning,) = data["warnings"]
    assert "G3" in warning
    assert warning.count(TESLA_M10) == 4
    assert "--ollama-generation G3" in warning

    data = run_inspect(
        capsys, str(root), "--inventory", str(seed_inventory), "--ollama-generation", "g3"
    )
    # Stock G3 minimum 5.0 with no sm_50 code: the M10 is used and its runner would crash.
    assert gpu_verdicts(data) == [(RTX_3060, True, "exact")] * 3 + [(TESLA_M10, True, "none")] * 4
    assert [g["crash_risk"] for g in data["gpus"]] == [False] * 3 + [True] * 4
    assert sum("no kernel image" in w for w in data["warnings"]) == 4


def test_vulkan_backend_is_flagged(
    tmp_path: Path, cuda_library: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = release_tree(tmp_path / "i", cuda_library, vulkan=True)
    data = run_inspect(capsys, str(root), "--inventory", str(seed_inventory))
    assert {b["kind"] for b in data["backends"]} == {"cpu", "cuda", "vulkan"}
    (warning,) = data["warnings"]
    assert "Vulkan" in warning
    assert warning.count(TESLA_M10) == 4
    assert RTX_3060 not in warning
    assert "OLLAMA_VULKAN=0" in warning


def test_single_library_and_human_output(
    cuda_library: Path, seed_inventory: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = run_inspect(capsys, str(cuda_library), "--inventory", str(seed_inventory))
    assert data["source_kind"] == "library"
    assert cuda_backends(data) == {"cuda": (["86"], ["86"])}
    assert gpu_verdicts(data) == SEED_UNDER_EXACT_86

    assert main(["inspect", str(cuda_library), "--inventory", str(seed_inventory)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""  # human output goes to stderr
    assert "sm_86" in captured.err
    assert "compute_86" in captured.err
    assert captured.err.count("skips") == 4


@pytest.mark.parametrize(
    ("paths", "expected"),
    [
        # Layouts from docs/generations.md, "Install layout" of #g1 - #g5 (under lib/ollama/).
        (["libggml_cuda_v12.so", "libcublas.so.12"], ["G1"]),
        (["runners/cuda_v12_avx/libggml_cuda_v12.so", "runners/cpu_avx2/runner"], ["G2"]),
        (["cuda_v11/libggml-cuda.so", "cuda_v12/libggml-cuda.so"], ["G3"]),
        (["libggml-base.so", "libggml-cuda.so"], ["G3", "G4"]),
        (["cuda_v12/libggml-cuda.so", "cuda_v13/libggml-cuda.so"], ["G3", "G4"]),
        (["cuda_v12/libggml-cuda.so", "vulkan/libggml-vulkan.so"], ["G4"]),
        (["llama-server", "cuda_v13/libggml-cuda.so", "vulkan/libggml-vulkan.so"], ["G5"]),
        (["README.md"], []),
    ],
)  # fmt: skip
def test_generation_clues_from_the_layout(paths: list[str], expected: list[str]) -> None:
    files: tuple[TreeFile, ...] = (TreeFile("bin/ollama", "file", 1),)
    files += tuple(TreeFile(f"lib/ollama/{path}", "file", 1) for path in paths)
    tree = ScannedTree(source="x", source_kind="tarball", files=files, libraries=())
    layout = read_layout(tree)
    assert [g.name for g in layout.generations] == expected
    assert layout.lib_dir == "lib/ollama"
    assert all(isinstance(g, Generation) for g in layout.generations)
