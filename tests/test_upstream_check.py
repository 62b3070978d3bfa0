"""`upstream check`: release tags newer than the registry, judged from miniature repositories.

Each test builds a git repository whose commits are miniature Ollama trees (the files a tree is
recognised and read by), tags them, and runs the command as a user would: the table or JSON it
prints and its exit code (0: nothing surprising, 12: a surprise, 8: no readable repository).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.generations import Generation, OllamaVersion, registry
from build_tools.patching import PREVIEW_CONTEXT, RenderedPatch, load_all_series, render_series
from build_tools.runner import Runner
from build_tools.source.ollama_tree import read_tree
from build_tools.upstream import extract_files, open_repository, tree_paths

from g5_fixture import write_g5_fixture
from ollama_fixture import write_fixture

GIT_ENV = {
    "GIT_AUTHOR_NAME": "upstream-test",
    "GIT_AUTHOR_EMAIL": "upstream-test@example.invalid",
    "GIT_COMMITTER_NAME": "upstream-test",
    "GIT_COMMITTER_EMAIL": "upstream-test@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00Z",
    "PATH": "/usr/bin:/bin",
}
KNOWN = registry().known_through()  # v0.33.0-rc2 when this was written
CURRENT = registry().for_version(KNOWN)


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True, env=GIT_ENV
    ).stdout


def presets(generation: Generation, changed: dict[int, str] | None = None) -> str:
    """The generation's presets file with its newest built-in stock lists (or ``changed``)."""
    stock = generation.stock_lists()
    assert stock is not None
    lists = {**stock.lists, **(changed or {})}
    return json.dumps(
        {
            "version": 3,
            "configurePresets": [
                {
                    "name": generation.tree.stock_preset_names(major)[0],
                    "cacheVariables": {"CMAKE_CUDA_ARCHITECTURES": archs},
                }
                for major, archs in sorted(lists.items())
            ],
        },
        indent=2,
    )


# Upstream's shape (v0.33.0-rc2:llama/server/CMakeLists.txt): the programs, then a list of
# libraries built by set/foreach/list(APPEND).
SERVER_INSTALL = (
    "install(TARGETS llama-server llama-quantize\n"
    "    RUNTIME DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL)\n"
    "set(_llama_server_base_libs ggml-base ggml llama mtmd)\n"
    "foreach(_impl_lib IN ITEMS llama-server-impl llama-quantize-impl)\n"
    "    if(TARGET ${_impl_lib})\n"
    "        list(APPEND _llama_server_base_libs ${_impl_lib})\n"
    "    endif()\n"
    "endforeach()\n"
    "install(TARGETS ${_llama_server_base_libs}\n"
    "    RUNTIME DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL\n"
    "    LIBRARY DESTINATION ${_base_dest} COMPONENT llama-server OPTIONAL)\n"
)


def tree_of(generation: Generation, **changed: str) -> dict[str, str]:
    """A miniature tree of ``generation``: its signature files and presets, and the files its
    patch series change as the series expect them (for its newest tag the series cover)."""
    files = {path: f"# {path}\n" for path in generation.tree.files}
    if generation.tree.llama_cpp_pin is not None:
        files[generation.tree.llama_cpp_pin] = "b10488\n"
    if generation.tree.presets_file is not None:
        files[generation.tree.presets_file] = presets(generation)
    if generation.tree.server_install is not None:
        files[generation.tree.server_install] = SERVER_INSTALL
    for patch in series_patches(generation):
        files.update(preimage(patch.text))
    return {**files, **changed}


def series_patches(generation: Generation) -> list[RenderedPatch]:
    """The patches of every series for ``generation``, as its newest covered tag gets them."""
    newest = generation.last_tag or KNOWN
    patches: list[RenderedPatch] = []
    for one in load_all_series():
        if generation.name in one.generations and one.target == "ollama":
            version = newest if one.last_tag is None else min(newest, one.last_tag)
            patches += render_series(one, PREVIEW_CONTEXT, version)
    return patches


