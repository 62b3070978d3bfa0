"""Source checkout and recipe selection on fixture repositories (git only, no compilers)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from build_tools.errors import BuildToolsError
from build_tools.recipes import recipe_for
from build_tools.runner import Runner
from build_tools.source.checkout import SourceError, SourceSpec, prepare_source, source_slug
from build_tools.source.ollama_tree import UnknownLayoutError, read_tree

from ollama_fixture import write_fixture
from plan_values import generation


def head(repo: Path) -> str:
    return subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def g4_repo(tmp_path: Path) -> Path:
    return write_fixture(tmp_path / "upstream", generation="G4", tag="v0.24.0")


def spec(repo: Path, workdir: Path, ref: str = "v0.24.0", *, force: bool = False) -> SourceSpec:
    return SourceSpec(url=str(repo), ref=ref, workdir=workdir, force=force)


def test_tag_checkout_records_commit_and_version(g4_repo: Path, tmp_path: Path) -> None:
    checkout = prepare_source(spec(g4_repo, tmp_path / "work"), Runner(echo=False))
    assert checkout.commit == head(g4_repo)
    assert checkout.describe == "v0.24.0"
    assert checkout.version == "0.24.0"
    assert checkout.root.parent == tmp_path / "work" / "sources"
    assert (checkout.root / "CMakePresets.json").is_file()
    # Shallow: only what the ref needs.
    assert (checkout.root / ".git" / "shallow").is_file()


def test_branch_and_commit_refs(g4_repo: Path, tmp_path: Path) -> None:
    by_branch = prepare_source(spec(g4_repo, tmp_path / "a", "main"), Runner(echo=False))
    assert by_branch.commit == head(g4_repo)
    by_commit = prepare_source(spec(g4_repo, tmp_path / "b", head(g4_repo)), Runner(echo=False))
    assert by_commit.commit == head(g4_repo)


def test_unknown_ref_is_a_clear_error(g4_repo: Path, tmp_path: Path) -> None:
    with pytest.raises(SourceError) as caught:
        prepare_source(spec(g4_repo, tmp_path / "w", "v9.9.9"), Runner(echo=False))
    assert "v9.9.9" in str(caught.value)
    assert caught.value.exit_code == 8


def test_local_changes_are_refused_then_discarded_with_force(g4_repo: Path, tmp_path: Path) -> None:
    runner = Runner(echo=False)
    checkout = prepare_source(spec(g4_repo, tmp_path / "w"), runner)
    edited = checkout.root / "CMakeLists.txt"
    original = edited.read_text()
    edited.write_text(original + "# local edit\n")
    with pytest.raises(SourceError, match="local changes") as caught:
        prepare_source(spec(g4_repo, tmp_path / "w"), runner)
    assert "--force" in str(caught.value)
    prepare_source(spec(g4_repo, tmp_path / "w", force=True), runner)
    assert edited.read_text() == original


def test_slugs_differ_per_source() -> None:
    assert source_slug("https://github.com/ollama/ollama.git") != source_slug("/src/ollama")
    assert source_slug("https://github.com/ollama/ollama.git").startswith("ollama-")


# (fixture generation, tag, validates CUDA) -> (runner dir used, -X minimum knobs, hole)
TREES = [
    (("G3", "v0.6.8", True), (False, True, False)),
    (("G4", "v0.24.0", True), (True, False, False)),
    (("G4", "v0.13.0", False), (True, False, True)),
]


@pytest.mark.parametrize(("tree", "expected"), TREES)
def test_tree_facts_come_from_files(
    tmp_path: Path, tree: tuple[str, str, bool], expected: tuple[bool, bool, bool]
) -> None:
    name, tag, validates = tree
    root = write_fixture(tmp_path / "t", generation=name, tag=tag, validates_cuda=validates)
    facts = read_tree(root)
    assert facts.generation.name == name
    found = (facts.cmake_uses_runner_dir, facts.go_min_cc_knobs, facts.validation_hole)
    assert found == expected
    assert facts.go_required == (1, 22, 0)
    assert facts.preset_for(12) == "CUDA 12"
    assert facts.preset_for(11) is None


def test_unknown_layout_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("not ollama\n")
    with pytest.raises(UnknownLayoutError, match="known Ollama source layout"):
        read_tree(tmp_path)


def test_generations_without_a_recipe_say_so() -> None:
    with pytest.raises(BuildToolsError, match="not supported yet"):
        recipe_for(generation("G1"))
