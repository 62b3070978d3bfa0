"""Packaging without a build: names, tree scan, tarball and wheel bytes, manifest, SHA256SUMS."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from build_tools.build_plan import BuildPlan
from build_tools.errors import ConfigurationError, InputError
from build_tools.package import package_build
from build_tools.package import release as release_module
from build_tools.package.checksums import parse_sums, update_sums
from build_tools.package.naming import (
    arch_label,
    artifact_stem,
    go_arch,
    pep440_version,
    wheel_local_label,
)
from build_tools.package.staging import scan_tree
from build_tools.package.tarball import write_tarball
from build_tools.package.toolchain import cached_compilers, version_line
from build_tools.package.wheel import WheelSpec, write_wheel
from build_tools.patching import AppliedPatch
from build_tools.planning.archs import CudaArch
from build_tools.runner import Runner
from build_tools.settings.commands import BuildSettings
from build_tools.settings.groups import PackageSettings

from ollama_fixture import write_fixture
from plan_values import generation, make_build_plan, make_checkout, make_options, make_toolkit
from settings_values import resolved

EPOCH = 1_700_000_000
SM61 = CudaArch(61, sass=True, ptx=False)
SM86 = CudaArch(86)


def make_tree(root: Path) -> Path:
    """A miniature release tree: an executable, libraries, a SONAME symlink, an empty dir."""
    (root / "bin").mkdir(parents=True)
    binary = root / "bin" / "ollama"
    binary.write_text('#!/bin/sh\necho "ollama args:$*"\nexit 3\n')
    binary.chmod(0o700)  # odd on-disk modes must not reach the package
    cuda = root / "lib" / "ollama" / "cuda_v12"
    cuda.mkdir(parents=True)
    (root / "lib" / "ollama" / "libggml-base.so").write_bytes(b"\x7fELF base" * 100)
    (cuda / "libcudart.so.12.4.127").write_bytes(b"\x7fELF cudart" * 1000)
    (cuda / "libcudart.so.12.4.127").chmod(0o600)
    (cuda / "libcudart.so.12").symlink_to("libcudart.so.12.4.127")
    (root / "lib" / "ollama" / "empty").mkdir()
    return root


def disturb(root: Path) -> None:
    """What differs between two builds of the same thing: times, umask-dependent modes."""
    for path in root.rglob("*"):
        if not path.is_symlink():
            os.utime(path, (EPOCH + 12345, EPOCH + 12345))
    (root / "bin" / "ollama").chmod(0o775)
    (root / "lib" / "ollama" / "libggml-base.so").chmod(0o664)


# --- names -----------------------------------------------------------------------------------


def test_arch_label_lists_sass_then_ptx_in_numeric_order() -> None:
    assert arch_label([SM86, SM61]) == "sm61-sm86-ptx86"
    assert arch_label([CudaArch(86, sass=True, ptx=False)]) == "sm86"
    assert arch_label([CudaArch(90, "a"), CudaArch(120, ptx=False)]) == "sm90a-sm120-ptx90a"


def test_two_plan_variants_get_different_names() -> None:
    a = artifact_stem("0.24.0", "amd64", 12, [SM86])
    b = artifact_stem("0.24.0", "amd64", 12, [SM61, SM86])
    c = artifact_stem("0.24.0", "amd64", 12, [CudaArch(86, sass=True, ptx=False)])
    assert a == "ollama-0.24.0-linux-amd64-cuda12-sm86-ptx86"
    assert b == "ollama-0.24.0-linux-amd64-cuda12-sm61-sm86-ptx86"
    assert len({a, b, c, artifact_stem("0.24.0", "amd64", 13, [SM86])}) == 4
    assert artifact_stem("0.24.0", "amd64", 12, [SM86], with_vulkan=True).endswith("-vulkan")
    assert artifact_stem("0.6.8-3-gab/c", "arm64", 12, [SM86]).startswith(
        "ollama-0.6.8-3-gab-c-linux-arm64-"
    )


def test_go_arch() -> None:
    assert go_arch("x86_64") == "amd64"
    assert go_arch("aarch64") == "arm64"
    with pytest.raises(ConfigurationError):
        go_arch("riscv64")


@pytest.mark.parametrize(
    ("describe", "expected"),
    [
        ("v0.24.0", ("0.24.0", None)),
        ("v0.13.1-rc1", ("0.13.1rc1", None)),
        ("v0.24.0-3-gabc1234", ("0.24.0.post3", "gabc1234")),
        ("0.6.08", ("0.6.8", None)),
        ("deadbeef", ("0", "gdeadbeef")),
    ],
)
def test_pep440_version(describe: str, expected: tuple[str, str | None]) -> None:
    assert pep440_version(describe) == expected


def test_wheel_local_label() -> None:
    assert wheel_local_label(12, [SM61, SM86]) == "cuda12.sm61.sm86.ptx86"
    assert wheel_local_label(12, [SM86], commit="gabc", with_vulkan=True) == (
        "cuda12.sm86.ptx86.vulkan.gabc"
    )


# --- tree ------------------------------------------------------------------------------------


def test_scan_sorts_normalises_and_hashes(tmp_path: Path) -> None:
    entries = scan_tree(make_tree(tmp_path / "t"))
    paths = [e.path for e in entries]
    assert paths == [
        "bin",
        "bin/ollama",
        "lib",
        "lib/ollama",
        "lib/ollama/cuda_v12",
        "lib/ollama/cuda_v12/libcudart.so.12",
        "lib/ollama/cuda_v12/libcudart.so.12.4.127",
        "lib/ollama/empty",
        "lib/ollama/libggml-base.so",
    ]
    by_path = {e.path: e for e in entries}
    assert by_path["bin/ollama"].mode == 0o755
    assert by_path["lib/ollama/cuda_v12/libcudart.so.12.4.127"].mode == 0o644
    assert by_path["lib/ollama/cuda_v12/libcudart.so.12"].target == "libcudart.so.12.4.127"
    assert len(by_path["lib/ollama/libggml-base.so"].sha256) == 64


def test_symlinks_out_of_the_tree_are_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    (root / "lib" / "abs").symlink_to("/usr/lib")
    with pytest.raises(InputError, match="absolute"):
        scan_tree(root)
    (root / "lib" / "abs").unlink()
    (root / "lib" / "up").symlink_to("../../outside")
    with pytest.raises(InputError, match="outside"):
        scan_tree(root)


# --- tarball ---------------------------------------------------------------------------------


def tar_bytes(root: Path, dest: Path, compress: Any = "gzip") -> bytes:
    write_tarball(scan_tree(root), root, dest, compress=compress, epoch=EPOCH, runner=Runner())
    return dest.read_bytes()


def test_gzip_tarball_is_reproducible_and_normalised(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    first = tar_bytes(root, tmp_path / "a.tar.gz")
    disturb(root)
    assert tar_bytes(root, tmp_path / "b.tar.gz") == first
    # gzip header: no FNAME flag, mtime 0.
    assert first[:3] == b"\x1f\x8b\x08"
    assert first[3] & 0x08 == 0
    assert first[4:8] == b"\0\0\0\0"
    with tarfile.open(fileobj=io.BytesIO(gzip.decompress(first))) as archive:
        members = archive.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names, key=lambda n: n.split("/"))
    assert "bin/ollama" in names
    assert not any(n.startswith(("/", "./")) for n in names)
    for member in members:
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")
        assert member.mtime == EPOCH
        if member.isdir():
            assert member.mode == 0o755
    modes = {m.name: m.mode for m in members}
    assert modes["bin/ollama"] == 0o755
    assert modes["lib/ollama/libggml-base.so"] == 0o644
    link = next(m for m in members if m.name.endswith("libcudart.so.12"))
    assert link.issym()
    assert link.linkname == "libcudart.so.12.4.127"
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.skipif(shutil.which("zstd") is None, reason="needs the zstd program")
def test_zstd_tarball_is_reproducible(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    first = tar_bytes(root, tmp_path / "a.tar.zst", "zstd")
    disturb(root)
    assert tar_bytes(root, tmp_path / "b.tar.zst", "zstd") == first
    listing = subprocess.run(
        ["tar", "--zstd", "-tf", str(tmp_path / "a.tar.zst")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "bin/ollama" in listing
    assert not list(tmp_path.glob("*partial"))


# --- wheel -----------------------------------------------------------------------------------

SPEC = WheelSpec(
    version="0.24.0+cuda12.sm86.ptx86",
    platform_tag="linux_x86_64",
    summary="test",
    epoch=EPOCH,
)


def test_wheel_is_reproducible_and_materialises_symlinks(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    first = write_wheel(scan_tree(root), root, tmp_path / "a", SPEC).read_bytes()
    disturb(root)
    wheel = write_wheel(scan_tree(root), root, tmp_path / "b", SPEC)
    assert wheel.read_bytes() == first
    assert wheel.name == "ollama_bin-0.24.0+cuda12.sm86.ptx86-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        info = {i.filename: i for i in archive.infolist()}
        record = archive.read("ollama_bin-0.24.0+cuda12.sm86.ptx86.dist-info/RECORD").decode()
        entry_points = archive.read(
            "ollama_bin-0.24.0+cuda12.sm86.ptx86.dist-info/entry_points.txt"
        ).decode()
    assert "ollama = ollama_bin:main" in entry_points
    # The SONAME link becomes the file; the versioned file reached only through it is dropped.
    assert "ollama_bin/lib/ollama/cuda_v12/libcudart.so.12" in names
    assert "ollama_bin/lib/ollama/cuda_v12/libcudart.so.12.4.127" not in names
    assert info["ollama_bin/bin/ollama"].external_attr >> 16 == 0o100755
    assert info["ollama_bin/lib/ollama/libggml-base.so"].external_attr >> 16 == 0o100644
    assert {i.date_time for i in info.values()} == {(2023, 11, 14, 22, 13, 20)}
    assert names[-1].endswith(".dist-info/RECORD")
    assert len(record.splitlines()) == len(names)


def test_wheel_installs_into_a_fresh_venv_and_runs_the_binary(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "t")
    wheel = write_wheel(scan_tree(root), root, tmp_path / "dist", SPEC)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-index", str(wheel)],
        check=True,
    )
    result = subprocess.run(
        [str(venv / "bin" / "ollama"), "serve", "two words"],
        capture_output=True,
        text=True,
        check=False,
    )
    # argv and the exit status pass through the shim unchanged.
    assert result.stdout == "ollama args:serve two words\n"
    assert result.returncode == 3


# --- checksums -------------------------------------------------------------------------------


def test_sha256sums_merge_and_verify_with_coreutils(tmp_path: Path) -> None:
    (tmp_path / "a.tar.gz").write_bytes(b"a")
    (tmp_path / "b.whl").write_bytes(b"b")
    update_sums(
        tmp_path, {"b.whl": "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"}
    )
    sums = update_sums(
        tmp_path,
        {
            "a.tar.gz": "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb",
            "gone": "0" * 64,
        },
    )
    assert list(parse_sums(sums.read_text())) == ["a.tar.gz", "b.whl", "gone"]
    (sums.parent / "gone").write_bytes(b"")
    update_sums(tmp_path, {})  # still there: kept
    (sums.parent / "gone").unlink()
    update_sums(tmp_path, {})  # removed: dropped
    assert list(parse_sums(sums.read_text())) == ["a.tar.gz", "b.whl"]
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=tmp_path, check=True)


# --- options ---------------------------------------------------------------------------------


def package_settings(*argv: str, environ: dict[str, str] | None = None) -> PackageSettings:
    settings: BuildSettings = resolved("build", *argv, environ=environ)
    return settings.package


def test_options_defaults_env_and_validation(tmp_path: Path) -> None:
    options = package_settings()
    assert options.formats == ("tar",)
    assert options.compress == "gzip"
    assert options.dist_dir == Path("dist")
    assert options.source_date_epoch is None
    options = package_settings(
        "--format", "wheel", "--format", "tar", "--format", "wheel", "--compress", "zstd",
        environ={"SOURCE_DATE_EPOCH": "1700000000"},
    )  # fmt: skip
    assert options.formats == ("wheel", "tar")
    assert options.compress == "zstd"
    assert options.source_date_epoch == 1_700_000_000
    options = package_settings(
        "--source-date-epoch", "5", "--dist-dir", str(tmp_path), environ={"SOURCE_DATE_EPOCH": "9"}
    )
    assert (options.source_date_epoch, options.dist_dir) == (5, tmp_path)
    with pytest.raises(ConfigurationError, match="SOURCE_DATE_EPOCH"):
        package_settings(environ={"SOURCE_DATE_EPOCH": "yesterday"})


# --- toolchain and manifest ------------------------------------------------------------------


def test_version_line_and_cached_compilers(tmp_path: Path) -> None:
    nvcc = (
        "nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.4, V12.4.131\n"
    )
    assert version_line(nvcc, prefer="release") == "Cuda compilation tools, release 12.4, V12.4.131"
    assert version_line("\ncmake version 3.31.6\n\nCMake suite\n") == "cmake version 3.31.6"
    (tmp_path / "cpu").mkdir()
    (tmp_path / "cpu" / "CMakeCache.txt").write_text(
        "CMAKE_C_COMPILER:FILEPATH=/usr/bin/cc\nCMAKE_CXX_COMPILER:STRING=/usr/bin/g++-12\n"
    )
    assert cached_compilers([tmp_path / "missing", tmp_path / "cpu"]) == {
        "cc": "/usr/bin/cc",
        "cxx": "/usr/bin/g++-12",
    }


def make_plan(tmp_path: Path) -> BuildPlan:
    source = write_fixture(tmp_path / "work" / "sources" / "ollama", generation="G4")
    checkout = make_checkout(
        source,
        "v0.24.0",
        url="https://github.com/ollama/ollama.git",
        commit="1" * 40,
        commit_time=1_735_689_600,
        in_place=False,
    )
    return make_build_plan(
        checkout,
        generation("G4"),
        toolkit=make_toolkit("12.4", archs=("61", "75", "86"), root=tmp_path / "cuda"),
        options=make_options(tmp_path / "work", jobs=2),
    )


def test_package_build_writes_manifest_sums_and_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fix = AppliedPatch(
        name="0001-fix.patch",
        series="g4-cuda-init-validation",
        sha256="ab" * 32,
        already_applied=False,
        closes_validation_hole=True,
    )
    plan = dataclasses.replace(make_plan(tmp_path), patches=(fix,))
    make_tree(plan.staging_dir)
    versions = {"nvcc": "Cuda compilation tools, release 12.4, V12.4.131", "cmake": "cmake 3.31"}
    monkeypatch.setattr(release_module, "toolchain_versions", lambda *_: versions)
    dist = tmp_path / "dist"
    result = package_build(
        plan,
        [],
        formats=["tar", "wheel"],
        compress="gzip",
        dist_dir=dist,
        source_date_epoch=None,
        runner=Runner(),
        machine="x86_64",
    )
    stem = "ollama-0.24.0-linux-amd64-cuda12-sm86-ptx86"
    assert result.stem == stem
    assert result.source_date_epoch == plan.checkout.commit_time
    summary = result.to_json()
    assert [a["kind"] for a in summary["artifacts"]] == ["tar", "wheel", "manifest", "sha256sums"]
    assert {Path(a["path"]).name for a in summary["artifacts"]} == {
        f"{stem}.tar.gz",
        "ollama_bin-0.24.0+cuda12.sm86.ptx86-py3-none-linux_x86_64.whl",
        f"{stem}.manifest.json",
        "SHA256SUMS",
    }
    subprocess.run(["sha256sum", "-c", "--quiet", "SHA256SUMS"], cwd=dist, check=True)

    text = (dist / f"{stem}.manifest.json").read_text()
    manifest = json.loads(text)
    assert text == json.dumps(manifest, indent=2, sort_keys=True) + "\n"
    assert manifest["source"]["commit"] == "1" * 40
    assert manifest["source_date_epoch"] == 1_735_689_600
    assert manifest["patches"] == [fix.to_json()]
    assert manifest["plan"]["cuda_architectures"] == "86"
    assert manifest["toolchain"] == versions
    configure = {step["name"]: step["argv"] for step in manifest["build"]["configure"]}
    assert "-DCMAKE_CUDA_ARCHITECTURES=86" in configure["configure-cuda_v12"]
    assert "-DCMAKE_INSTALL_PREFIX=$STAGING" in configure["configure-cuda_v12"]
    assert "-DCUDAToolkit_ROOT=$CUDA" in configure["configure-cuda_v12"]
    assert "-X=github.com/ollama/ollama/version.Version=0.24.0" in manifest["build"]["ldflags"]
    # G4 has no backend with an arch list of its own: CUDA follows the plan, Vulkan is off.
    assert [(b["name"], b["enabled"], b["archs"]) for b in manifest["backends"]] == [
        ("cuda_v12", True, "86"),
        ("vulkan", False, None),
    ]
    assert "--with-vulkan" in manifest["backends"][1]["reason"]
    # No directory of this machine is left in the manifest.
    assert str(tmp_path) not in text
    files = {f["path"]: f for f in manifest["files"]}
    assert files["bin/ollama"]["mode"] == "0755"
    assert files["lib/ollama/cuda_v12/libcudart.so.12"] == {
        "mode": "0777",
        "path": "lib/ollama/cuda_v12/libcudart.so.12",
        "target": "libcudart.so.12.4.127",
        "type": "symlink",
    }

    # Same inputs, new directory: the same bytes.
    again = package_build(
        plan,
        [],
        formats=["tar", "wheel"],
        compress="gzip",
        dist_dir=tmp_path / "dist2",
        source_date_epoch=None,
        runner=Runner(),
        machine="x86_64",
    )
    assert [a.sha256 for a in again.artifacts] == [a.sha256 for a in result.artifacts]


def test_dry_run_packages_nothing(tmp_path: Path) -> None:
    plan = make_plan(tmp_path)
    result = package_build(
        plan,
        [],
        formats=["tar"],
        compress="gzip",
        dist_dir=tmp_path / "dist",
        source_date_epoch=7,
        runner=Runner(dry_run=True),
        machine="x86_64",
    )
    assert result.artifacts == ()
    assert not (tmp_path / "dist").exists()
