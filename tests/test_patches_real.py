"""Opt-in: every shipped series checks cleanly against every release tag in its declared range.

Needs ``BUILD_TOOLS_OLLAMA_REPO`` (a clone of github.com/ollama/ollama). A patch's fate depends
only on the files it touches, so each tag gets a small git tree holding those files plus the
files that decide the generation, read with ``git show TAG:path`` (cached per session); the
check then runs exactly as ``patches check --source-dir`` does. A few anchor tags are also
checked as complete trees made by ``real_source.materialise_tag``; set
``BUILD_TOOLS_PATCHES_FULL_TREES=1`` to use complete trees for every tag (about 50 MB each).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from build_tools.__main__ import main
from build_tools.errors import ConfigurationError
from build_tools.generations import OllamaVersion, registry
from build_tools.patching import (
    PREVIEW_CONTEXT,
    PatchState,
    Series,
    apply_patches,
    check_patches,
    load_all_series,
    render_series,
)
from build_tools.patching.apply import touched_paths
from build_tools.runner import Runner
from build_tools.source.ollama_tree import read_tree

from plan_values import generation
from real_source import materialise_tag, ollama_repo
from test_patches_support import commit_all, fingerprint, git

pytestmark = pytest.mark.real_source

QUIET = Runner(echo=False)
SHIPPED = load_all_series()
FULL_TREES = os.environ.get("BUILD_TOOLS_PATCHES_FULL_TREES") == "1"
ANCHORS = [
    ("g4-cuda-init-validation", "v0.13.0"),
    ("gpu-reservation", "v0.6.8"),
    ("gpu-reservation", "v0.24.0"),
    ("gpu-reservation", "v0.32.2"),
]
# Trees whose patched gpu-reservation Go code is tested and compiled: one per generation and
# the ends of each range.
GO_TAGS = ["v0.5.8-rc0", "v0.6.8", "v0.12.3", "v0.13.1-rc0", "v0.24.0", "v0.32.2", "v0.33.0-rc2"]
GO_TIMEOUT = 900


def release_tags(repo: Path) -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(repo), "tag", "-l", "v*"], capture_output=True, text=True, check=True
    ).stdout
    tags = []
    for tag in out.split():
        try:
            tags.append((OllamaVersion.parse(tag), tag))
        except ConfigurationError:
            continue  # not a release tag (e.g. v0.12.7-citest0)
    return [tag for _, tag in sorted(tags)]


def tags_in_range(series: Series, repo: Path) -> list[str]:
    return [t for t in release_tags(repo) if series.covers(OllamaVersion.parse(t))]


def sparse_tree(repo: Path, tag: str, paths: list[str], dest: Path) -> Path:
    """A git repo at ``dest`` with ``tag``'s versions of ``paths`` (those that exist), tagged."""
    if (dest / ".git").exists():
        return dest
    wanted = {*paths, *(f for g in registry().generations for f in g.tree.files)}
    for path in sorted(wanted):
        shown = subprocess.run(
            ["git", "-C", str(repo), "show", f"{tag}:{path}"], capture_output=True, check=False
        )
        if shown.returncode == 0:
            (dest / path).parent.mkdir(parents=True, exist_ok=True)
            (dest / path).write_bytes(shown.stdout)
    git(dest, "init", "-q", "-b", "main")
    commit_all(dest, tag, tag)
    return dest


