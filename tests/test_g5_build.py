"""End-to-end builds of a miniature G5 superbuild with real cmake, ninja, nvcc, git and go."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.audit import read_library
from build_tools.toolkit.model import Toolkit

from boxes import SEED_BOX, write_json_inventory
from g5_fixture import git, plain_copy, write_g5_fixture, write_llama_cpp
from programs import namespaces_allowed
from summaries import artifact

pytestmark = [pytest.mark.toolchain, pytest.mark.usefixtures("no_ambient_cuda")]

OVERRIDE = "--accept-unverified-llama-cpp"


@pytest.fixture
def no_ambient_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CUDA_HOME", "CUDA_PATH", "CUDACXX", "CUDAHOSTCXX", "OLLAMA_LLAMA_CPP_SOURCE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def seed_inventory(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_json_inventory(tmp_path_factory.mktemp("box") / "seed.json", SEED_BOX)


@pytest.fixture(scope="module")
def llama_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The llama.cpp fixture repository and Ollama's compat patch made against its b100."""
    root = tmp_path_factory.mktemp("upstream") / "llama.cpp"
    return root, write_llama_cpp(root)


def g5_args(source: Path, workdir: Path, inventory: Path, llama: Path, *extra: str) -> list[str]:
    return [
        "build", "--source", str(source), "--ref", "v0.32.2", "--workdir", str(workdir),
        "--inventory", str(inventory), "--llama-cpp-source", str(llama),
        "--compiler-cache", "none", *extra,
    ]  # fmt: skip


def dry_run_args(source: Path, workdir: Path, inventory: Path, llama: Path) -> list[str]:
    """In place: a dry run fetches nothing, so the Ollama tree must already be there."""
    return [
        "--dry-run", "build", "--source-dir", str(source), "--workdir", str(workdir),
        "--inventory", str(inventory), "--llama-cpp-source", str(llama), "--cuda", "12.4",
    ]  # fmt: skip


