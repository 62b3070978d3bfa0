"""An unchanged re-run of a fixture build: what it skips, and that nothing it skips differs."""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main

from boxes import SEED_BOX, write_json_inventory
from ollama_fixture import write_fixture
from programs import require
from summaries import artifact

pytestmark = pytest.mark.toolchain

INSTALL_AND_LINK = ["install-cpu", "install-cuda_v12", "go-build"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha256(p) for p in root.rglob("*") if p.is_file()}


def build_json(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    code = main([*args, "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    summary: dict[str, Any] = json.loads(captured.out)
    return summary


def skipped(summary: dict[str, Any]) -> list[str]:
    return [s["step"] for s in summary["skipped"]]


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ("CUDA_HOME", "CUDA_PATH", "CGO_CFLAGS", "GOFLAGS", "SOURCE_DATE_EPOCH"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


@pytest.mark.usefixtures("cuda12_toolkit")
def test_unchanged_rerun_skips_install_link_and_packing_and_changes_no_byte(
    tmp_path: Path, clean_environment: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    workdir, dist = tmp_path / "work", tmp_path / "dist"
    common = [
        "build", "--source", str(source), "--workdir", str(workdir),
        "--inventory", str(inventory), "--exclude-arch", "50", "--cuda", "12.4",
        "--compiler-cache", "none", "--dist-dir", str(dist),
    ]  # fmt: skip

    cold = build_json(capsys, *common, "--ref", "v0.24.0")
    assert skipped(cold) == []
    staging = Path(cold["staging_dir"])
    before = tree_hashes(staging)
    tarball = Path(artifact(cold, "tar")["path"])
    tar_sha = sha256(tarball)
    assert artifact(cold, "tar")["how"] == "written"

    # Nothing changed: install, link and packing are skipped, every byte is the same; the
    # GitHub step summary says what was not run again.
    step_summary = tmp_path / "step-summary.md"
    clean_environment.setenv("GITHUB_ACTIONS", "true")
    clean_environment.setenv("GITHUB_STEP_SUMMARY", str(step_summary))
    again = build_json(capsys, *common, "--ref", "v0.24.0")
    clean_environment.delenv("GITHUB_ACTIONS")
    assert "Unchanged, not run again: `install-cpu`, `install-cuda_v12`, `go-build`." in (
        step_summary.read_text()
    )
    assert skipped(again) == INSTALL_AND_LINK
    assert artifact(again, "tar")["how"] == "up to date"
    # Ninja would compile no CUDA object again either: their dependency files name headers
    # that exist (nvcc ran with the work directory at a canonical path; the launcher turns
    # the paths back). The tree's default target also holds the CPU variants, which this
    # tree never builds, so the question is asked of the CUDA objects.
    ninja = require("ninja", "asks the CUDA build tree whether anything is out of date")
    (cuda_build,) = (workdir / "build").glob("*/cuda_v12")
    dry = subprocess.run(
        [ninja, "-n", "-d", "explain"], cwd=cuda_build, capture_output=True, text=True, check=True
    )
    assert "CUDA object" not in dry.stdout, dry.stdout[-2000:]
    assert ".cu.o" not in dry.stderr, dry.stderr[-2000:]
    assert tree_hashes(staging) == before
    assert sha256(tarball) == tar_sha
    assert (
        "skipped"
        in (workdir / "logs").joinpath(staging.name, f"07-{INSTALL_AND_LINK[-1]}.log").read_text()
    )

    # Another dist directory gets the same tarball linked, not compressed again.
    other = build_json(capsys, *common, "--ref", "v0.24.0", "--dist-dir", str(tmp_path / "d2"))
    copied = artifact(other, "tar")
    assert copied["how"] in {"linked", "copied"}
    assert sha256(Path(copied["path"])) == tar_sha
    sums = subprocess.run(
        ["sha256sum", "-c", "SHA256SUMS"],
        cwd=tmp_path / "d2",
        capture_output=True,
        text=True,
        check=False,
    )
    assert sums.returncode == 0, sums.stdout + sums.stderr

    # The environment cgo reads changed: Go links again, and again when it is changed back.
    clean_environment.setenv("CGO_CFLAGS", "-O2 -g -DBUILD_TOOLS_TEST=1")
    changed = build_json(capsys, *common, "--ref", "v0.24.0")
    assert skipped(changed) == INSTALL_AND_LINK[:-1]
    clean_environment.delenv("CGO_CFLAGS")
    back = build_json(capsys, *common, "--ref", "v0.24.0")
    assert skipped(back) == INSTALL_AND_LINK[:-1]
    assert build_json(capsys, *common, "--ref", "v0.24.0")["skipped"] == again["skipped"]


@pytest.mark.usefixtures("cuda12_toolkit", "clean_environment")
def test_a_changed_ldflag_links_again_both_ways(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # G3 passes the plan's lowest arch to Go as -X ...minimum: a plan with 7.5 changes only
    # that ldflag on the Go side (the CUDA objects recompile too, so install runs as well).
    source = write_fixture(tmp_path / "ollama", generation="G3", tag="v0.6.8")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    common = [
        "build", "--source", str(source), "--ref", "v0.6.8", "--workdir", str(tmp_path / "w"),
        "--inventory", str(inventory), "--cuda", "12.4", "--compiler-cache", "none",
        "--dist-dir", str(tmp_path / "dist"),
    ]  # fmt: skip
    minimum = "github.com/ollama/ollama/discover.CudaComputeMajorMin"

    def built(*plan: str) -> dict[str, Any]:
        summary = build_json(capsys, *common, *plan)
        assert "go-build" not in skipped(summary)
        return summary

    first = built("--arch", "86")
    assert build_json(capsys, *common, "--arch", "86")["skipped"][-1]["step"] == "go-build"
    lower = built("--arch", "75,86")
    assert (first["go_variables"][minimum], lower["go_variables"][minimum]) == ("8", "7")
    back = built("--arch", "86")
    assert back["go_variables"][minimum] == "8"


@pytest.mark.usefixtures("cuda12_toolkit", "clean_environment")
def test_a_changed_staging_tree_is_installed_again(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    inventory = write_json_inventory(tmp_path / "seed.json", SEED_BOX)
    common = [
        "build", "--source", str(source), "--ref", "v0.24.0", "--workdir", str(tmp_path / "w"),
        "--inventory", str(inventory), "--exclude-arch", "50", "--cuda", "12.4",
        "--compiler-cache", "none", "--dist-dir", str(tmp_path / "dist"),
    ]  # fmt: skip
    cold = build_json(capsys, *common)
    staging = Path(cold["staging_dir"])
    library = staging / "lib" / "ollama" / "libggml-base.so"
    original = sha256(library)
    library.write_bytes(b"not a library")
    (staging / "bin" / "ollama").write_bytes(b"not a program")
    repaired = build_json(capsys, *common)
    assert skipped(repaired) == []
    assert sha256(library) == original
    assert artifact(repaired, "tar")["how"] == "up to date"