@pytest.fixture(scope="module")
def trees(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("release-trees")


@pytest.mark.parametrize("series", SHIPPED, ids=[s.name for s in SHIPPED])
def test_series_applies_to_every_tag_in_its_range(series: Series, trees: Path) -> None:
    repo = ollama_repo()
    tags = tags_in_range(series, repo)
    assert tags, f"no release tag of {repo} lies in {series.range_text}"
    failures = []
    for tag in tags:
        # A series with ranged patches gives each release the patches written for it.
        patches = render_series(series, PREVIEW_CONTEXT, OllamaVersion.parse(tag))
        paths = [p for patch in patches for p in touched_paths(patch)]
        root = (
            materialise_tag(repo, tag, trees / "full" / tag)
            if FULL_TREES
            else sparse_tree(repo, tag, paths, trees / series.name / tag)
        )
        assert read_tree(root).generation.name in series.generations, tag
        states = [(c.state, c.conflict) for c in check_patches(root, patches, QUIET)]
        if any(state is not PatchState.APPLIES for state, _ in states):
            failures.append(f"{tag}: {states}")
    print(f"{series.name}: {len(tags)} tags {tags[0]} .. {tags[-1]} checked: {' '.join(tags)}")
    assert not failures, "\n".join(failures)


def test_g4_fix_closes_the_hole_on_every_hole_tag(trees: Path) -> None:
    repo = ollama_repo()
    [series] = [s for s in SHIPPED if s.closes_validation_hole]
    patches = render_series(series, PREVIEW_CONTEXT)
    for tag in tags_in_range(series, repo):
        root = sparse_tree(repo, tag, ["ml/device.go"], trees / "hole" / tag)
        assert read_tree(root).validation_hole, tag
        apply_patches(root, patches, QUIET)
        assert not read_tree(root).validation_hole, tag


def test_series_before_and_after_its_range_are_not_silently_applied(trees: Path) -> None:
    """Just outside the range the g4 fix is either upstream already or not needed."""
    repo = ollama_repo()
    [series] = [s for s in SHIPPED if s.closes_validation_hole]
    patches = render_series(series, PREVIEW_CONTEXT)
    root = sparse_tree(repo, "v0.13.1-rc2", ["ml/device.go"], trees / "after" / "v0.13.1-rc2")
    assert read_tree(root).generation == generation("G4")
    assert not read_tree(root).validation_hole
    [check] = check_patches(root, patches, QUIET)
    assert check.state is PatchState.CONFLICT  # upstream's own fix is there, worded differently


@pytest.mark.parametrize(("series_name", "tag"), ANCHORS)
def test_patches_check_on_a_complete_release_tree(
    series_name: str, tag: str, trees: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = ollama_repo()
    try:
        root = materialise_tag(repo, tag, trees / "full" / tag)
    except RuntimeError as error:
        first = str(error).strip().splitlines()[-1]
        pytest.skip(f"real_source.materialise_tag cannot export {tag} from {repo}: {first}")
    before = fingerprint(root)
    code = main(["patches", "check", "--source-dir", str(root), "--patch", series_name, "--json"])
    results = json.loads(capsys.readouterr().out)["patches"]
    assert code == 0, results
    assert {(r["series"], r["state"]) for r in results} >= {(series_name, "applies")}
    assert fingerprint(root) == before


def _go(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``go`` in a release tree; modules come from the proxy (or the local module cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OLLAMA_", "CUDA_"))}
    return subprocess.run(
        ["go", *args],
        cwd=root,
        env={**env, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "1"},
        capture_output=True,
        text=True,
        timeout=GO_TIMEOUT,
        check=False,
    )


@pytest.mark.parametrize("tag", GO_TAGS)
def test_gpu_reservation_go_test_passes_on_a_patched_release(tag: str, trees: Path) -> None:
    """The series' own Go test, and the hooked discovery package compiled, in a real tree.

    G4's discover package imports the vendored llama.cpp through cgo (minutes of C++), so
    there only the rules package is built; its hook is the same patch as G5's.
    """
    if shutil.which("go") is None:
        pytest.skip("no go command on PATH")
    repo = ollama_repo()
    [series] = [s for s in SHIPPED if s.name == "gpu-reservation"]
    root = materialise_tag(repo, tag, trees / "go" / tag)
    version = OllamaVersion.parse(tag)
    plan_context = {**PREVIEW_CONTEXT, "min_cc_major": 8, "min_cc_minor": 6}
    apply_patches(root, render_series(series, plan_context, version), QUIET)
    assert "defaultMinComputeMajor = 8" in (root / "discover" / "reservation.go").read_text()

    tested = _go(root, "test", "-count=1", "-v", "./discover/reservation/")
    print(tested.stdout[-4000:], tested.stderr[-2000:])
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "--- FAIL" not in tested.stdout
    assert "ok  \tgithub.com/ollama/ollama/discover/reservation" in tested.stdout

    deps = _go(root, "list", "-deps", "./discover/")
    assert deps.returncode == 0, deps.stderr
    if "github.com/ollama/ollama/llama\n" in deps.stdout:
        print(f"{tag}: discover imports the cgo llama package; the hook is not compiled here")
        return
    built = _go(root, "build", "./discover/")
    assert built.returncode == 0, built.stderr
    print(f"{tag}: go build ./discover/ passed with the hook")