def build(capsys: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def log_of(workdir: Path, stem: str) -> str:
    (log,) = workdir.glob(f"logs/*/*-{stem}.log")
    return log.read_text()


def run(*argv: str | Path) -> str:
    return subprocess.run(
        [str(a) for a in argv], capture_output=True, text=True, check=True, env=os.environ
    ).stdout


def test_g5_superbuild_offline_patched_planned_archs_and_no_rebuild(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    cuda12_toolkit: Toolkit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llama, patch = llama_repo
    source = write_g5_fixture(tmp_path / "ollama", patch)
    workdir = tmp_path / "work"
    args = g5_args(source, workdir, seed_inventory, llama, "--cuda", "12.4", "--exclude-arch", "50")
    code, out, err = build(capsys, [*args, "--json"])
    assert code == 0, err
    summary: dict[str, Any] = json.loads(out)
    assert summary["generation"] == "G5"
    assert summary["plan"]["cuda_architectures"] == "86"

    # The llama.cpp that was used: the pinned tag, proven by git, with Ollama's patch applied
    # in the cache (never in the user's repository).
    used = summary["llama_cpp"]
    assert used["verified"] is True
    assert used["ref"] == "b100"
    assert used["commit"] == git(llama, "rev-parse", "b100^{commit}").strip()
    assert used["compat_patches"] == ["001-llama-cpp-hooks.patch"]
    patched = Path(used["root"]) / "src" / "llama.cpp"
    assert "llama-ollama-compat.h" in patched.read_text()
    assert git(llama, "status", "--porcelain") == ""
    # ... and the nested builds compiled exactly that tree, without fetching anything (every
    # URL in the fixture is file:///nonexistent, so a fetch would have failed the build).
    assert f"llama.cpp source: {used['root']}" in log_of(workdir, "configure-cuda_v12")

    staging = Path(summary["staging_dir"])
    lib = staging / "lib" / "ollama"
    server = run(lib / "llama-server")
    assert server == "compat=ollama-compat\n"  # the patched hook calls Ollama's compat source
    # What the CPU build installs was built (its install() is OPTIONAL: nothing would say so
    # otherwise); the tools it does not install, and the CUDA build's CPU side, were not.
    assert (lib / "llama-quantize").is_file()
    (nested,) = workdir.glob("build/*/superbuild")
    assert not (nested / "llama-server-local" / "bin" / "llama-cli").exists()
    cuda_bin = nested / "llama-server-cuda_v12" / "bin"
    assert (cuda_bin / "libggml-cuda.so").exists()
    assert not (cuda_bin / "llama-server").exists()
    assert not list(cuda_bin.glob("libggml-cpu-*"))

    # Device code: exactly the plan (the *_user_arch preset took our list, not its default).
    audit = read_library(lib / "cuda_v12" / "libggml-cuda.so")
    assert (audit.sass, audit.ptx) == (("86",), ("86",))
    assert [a["ok"] for a in summary["audit"]] == [True]
    assert summary["go_variables"] == {
        "github.com/ollama/ollama/version.Version": "0.32.2",
        "github.com/ollama/ollama/server.mode": "release",
    }
    assert (lib / "cuda_v12" / "libcudart.so.12").exists()
    assert not (lib / "vulkan").exists()

    # The release manifest records the llama.cpp tree that was compiled, and of this machine
    # only what the build adds: the nested builds' PATH is "toolkit, ninja, then $PATH".
    manifest_file = Path(artifact(summary, "manifest")["path"])
    text = manifest_file.read_text()
    manifest = json.loads(text)
    recorded = manifest["llama_cpp"]
    assert {k: v for k, v in recorded.items() if k != "root"} == {
        k: v for k, v in used.items() if k != "root"
    }
    assert recorded["root"] == used["root"].replace(str(workdir), "$WORKDIR")
    steps = {step["name"]: step for step in manifest["build"]["configure"]}
    path = steps["configure-superbuild"]["env"]["PATH"]
    assert path.startswith("$CUDA/bin:")
    assert path.endswith(":$PATH")
    assert os.environ["PATH"] not in text

    # The toolkit reached the nested build although it never receives CMAKE_CUDA_COMPILER.
    superbuild = Path(summary["build_dir"]) / "superbuild"
    cache = (superbuild / "llama-server-cuda_v12" / "CMakeCache.txt").read_text()
    assert f"CMAKE_CUDA_COMPILER:FILEPATH={cuda12_toolkit.nvcc}" in cache
    assert "CMAKE_GENERATOR:INTERNAL=Ninja" in cache

    # Go: our build with the superbuild's ldflags; its own ollama-go target never ran.
    output = run(staging / "bin" / "ollama")
    assert output == "version=0.32.2\nmode=release\ncgo=7\n"
    # (-trimpath keeps -ldflags out of the build info; the output above shows their effect)
    assert "-buildmode=pie" in run("go", "version", "-m", staging / "bin" / "ollama")
    checkout = Path(summary["source"]["root"])
    assert not (checkout / "ollama").exists()
    assert not (superbuild / "superbuild-ollama").exists()

    # Unchanged inputs: the cached llama.cpp is reused as is, nothing is recompiled.
    mtime = patched.stat().st_mtime_ns
    code, out, err = build(capsys, [*args, "--json"])
    assert code == 0, err
    assert patched.stat().st_mtime_ns == mtime
    # ... and the nested trees' outputs did not move, so install and the Go link are skipped.
    skipped = [step["step"] for step in json.loads(out)["skipped"]]
    assert skipped == ["install-local", "install-cuda_v12", "go-build"]
    assert "Building CUDA object" not in log_of(workdir, "build-cuda_v12")
    assert "Building C" not in log_of(workdir, "build-local")

    # Only the arch list changes: the nested CUDA build is reconfigured and recompiled with it;
    # the CPU build is untouched.
    code, _, err = build(capsys, [*args[:-2], "--arch", "75,86"])
    assert code == 0, err
    assert "Building CUDA object" in log_of(workdir, "build-cuda_v12")
    assert "Building C" not in log_of(workdir, "build-local")
    audit = read_library(lib / "cuda_v12" / "libggml-cuda.so")
    assert (audit.sass, audit.ptx) == (("75", "86"), ("86",))


def test_g5_cuda13_builds_the_cuda_v13_backend(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    cuda13_toolkit: Toolkit,
    capsys: pytest.CaptureFixture[str],
) -> None:
    del cuda13_toolkit  # in the cache before the command runs
    llama, patch = llama_repo
    source = write_g5_fixture(tmp_path / "ollama", patch)
    args = g5_args(source, tmp_path / "w", seed_inventory, llama, "--cuda", "13.0")
    code, out, err = build(capsys, [*args, "--exclude-arch", "50", "--json"])
    assert code == 0, err
    lib = Path(json.loads(out)["staging_dir"]) / "lib" / "ollama"
    assert sorted(p.name for p in lib.iterdir() if p.is_dir()) == ["cuda_v13"]
    audit = read_library(lib / "cuda_v13" / "libggml-cuda.so")
    assert (audit.sass, audit.ptx) == (("86",), ("86",))


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_llama_cpp_without_the_pinned_tag_is_refused_unless_accepted(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llama, patch = llama_repo
    source = write_g5_fixture(tmp_path / "ollama", patch, pin="b999")
    args = dry_run_args(source, tmp_path / "w", seed_inventory, llama)
    code, _, err = build(capsys, args)
    text = " ".join(err.split())
    assert code == 8, err
    assert "has no tag b999" in text
    assert "its HEAD is b101" in text
    assert OVERRIDE in text

    code, out, err = build(capsys, [*args, OVERRIDE, "--json"])
    assert code == 0, err
    used = json.loads(out)["llama_cpp"]
    assert (used["verified"], used["ref"], used["llama_cpp_version"]) == (False, "HEAD", "b999")


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_plain_llama_cpp_directory_needs_the_override_and_is_patched_as_a_copy(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llama, patch = llama_repo
    plain = plain_copy(llama, tmp_path / "sdist" / "llama.cpp")
    # Like the xllamacpp sdist: a submodule's .git file whose target was not shipped.
    (plain / ".git").write_text("gitdir: ../../.git/modules/thirdparty/llama.cpp\n")
    before = (plain / "src" / "llama.cpp").read_text()
    source = write_g5_fixture(tmp_path / "ollama", patch)
    workdir = tmp_path / "w"
    args = g5_args(source, workdir, seed_inventory, plain, "--cuda", "12.4", "--exclude-arch", "50")
    code, _, err = build(capsys, args)
    assert code == 8
    assert "is not a git repository" in " ".join(err.split())

    code, out, err = build(capsys, [*args, OVERRIDE, "--stop-after", "configure", "--json"])
    assert code == 0, err
    used = json.loads(out)["llama_cpp"]
    assert (used["kind"], used["verified"], used["commit"]) == ("directory", False, None)
    assert used["source"] == str(plain)
    assert "llama-ollama-compat.h" in (Path(used["root"]) / "src" / "llama.cpp").read_text()
    assert not (Path(used["root"]) / ".git").exists()
    assert (plain / "src" / "llama.cpp").read_text() == before
    configure = log_of(workdir, "configure-superbuild")
    assert f"-DFETCHCONTENT_SOURCE_DIR_LLAMA_CPP={used['root']}" in configure
    assert "-DOLLAMA_LLAMA_BACKENDS=cuda_v12" in configure
    assert "-DGGML_VULKAN=OFF" in configure


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_dry_run_prints_the_superbuild_and_touches_nothing(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    llama, patch = llama_repo
    source = write_g5_fixture(tmp_path / "ollama", patch)
    before = sorted(p.relative_to(source) for p in source.rglob("*"))
    workdir = tmp_path / "w"
    code, _, err = build(capsys, [*dry_run_args(source, workdir, seed_inventory, llama)])
    assert code == 0, err
    text = " ".join(err.split())
    for expected in (
        "would run: git init",  # the llama.cpp cache checkout
        "-DPATCH_DIR=",  # Ollama's applier, run by us
        "go mod download",
        "-DOLLAMA_LLAMA_BACKENDS=cuda_v12",
        "--target ggml-cuda --parallel",
        "GOPROXY=off",
    ):
        assert expected in text, expected
    assert not workdir.exists()
    assert sorted(p.relative_to(source) for p in source.rglob("*")) == before


@pytest.mark.usefixtures("cuda12_toolkit")
def test_arch_preset_of_a_build_comes_from_the_trees_own_presets(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The fixture's stock cuda_v12 list differs from every built-in G5 row: the tree wins.
    llama, patch = llama_repo
    source = write_g5_fixture(tmp_path / "ollama", patch)
    args = [*dry_run_args(source, tmp_path / "w", seed_inventory, llama), "--arch", "preset"]
    code, _, err = build(capsys, [*args, "--exclude-arch", "50"])
    assert code == 0, err
    text = " ".join(err.split())
    assert (
        "--arch preset: CUDA 12 stock list from the tree's llama/server/CMakePresets.json" in text
    )
    assert "-DCMAKE_CUDA_ARCHITECTURES=52-virtual;60;61;75;86" in text


@pytest.mark.usefixtures("cuda12_toolkit")  # in the cache before the command runs
def test_g5_verify_reproducible_nested_builds_are_path_independent(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The nested llama-server builds get the nvcc launcher through their environment: the
    fixture's kernel in an anonymous namespace would otherwise carry each work directory's
    hash, and the CUDA objects nvcc's process id."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    llama, patch = llama_repo
    source = write_g5_fixture(tmp_path / "ollama", patch)
    args = g5_args(source, tmp_path / "repro", seed_inventory, llama, "--cuda", "12.4")
    args[0] = "verify-reproducible"
    code, out, err = build(capsys, [*args, "--exclude-arch", "50", "--keep-workdirs", "--json"])
    report = json.loads(out)
    assert code == 0, json.dumps(report["differences"], indent=2) + err[-3000:]
    assert report["identical"] is True
    assert report["compared"]["object"] == 1  # the nested build's ggml-cuda.cu.o
    first, second = (Path(b["workdir"]) for b in report["builds"])
    assert first.parent != second.parent
    (manifest,) = (first / "dist").glob("*.manifest.json")
    recorded = json.loads(manifest.read_text())["build"]["reproducibility"]
    # Path-independent when nvcc saw the work directory at one canonical path (a mount
    # namespace), which this machine may refuse; then the record says why.
    assert recorded["path_independent"] is namespaces_allowed(), recorded
    assert (recorded["canonical_path"] is not None) is namespaces_allowed()
    # The launcher is in the nested CUDA compile commands, before nothing else (no cache).
    (ninja,) = first.glob("build/*/superbuild/llama-server-cuda_v12/build.ninja")
    assert "nvcc-launcher/nvcc-launcher" in ninja.read_text()


@pytest.mark.usefixtures("cuda12_toolkit")
def test_g5_a_ccache_build_packs_the_same_bytes_as_one_without_a_cache(
    tmp_path: Path,
    llama_repo: tuple[Path, str],
    seed_inventory: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """ccache hands the nested builds' compilers paths relative to where they compile, one
    level deeper than the superbuild; the fixture's __FILE__ (host and device code, Ollama's
    tree and the prepared llama.cpp) must read the same as in a build without a cache."""
    for name in ("SOURCE_DATE_EPOCH", "CCACHE_BASEDIR", "CCACHE_NOHASHDIR", "CCACHE_CONFIGPATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CCACHE_DIR", str(tmp_path / "ccache"))
    llama, patch = llama_repo
    source = write_g5_fixture(tmp_path / "ollama", patch)
    digests = {}
    for cache, workdir in (("ccache", tmp_path / "a" / "work"), ("none", tmp_path / "b" / "c")):
        args = g5_args(source, workdir, seed_inventory, llama, "--cuda", "12.4")
        args[args.index("--compiler-cache") + 1] = cache
        extra = ["--exclude-arch", "50", OVERRIDE, "--dist-dir", str(workdir / "dist"), "--json"]
        code, out, err = build(capsys, [*args, *extra])
        assert code == 0, err[-3000:]
        summary = json.loads(out)
        assert (summary.get("compiler_cache") or {}).get("program") == (
            "ccache" if cache == "ccache" else None
        )
        digests[cache] = artifact(summary, "tar")["sha256"]
    assert digests["ccache"] == digests["none"]
