"""Sources: `--source`, `--ref`, `--source-dir`, `--workdir` that are wrong or hostile.

A source that cannot be fetched is exit 8 with one line naming the source and the ref, quickly
(no full fetch of every tag to find out that a tag does not exist), and nothing stays behind
under `<workdir>/sources`. A value that looks like an option is never passed to git as one.
Everything here is local: no network.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Box
from .support import assert_error_code, assert_ok, run_main, snapshot, write_program

GIT_LOGGER = """\
import os, sys
with open({log!r}, "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
os.execv({git!r}, [{git!r}, *sys.argv[1:]])
"""


def _log_git(box: Box) -> Path:
    log = box.root / "git.calls"
    real = shutil.which("git")
    assert real is not None
    write_program(box.fake_bin / "git", GIT_LOGGER.format(log=str(log), git=real))
    return log


def _check(box: Box, *extra: str) -> list[str]:
    return ["patches", "check", "--workdir", str(box.root / "work"), *extra]


def _sources_left(box: Box) -> list[str]:
    sources = box.root / "work" / "sources"
    return sorted(p.name for p in sources.iterdir()) if sources.is_dir() else []


def test_local_source_baseline(box: Box, g4_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_main(_check(box, "--source", str(g4_tree), "--ref", "v0.24.0"), capsys)
    assert_ok(outcome)


def test_ref_that_does_not_exist(
    box: Box, g4_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _log_git(box)
    outcome = run_main(_check(box, "--source", str(g4_tree), "--ref", "v9.9.9"), capsys)
    assert_error_code(outcome, 8, contains=["v9.9.9"])
    calls = log.read_text() if log.exists() else ""
    assert "fetch --tags" not in calls, f"a full fetch to find a missing ref:\n{calls}"
    assert _sources_left(box) == [], "a failed fetch leaves no initialised checkout"


@pytest.mark.parametrize("kind", ["missing", "plain-directory", "file", "empty-repository"])
def test_source_that_is_not_a_repository(
    kind: str, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    source = box.root / "src"
    if kind == "plain-directory":
        source.mkdir()
        (source / "README").write_text("not a repository")
    elif kind == "file":
        source.write_text("not a repository")
    elif kind == "empty-repository":
        subprocess.run(["git", "init", "-q", str(source)], check=True)
    outcome = run_main(_check(box, "--source", str(source), "--ref", "v0.24.0"), capsys)
    line = assert_error_code(outcome, 8)
    assert str(source) in line or "src" in line
    assert _sources_left(box) == [], "a failed fetch leaves no initialised checkout"


@pytest.mark.parametrize("option", ["--ref", "--source"])
@pytest.mark.parametrize(
    "value",
    ["--upload-pack=touch {marker}", "-oProxyCommand=touch {marker}"],
    ids=["upload-pack", "ssh-option"],
)
def test_option_like_values_never_reach_git_as_options(
    option: str, value: str, box: Box, g4_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    marker = box.root / "pwned"
    value = value.format(marker=marker)
    args = {"--ref": "v0.24.0", "--source": str(g4_tree), option: value}
    outcome = run_main(_check(box, "--source", args["--source"], "--ref", args["--ref"]), capsys)
    assert not marker.exists(), "a value from the command line ran a program"
    assert_error_code(outcome, 2)


@pytest.mark.parametrize("ref", ["", " ", "v0.24.0\n", "v0.24.0 v0.6.8", "v0.6.8..v0.24.0"])
def test_ref_values(ref: str, box: Box, g4_tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_main(_check(box, "--source", str(g4_tree), "--ref", ref), capsys)
    assert_error_code(outcome, 2)
    assert _sources_left(box) == []


def _source_dir(kind: str, box: Box) -> Path:
    path = box.root / "tree"
    if kind == "missing":
        return path
    if kind == "file":
        path.write_text("x")
    elif kind == "plain-directory":
        path.mkdir()
    elif kind == "unborn-repository":
        subprocess.run(["git", "init", "-q", str(path)], check=True)
    elif kind == "gitfile-to-nowhere":
        path.mkdir()
        (path / ".git").write_text("gitdir: /nonexistent/gitdir\n")
    elif kind == "git-is-garbage-file":
        path.mkdir()
        (path / ".git").write_bytes(b"\xff\xfe garbage")
    return path


@pytest.mark.parametrize(
    "kind",
    ["missing", "file", "plain-directory", "unborn-repository", "gitfile-to-nowhere",
     "git-is-garbage-file"],
)  # fmt: skip
def test_source_dir_unusable(kind: str, box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    path = _source_dir(kind, box)
    outcome = run_main(["patches", "check", "--source-dir", str(path)], capsys)
    assert_error_code(outcome, 8)


def _workdir(kind: str, box: Box) -> Path:
    if kind == "is-a-file":
        return box.file("work-file", "x")
    if kind == "under-a-file":
        return box.file("work-file", "x") / "work"
    if kind == "sources-is-a-file":
        work = box.root / "work-with-file"
        work.mkdir()
        (work / "sources").write_text("x")
        return work
    if kind == "read-only":
        path = box.root / "ro-work"
        path.mkdir()
        path.chmod(0o555)
        if os.access(path, os.W_OK):
            return Path("/sys/ollama-build-tools-hostile-work")
        return path
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["is-a-file", "under-a-file", "sources-is-a-file", "read-only"])
def test_workdir_unusable(
    kind: str, box: Box, g4_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = _workdir(kind, box)
    before = snapshot(box.root)
    argv = ["patches", "check", "--workdir", str(workdir), "--source", str(g4_tree),
            "--ref", "v0.24.0"]  # fmt: skip
    outcome = run_main(argv, capsys)
    assert_error_code(outcome, 2, contains=[])
    assert snapshot(box.root) == before


def test_build_workdir_is_a_file(
    box: Box, g4_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["build", "--workdir", str(box.file("work-file", "x")), "--source", str(g4_tree),
            "--ref", "v0.24.0", "--inventory", str(box.inventory), "--arch", "86",
            "--cuda-home", str(box.toolkit)]  # fmt: skip
    assert_error_code(run_main(argv, capsys), 2)


def test_cached_checkout_is_corrupt(
    box: Box, g4_tree: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A cached checkout whose .git was damaged (disk full, killed clone): one line, exit 8."""
    argv = _check(box, "--source", str(g4_tree), "--ref", "v0.24.0")
    assert_ok(run_main(argv, capsys))
    (checkout,) = (box.root / "work" / "sources").iterdir()
    shutil.rmtree(checkout / ".git" / "objects")
    (checkout / ".git" / "objects").write_text("garbage")
    assert_error_code(run_main(argv, capsys), 8)