def commit_tag(repo: Path, tag: str, files: Mapping[str, str | None]) -> None:
    """Commit ``files`` (None: delete) on top of the repository and tag the commit."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        git(repo, "init", "-q", "-b", "main")
    for relative, content in files.items():
        path = repo / relative
        if content is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", tag)
    git(repo, "tag", "-a", tag, "-m", tag)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["upstream", "check", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_json(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = run(capsys, *argv, "--json")
    return code, json.loads(out)


def error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("error:")]


@pytest.fixture
def known_repo(tmp_path: Path) -> Path:
    """An Ollama-like repository at the registry's newest known tag, plus older noise."""
    repo = tmp_path / "ollama"
    commit_tag(repo, "v0.30.0", tree_of(CURRENT))
    commit_tag(repo, str(KNOWN), {})
    git(repo, "tag", "nightly-2026")  # not a release tag
    git(repo, "tag", "v9.9.9-beta")  # not a release tag either
    return repo


# --- nothing new, nothing surprising ---------------------------------------------------------
def test_no_tag_after_the_registry_is_exit_0(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--source", str(known_repo))
    assert code == 0
    assert f"no release tags after {KNOWN} (the registry's newest known tag)" in err
    assert f"(newest {KNOWN})" in err
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 0
    assert report["tags"] == []
    assert report["since"] == str(KNOWN)
    assert report["since_from"] == "registry"
    assert report["surprise"] is False


def test_a_new_tag_like_the_last_known_one_is_as_expected(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    new = "v0.99.0-rc0"
    commit_tag(known_repo, new, {"README.md": "release notes\n"})
    code, _, err = run(capsys, "--source", str(known_repo))
    assert code == 0, err
    row = next(line for line in err.splitlines() if line.startswith(new))
    assert f"{CURRENT.name} (recognised)" in row
    assert "unchanged" in row
    assert "as expected" in row
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 0
    (tag,) = report["tags"]
    assert tag["tag"] == new
    assert tag["recognised"] is True
    assert tag["generation"] == tag["expected_generation"] == CURRENT.name
    assert tag["stock_lists"]["changes"] == []
    assert tag["stock_lists"]["tree"] == tag["stock_lists"]["table"] != {}
    assert tag["llama_cpp"] == "b10488"
    if CURRENT.tree.server_install is not None:
        assert tag["server_programs"] == ["llama-server", "llama-quantize"]
        assert tag["server_libraries"] == [
            "ggml-base", "ggml", "llama", "mtmd", "llama-server-impl", "llama-quantize-impl"
        ]  # fmt: skip
    assert tag["surprises"] == []


# --- surprises -------------------------------------------------------------------------------
def test_a_changed_stock_list_is_a_surprise_exit_12(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stock = CURRENT.stock_lists()
    assert stock is not None
    major = min(stock.lists)
    moved = stock.lists[major] + ";110"
    presets_file = CURRENT.tree.presets_file
    assert presets_file is not None
    commit_tag(known_repo, "v0.99.0", {presets_file: presets(CURRENT, {major: moved})})
    code, _, err = run(capsys, "--source", str(known_repo))
    assert code == 12
    (error,) = error_lines(err)
    assert "v0.99.0" in error
    assert f"CUDA {major} stock list changed: {stock.lists[major]} -> {moved}" in error
    assert "SURPRISE" in err
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 12
    (tag,) = report["tags"]
    assert tag["recognised"] is True
    assert tag["stock_lists"]["tree"][str(major)] == moved
    assert report["surprise"] is True


def test_a_tree_whose_shipped_programs_cannot_be_read_is_a_surprise(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The build would fall back to its built-in list, and the install rule is OPTIONAL: a
    program it does not build would be missing from the package without a word."""
    where = CURRENT.tree.server_install
    if where is None:
        pytest.skip(f"{CURRENT.name} does not read its shipped programs from the tree")
    moved = SERVER_INSTALL.replace(
        "llama-quantize\n    RUNTIME DESTINATION ${_base_dest}",
        "llama-quantize\n    RUNTIME DESTINATION ${OLLAMA_LIB_DIR}",
    )
    assert moved != SERVER_INSTALL
    commit_tag(known_repo, "v0.99.0", {where: moved})
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 12
    (tag,) = report["tags"]
    assert tag["recognised"] is True
    assert tag["server_programs"] == []
    assert tag["surprises"] == [
        f"{where}: no install(TARGETS ... RUNTIME DESTINATION ${{_base_dest}}) line names the "
        "programs the CPU build ships; the build would fall back to its built-in list"
    ]


def test_a_moved_signature_file_is_a_surprise_naming_the_file(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    moved = CURRENT.tree.files[-1]
    commit_tag(known_repo, "v0.99.0", {moved: None, f"build/{moved}": "moved\n"})
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 12
    (tag,) = report["tags"]
    assert tag["recognised"] is False
    assert tag["missing_signature_files"] == [moved]
    assert tag["surprises"][0].endswith(f"expected {CURRENT.name} (lacks {moved})")
    code, _, err = run(capsys, "--source", str(known_repo))
    assert code == 12
    assert f"lacks {moved}" in error_lines(err)[0]


def test_a_tree_that_looks_like_an_older_generation_says_which(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    older = registry().generations[-2]
    gone: dict[str, str | None] = dict.fromkeys(CURRENT.tree.files)
    commit_tag(known_repo, "v0.99.0", {**gone, **tree_of(older)})
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 12
    (tag,) = report["tags"]
    assert tag["generation"] == older.name
    assert tag["surprises"][0].startswith(f"looks like {older.name}, expected {CURRENT.name}")


def test_since_reports_every_tag_after_it(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_json(capsys, "--source", str(known_repo), "--since", "v0.30.0")
    assert code == 0
    assert [t["tag"] for t in report["tags"]] == [str(KNOWN)]
    assert report["since_from"] == "--since"


# --- patch series ----------------------------------------------------------------------------
def preimage(patch: str) -> dict[str, str]:
    """The files a patch changes, as they were before it (context and removed lines)."""
    files: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in patch.splitlines():
        if line.startswith("--- "):
            current = None if line.endswith("/dev/null") else files.setdefault(line[6:], [])
        elif current is not None and line.startswith((" ", "-")) and not line.startswith("---"):
            current.append(line[1:])
    return {path: "\n".join(lines) + "\n" for path, lines in files.items()}


def series_for(generation: Generation) -> list[str]:
    return [s.name for s in load_all_series() if generation.name in s.generations]


def test_each_current_patch_series_is_checked_and_a_conflict_is_a_surprise(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The shipped series of the newest generation (gpu-reservation is checked through its last
    # tag): a tag after --since gets each checked. The patched files are written as the series
    # expect them (tree_of), then one is rewritten "upstream".
    generation = registry().for_version(KNOWN)
    repo = tmp_path / "g5"
    commit_tag(repo, "v0.33.0-rc2", tree_of(generation))
    commit_tag(repo, "v0.33.0", {"README.md": "fine\n"})
    hook = next(
        p for p in series_patches(generation) if p.series == "gpu-reservation" and preimage(p.text)
    )
    patched = next(iter(preimage(hook.text)))
    commit_tag(repo, "v0.33.1", {patched: "package discover\n\n// rewritten upstream\n"})
    code, report = run_json(capsys, "--source", str(repo), "--since", "v0.33.0-rc2")
    assert code == 12
    first, second = report["tags"]
    states = {s["series"]: s["state"] for s in first["series"]}
    assert set(states) == set(series_for(generation))
    assert states["gpu-reservation"] == "applies"
    assert first["surprises"] == []
    conflict = next(s for s in second["series"] if s["series"] == "gpu-reservation")
    assert conflict["state"] == "conflict"
    assert patched in conflict["detail"]
    assert second["surprises"] == [f"series gpu-reservation does not apply: {conflict['detail']}"]
    code, _, err = run(capsys, "--source", str(repo), "--since", "v0.33.0-rc2")
    assert code == 12
    (error,) = error_lines(err)
    assert "1 of 2 new tag(s)" in error
    assert "v0.33.1: series gpu-reservation does not apply" in error


# --- sources: a URL, a missing or broken repository ------------------------------------------
def test_a_url_source_fetches_only_the_new_tags_into_the_workdir(
    known_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_tag(known_repo, "v0.99.0", {"README.md": "new\n"})
    url = known_repo.as_uri()
    workdir = tmp_path / "work"
    code, report = run_json(capsys, "--source", url, "--workdir", str(workdir))
    assert code == 0
    assert [t["tag"] for t in report["tags"]] == ["v0.99.0"]
    (cache,) = (workdir / "upstream").iterdir()
    assert git(cache, "tag").split() == ["v0.99.0"]
    # A second run reads the cached tag; the source may even be gone for the files.
    code, again = run_json(capsys, "--source", url, "--workdir", str(workdir))
    assert code == 0
    assert again["tags"] == report["tags"]


def test_a_missing_source_is_exit_8_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "--source", str(tmp_path / "nowhere"))
    assert code == 8
    assert out == ""
    (error,) = error_lines(err)
    assert "does not exist" in error


def test_a_directory_that_is_no_repository_is_exit_8(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inside = known_repo / "not-a-repo"
    inside.mkdir()  # inside a repository, but not one itself
    code, _, err = run(capsys, "--source", str(inside))
    assert code == 8
    assert "is not a git repository" in error_lines(err)[0]


def test_a_repository_missing_the_objects_of_a_tag_is_exit_8(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    commit_tag(known_repo, "v0.99.0", {"README.md": "new\n"})
    tree = git(known_repo, "rev-parse", "v0.99.0^{tree}").strip()
    git(known_repo, "repack", "-q", "-a", "-d")
    shutil.rmtree(known_repo / ".git" / "objects" / "pack")
    assert not (known_repo / ".git" / "objects" / tree[:2] / tree[2:]).exists()
    code, _, err = run(capsys, "--source", str(known_repo))
    assert code == 8
    (error,) = error_lines(err)
    assert re.search(r"cannot read (the tags of|v0\.99\.0 from)", error), error


def test_an_unreachable_url_is_exit_8(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = (tmp_path / "gone.git").as_uri()
    code, _, err = run(capsys, "--source", url, "--workdir", str(tmp_path / "work"))
    assert code == 8
    assert f"cannot read the tags of {url}" in error_lines(err)[0]


def test_a_since_that_is_no_release_tag_is_exit_2(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "--source", str(known_repo), "--since", "main")
    assert code == 2
    assert "--since" in error_lines(err)[0]


# --- what is read of a tree is what a build reads --------------------------------------------
@pytest.mark.parametrize("kind", ["G4", "G5"])
def test_the_files_read_from_git_give_the_facts_of_the_whole_tree(
    kind: str, tmp_path: Path
) -> None:
    root = tmp_path / "tree"
    if kind == "G5":
        write_g5_fixture(root, "", tag="v0.32.2")
        tag = "v0.32.2"
    else:
        write_fixture(root, generation="G4", tag="v0.24.0")
        tag = "v0.24.0"
    runner = Runner(echo=False)
    repository = open_repository(str(root), tmp_path / "work", runner)
    extracted = tmp_path / "extracted"
    extracted.mkdir()
    paths = tree_paths(load_all_series())
    written = extract_files(repository, OllamaVersion.parse(tag), paths, extracted, runner)
    assert written
    whole, part = read_tree(root), read_tree(extracted)
    assert part.generation == whole.generation
    assert part.presets == whole.presets
    assert part.stock_lists() == whole.stock_lists()
    assert part.llama_cpp_version == whole.llama_cpp_version
    assert part.go_ldflags == whole.go_ldflags
    assert part.server_programs == whole.server_programs
    assert part.go_required == whole.go_required
    assert part.cmake_uses_runner_dir == whole.cmake_uses_runner_dir
    assert part.validation_hole == whole.validation_hole
    assert part.go_min_cc_knobs == whole.go_min_cc_knobs
    if whole.compat_patch is not None:
        assert part.compat_patch is not None
        assert part.compat_patch.define == whole.compat_patch.define
        assert [p.name for p in part.compat_patch.patches] == [
            p.name for p in whole.compat_patch.patches
        ]


def test_a_shipped_library_the_programs_are_not_known_to_link_is_a_surprise(
    known_repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The build makes the shipped programs and what they link; the install rule is OPTIONAL,
    so a library no program links would be missing from the package without a word."""
    where = CURRENT.tree.server_install
    if where is None:
        pytest.skip(f"{CURRENT.name} does not read its shipped programs from the tree")
    added = SERVER_INSTALL.replace(
        "    endif()\n", "    endif()\n    list(APPEND _llama_server_base_libs llama-tts)\n"
    )
    commit_tag(known_repo, "v0.99.0", {where: added})
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 12
    (tag,) = report["tags"]
    assert "llama-tts" in tag["server_libraries"]
    (surprise,) = tag["surprises"]
    assert surprise.startswith(f"{where} installs llama-tts, which the shipped programs")
    assert "server_linked_libraries" in surprise

    # And a tree whose library line cannot be read at all says so.
    unreadable = SERVER_INSTALL.replace(
        "LIBRARY DESTINATION ${_base_dest}", "LIBRARY DESTINATION x"
    )
    commit_tag(known_repo, "v0.99.1", {where: unreadable})
    code, report = run_json(capsys, "--source", str(known_repo))
    assert code == 12
    newest = next(t for t in report["tags"] if t["tag"] == "v0.99.1")
    assert newest["server_libraries"] == []
    assert any("names the libraries the CPU build ships" in s for s in newest["surprises"])
