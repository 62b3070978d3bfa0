"""Packages of real fixture builds: two clean builds, identical bytes; manifest; wheel install.

Each build runs the real tool (cmake, ninja, nvcc, go) on the miniature G4 tree; packaging then
compresses its ~550 MB of cuBLAS, so this module takes a minute or two.
"""

from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.settings.groups import Compression
from build_tools.settings.groups import PackageFormat as Format

from boxes import SEED_BOX, write_json_inventory
from ollama_fixture import write_fixture

pytestmark = [pytest.mark.toolchain, pytest.mark.usefixtures("cuda12_toolkit")]

COMMIT_TIME = 1_735_689_600  # the fixture's commit date, 2025-01-01


@dataclass(frozen=True)
class Built:
    workdir: Path
    staging: Path
    package: dict[str, Any]  # PackageResult.to_json()

    def artifact(self, kind: str) -> Path:
        return Path(next(a["path"] for a in self.package["artifacts"] if a["kind"] == kind))

    def manifest(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.artifact("manifest").read_text())
        return data


def build_and_package(
    source: Path,
    inventory: Path,
    workdir: Path,
    dist: Path,
    *,
    formats: list[Format],
    compress: Compression,
) -> Built:
    """A clean build of the fixture, packaged by `build` itself."""
    args = [
        "build", "--source", str(source), "--ref", "v0.24.0", "--workdir", str(workdir),
        "--inventory", str(inventory), "--cuda", "12.4", "--compiler-cache", "none",
        "--exclude-arch", "50",
    ]  # fmt: skip
    options = [f"--format={f}" for f in formats] + [f"--compress={compress}"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main([*args, *options, "--dist-dir", str(dist), "--json"])
    assert code == 0
    summary = json.loads(out.getvalue())
    return Built(workdir, Path(summary["staging_dir"]), summary["package"])


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Built, Built]:
    """The same ref and plan built twice from scratch in different workdirs."""
    base = tmp_path_factory.mktemp("package")
    source = write_fixture(base / "ollama-g4", generation="G4", tag="v0.24.0")
    inventory = write_json_inventory(base / "seed.json", SEED_BOX)
    with pytest.MonkeyPatch.context() as env:
        # Defaults only: the commit time as epoch, the toolkit from --cuda.
        for name in ("SOURCE_DATE_EPOCH", "CUDA_HOME", "CUDA_PATH"):
            env.delenv(name, raising=False)
        first = build_and_package(
            source,
            inventory,
            base / "work-a",
            base / "dist-a",
            formats=["tar", "wheel"],
            compress="gzip",
        )
        second = build_and_package(
            source, inventory, base / "work-b", base / "dist-b", formats=["tar"], compress="gzip"
        )
    return first, second


def test_two_clean_builds_give_the_same_tarball_and_manifest(builds: tuple[Built, Built]) -> None:
    first, second = builds
    files_a = {f["path"]: f.get("sha256") for f in first.manifest()["files"]}
    files_b = {f["path"]: f.get("sha256") for f in second.manifest()["files"]}
    assert files_a.keys() == files_b.keys()
    differing = sorted(path for path in files_a if files_a[path] != files_b[path])
    assert differing == []
    assert first.artifact("tar").name == second.artifact("tar").name
    assert first.artifact("tar").read_bytes() == second.artifact("tar").read_bytes()
    assert first.artifact("manifest").read_bytes() == second.artifact("manifest").read_bytes()


def test_tarball_is_the_release_layout_with_normalised_entries(
    builds: tuple[Built, Built],
) -> None:
    tarball = builds[0].artifact("tar")
    assert tarball.name == "ollama-0.24.0-linux-amd64-cuda12-sm86-ptx86.tar.gz"
    with tarfile.open(tarball) as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert {"bin/ollama", "lib/ollama/libggml-base.so", "lib/ollama/cuda_v12/libggml-cuda.so"} <= (
        set(names)
    )
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == COMMIT_TIME
        if member.isdir() or member.name == "bin/ollama":
            assert member.mode == 0o755
        elif member.isfile():
            assert member.mode == 0o644, member.name
    cudart = next(m for m in members if m.name == "lib/ollama/cuda_v12/libcudart.so.12")
    assert cudart.issym()
    assert cudart.linkname.startswith("libcudart.so.12.")


def test_sha256sums_verify_with_coreutils(builds: tuple[Built, Built]) -> None:
    dist = builds[0].artifact("sha256sums").parent
    result = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"], cwd=dist, capture_output=True, text=True, check=True
    )
    assert result.stdout.count(": OK") == 3  # tarball, wheel, manifest


def test_manifest_names_commit_plan_toolchain_commands_files_and_audit(
    builds: tuple[Built, Built],
) -> None:
    built = builds[0]
    manifest = built.manifest()
    source_root = next(built.workdir.glob("sources/*"))
    commit = subprocess.run(
        ["git", "-C", str(source_root), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert manifest["source"]["commit"] == commit
    assert manifest["source"]["ref"] == "v0.24.0"
    assert manifest["generation"] == "G4"
    assert manifest["patches"] == []
    assert manifest["source_date_epoch"] == COMMIT_TIME
    assert manifest["plan"]["cuda_architectures"] == "86"
    assert manifest["plan"]["ptx_policy"]
    assert len(manifest["inventory"]["gpus"]) == len(SEED_BOX)
    toolchain = manifest["toolchain"]
    assert "release 12.4" in toolchain["nvcc"]
    assert toolchain["cmake"].startswith("cmake version")
    assert toolchain["go"].startswith("go version go1.")
    assert toolchain["ninja"]
    assert toolchain["cc"]
    configure = {s["name"]: s["argv"] for s in manifest["build"]["configure"]}
    assert "-DCMAKE_CUDA_ARCHITECTURES=86" in configure["configure-cuda_v12"]
    assert "-X=github.com/ollama/ollama/version.Version=0.24.0" in manifest["build"]["ldflags"]
    files = {f["path"]: f for f in manifest["files"]}
    for path in ("bin/ollama", "lib/ollama/cuda_v12/libggml-cuda.so"):
        digest = subprocess.run(
            ["sha256sum", str(built.staging / path)], capture_output=True, text=True, check=True
        ).stdout.split()[0]
        assert files[path]["sha256"] == digest
        assert files[path]["size"] == (built.staging / path).stat().st_size
    (audit,) = manifest["audit"]
    assert audit["library"] == "lib/ollama/cuda_v12/libggml-cuda.so"
    assert audit["ok"] is True
    assert audit["found"] == "86"


def test_wheel_installs_into_a_fresh_venv_and_runs_ollama(
    builds: tuple[Built, Built], tmp_path: Path
) -> None:
    wheel = builds[0].artifact("wheel")
    assert wheel.name == "ollama_bin-0.24.0+cuda12.sm86.ptx86-py3-none-linux_x86_64.whl"
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", str(wheel)],
        check=True,
    )
    output = subprocess.run(
        [str(venv / "bin" / "ollama")], capture_output=True, text=True, check=True
    ).stdout
    assert "version=0.24.0" in output
    assert "mode=release" in output
    (package,) = (venv / "lib").glob("python3*/site-packages/ollama_bin")
    assert (package / "lib" / "ollama" / "cuda_v12" / "libcublas.so.12").is_file()
