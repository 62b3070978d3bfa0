"""Option values: every bad value is exit 2 with one line naming the option, before anything
runs; contradictory options are refused instead of one silently winning; an unknown command
is named as such.
"""

from __future__ import annotations

import pytest

from .conftest import Box
from .support import assert_error_code, assert_ok, run_main, snapshot

# --- architecture lists: plan --inventory BOX --arch VALUE ----------------------------------

# (case id, option, value, expected exit code)
ARCH_CASES: list[tuple[str, str, str, int]] = [
    ("arch-valid", "--arch", "86", 0),
    ("arch-valid-list", "--arch", "75,86;sm_89", 0),
    ("arch-native", "--arch", "native", 0),
    ("arch-empty", "--arch", "", 2),
    ("arch-blank", "--arch", "   ", 2),
    ("arch-only-comma", "--arch", ",", 2),
    ("arch-only-semicolons", "--arch", ";;", 2),
    ("arch-sm-prefix-only", "--arch", "sm_", 2),
    ("arch-compute-prefix-only", "--arch", "compute_", 2),
    ("arch-huge-number", "--arch", "999999999999", 2),
    ("arch-single-digit", "--arch", "5", 2),
    ("arch-zero", "--arch", "0", 2),
    ("arch-negative", "--arch", "-86", 2),
    ("arch-three-part", "--arch", "8.6.1", 2),
    ("arch-real-twice", "--arch", "86-real-real", 2),
    ("arch-sm-and-real", "--arch", "sm_86-virtual", 2),
    ("arch-nan", "--arch", "nan", 2),
    ("arch-nul", "--arch", "86\x00", 2),
    ("arch-newline-injection", "--arch", "86\n-DCMAKE_C_COMPILER=/tmp/x", 2),
    ("arch-unknown-to-toolkits", "--arch", "999", 3),
    ("arch-1mb-token", "--arch", "8" * 1_000_000, 2),
    ("exclude-empty", "--exclude-arch", "", 2),
    ("exclude-comma", "--exclude-arch", ",", 2),
    ("exclude-keyword-all", "--exclude-arch", "all", 2),
    ("exclude-garbage", "--exclude-arch", "fifty", 2),
    ("min-arch-empty", "--min-arch", "", 2),
    ("min-arch-text", "--min-arch", "abc", 2),
    ("min-arch-negative", "--min-arch", "-5", 2),
    ("min-arch-drops-everything", "--min-arch", "99", 3),
    ("ptx-unknown", "--ptx", "some", 2),
    ("generation-unknown", "--ollama-generation", "G9", 2),
    ("generation-empty", "--ollama-generation", "", 2),
    ("ref-not-a-version", "--ref", "not-a-tag", 2),
    ("ref-empty", "--ref", "", 2),
    ("cuda-text", "--cuda", "abc", 2),
    ("cuda-empty", "--cuda", "", 2),
    ("cuda-unknown-major", "--cuda", "99", 2),
    ("cuda-unknown-version", "--cuda", "99.9", 6),
    ("cuda-negative", "--cuda", "-12.4", 2),
    ("provider-unknown", "--toolkit-provider", "conda", 2),
]


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [pytest.param(o, v, c, id=name) for name, o, v, c in ARCH_CASES],
)
def test_plan_option_value(
    option: str, value: str, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", option, value, "--json"]
    if option == "--arch":
        argv = ["plan", "--inventory", str(box.inventory), "--arch", value, "--json"]
    before = snapshot(box.root / "xdg-cache")
    outcome = run_main(argv, capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_error_code(outcome, expected)
    assert snapshot(box.root / "xdg-cache") == before, "a refused plan must not touch the cache"


# --- verify --timeout ------------------------------------------------------------------------

TIMEOUT_CASES = [
    ("negative", "-5", 2),
    ("zero", "0", 2),
    ("nan", "nan", 2),
    ("inf", "inf", 2),
    ("minus-inf", "-inf", 2),
    ("overflow", "1e999", 2),
    ("text", "abc", 2),
    ("empty", "", 2),
]


@pytest.mark.parametrize(
    ("value", "expected"), [pytest.param(v, c, id=n) for n, v, c in TIMEOUT_CASES]
)
def test_verify_timeout_value(
    value: str, expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """Refused before a model is written or a server started: nothing in TMPDIR afterwards."""
    install = box.root / "install"
    (install / "lib" / "ollama").mkdir(parents=True)
    (install / "bin").mkdir()
    ollama = install / "bin" / "ollama"
    ollama.write_text("#!/bin/sh\nexit 1\n")
    ollama.chmod(0o755)
    outcome = run_main(
        ["verify", str(install), "--inventory", str(box.inventory), "--timeout", value], capsys
    )
    assert_error_code(outcome, expected, contains=["timeout"])
    assert box.leftovers() == []


# --- build options, on a dry run that otherwise succeeds offline -----------------------------

BUILD_VALUE_CASES = [
    ("baseline", [], 0),
    ("jobs-negative", ["--jobs", "-4"], 2),
    ("jobs-zero", ["--jobs", "0"], 2),
    ("jobs-text", ["--jobs", "abc"], 2),
    ("jobs-huge", ["--jobs", "99999999999999999999"], 2),
    ("epoch-negative", ["--source-date-epoch", "-1"], 2),
    ("epoch-text", ["--source-date-epoch", "abc"], 2),
    ("epoch-float-exponent", ["--source-date-epoch", "1e99"], 2),
    ("epoch-beyond-tar", ["--source-date-epoch", "99999999999999999999"], 2),
    ("epoch-empty", ["--source-date-epoch", ""], 2),
    ("arch-empty", ["--arch", ""], 2),
    ("arch-comma", ["--arch", ","], 2),
    ("exclude-empty", ["--exclude-arch", ""], 2),
    ("format-unknown", ["--format", "zip"], 2),
    ("compress-unknown", ["--compress", "xz"], 2),
    ("stop-after-unknown", ["--stop-after", "lunch"], 2),
    ("compiler-cache-unknown", ["--compiler-cache", "distcc"], 2),
    ("patch-unknown", ["--patch", "no-such-series"], 2),
    ("dist-dir-is-a-file", ["--dist-dir", "FILE"], 2),
    ("dist-dir-under-a-file", ["--dist-dir", "FILE/dist"], 2),
    ("workdir-is-a-file", ["--workdir", "FILE"], 2),
    ("workdir-under-a-file", ["--workdir", "FILE/work"], 2),
    ("workdir-empty-string", ["--workdir", ""], 2),
]


@pytest.mark.parametrize(
    ("extra", "expected"), [pytest.param(e, c, id=n) for n, e, c in BUILD_VALUE_CASES]
)
def test_build_option_value(
    extra: list[str],
    expected: int,
    dry_build: list[str],
    box: Box,
    capsys: pytest.CaptureFixture[str],
) -> None:
    a_file = box.file("a-file", "not a directory")
    extra = [e.replace("FILE", str(a_file)) for e in extra]
    before = snapshot(box.root)
    outcome = run_main([*dry_build, *extra], capsys)
    if expected == 0:
        assert_ok(outcome)
    else:
        assert_error_code(outcome, expected)
    assert snapshot(box.root) == before, "a dry run must not create anything"


# --- contradictory options -------------------------------------------------------------------

CONFLICT_CASES = [
    ("build-source-and-source-dir", "build", ["--source", "SRC"], 2),
    ("build-ref-and-source-dir", "build", ["--ref", "v0.6.8"], 2),
    ("build-verify-and-stop-after", "build", ["--verify", "--stop-after", "configure"], 2),
    ("build-patch-and-no-patch-same", "build", ["--patch", "gpu-reservation", "--no-patch",
                                                "gpu-reservation"], 2),
    ("build-cuda-home-and-provider", "build", ["--toolkit-provider", "pypi"], 2),
    ("patches-source-and-source-dir", "patches", ["--source", "SRC"], 2),
    ("patches-ref-and-source-dir", "patches", ["--ref", "v0.6.8"], 2),
]  # fmt: skip


@pytest.mark.parametrize(
    ("command", "extra", "expected"),
    [pytest.param(cmd, e, c, id=n) for n, cmd, e, c in CONFLICT_CASES],
)
def test_conflicting_options(
    command: str,
    extra: list[str],
    expected: int,
    dry_build: list[str],
    g4_tree: object,
    box: Box,
    capsys: pytest.CaptureFixture[str],
) -> None:
    other = box.root / "other-source"
    other.mkdir()
    extra = [e.replace("SRC", str(other)) for e in extra]
    if command == "build":
        argv = [*dry_build, *extra]
    else:
        argv = ["patches", "check", "--source-dir", str(g4_tree), *extra]
    before = snapshot(box.root)
    outcome = run_main(argv, capsys)
    assert_error_code(outcome, expected)
    assert snapshot(box.root) == before


PLAN_CONFLICTS = [
    ("ref-g3-generation-g5", ["--ref", "v0.6.8", "--ollama-generation", "G5"], 2),
    ("ref-g5-generation-g3", ["--ref", "v0.32.0", "--ollama-generation", "G3"], 2),
    ("ref-g4-generation-g4", ["--ref", "v0.24.0", "--ollama-generation", "G4"], 0),
    ("profiles-file-without-profile", ["--profiles-file", "ollama-build.toml"], 2),
]


@pytest.mark.parametrize(
    ("extra", "expected"), [pytest.param(e, c, id=n) for n, e, c in PLAN_CONFLICTS]
)
def test_plan_conflicts(
    extra: list[str], expected: int, box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", *extra, "--json"]
    outcome = run_main(argv, capsys)
    if expected == 0:
        assert_ok(outcome, json_out=True)
    else:
        assert_error_code(outcome, expected)


# --- commands -------------------------------------------------------------------------------

COMMAND_CASES: list[tuple[str, list[str], int, list[str], list[str]]] = [
    # (id, argv, exit, the error line must mention, must not say)
    ("typo-build", ["buidl"], 2, ["buidl"], ["unrecognized arguments"]),
    ("typo-plan", ["plna", "--arch", "86"], 2, ["plna"], ["unrecognized arguments"]),
    ("typo-inspect", ["inpsect", "x"], 2, ["inpsect"], ["unrecognized arguments"]),
    ("unknown-word", ["frobnicate"], 2, ["frobnicate"], ["unrecognized arguments"]),
    ("toolkit-no-action", ["toolkit"], 2, [], []),
    ("toolkit-unknown-action", ["toolkit", "instal", "--cuda", "12.4"], 2, ["instal"], []),
    ("render-no-kind", ["render"], 2, [], []),
    ("patches-no-action", ["patches"], 2, [], []),
    ("inspect-no-path", ["inspect"], 2, [], []),
    ("plan-missing-value", ["plan", "--inventory"], 2, ["--inventory"], []),
    ("global-flag-after-command", ["plan", "--arch", "86", "--inventory", "BOX", "--debug"], 2,
     ["--debug"], []),
    ("unknown-global-flag", ["--dryrun", "plan"], 2, ["--dryrun"], []),
]  # fmt: skip


@pytest.mark.parametrize(
    ("argv", "expected", "mention", "avoid"),
    [pytest.param(a, c, m, x, id=n) for n, a, c, m, x in COMMAND_CASES],
)
def test_command_line(
    argv: list[str],
    expected: int,
    mention: list[str],
    avoid: list[str],
    box: Box,
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = [str(box.inventory) if a == "BOX" else a for a in argv]
    outcome = run_main(argv, capsys)
    assert_error_code(outcome, expected, contains=mention, not_contains=avoid)


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_main(["--version"], capsys)
    assert outcome.code == 0
    assert "Traceback" not in outcome.err


def test_dry_run_alone_means_build(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    """README: no command means `build`; so `--dry-run` alone is a dry-run build, not help."""
    outcome = run_main(["--dry-run"], capsys)
    assert "usage:" not in outcome.err, outcome.describe()
    assert "Traceback" not in outcome.err, outcome.describe()


def test_dry_run_build_on_a_fresh_machine(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    """`--dry-run build` with nothing fetched yet prints what it would do and changes nothing."""
    workdir = box.root / "fresh-work"
    argv = [
        "--dry-run",
        "build",
        "--source",
        str(box.root / "no-such-clone-yet"),
        "--inventory",
        str(box.inventory),
        "--cuda-home",
        str(box.toolkit),
        "--workdir",
        str(workdir),
        "--dist-dir",
        str(box.root / "dist"),
    ]
    outcome = run_main(argv, capsys)
    assert_ok(outcome)
    assert not workdir.exists()
    # It says what it planned from (the default ref's generation) and what waits for the tree.
    (said,) = [line for line in outcome.err.splitlines() if "is not fetched yet" in line]
    assert "G4, the generation of the tag v0.24.0" in said
    assert "CMAKE_CUDA_ARCHITECTURES=86" in outcome.err


def test_a_command_line_flag_replaces_a_conflicting_profile_value(
    dry_build: list[str], box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """Conflicts are errors at one level; across levels the command line wins as for any
    option (a CI profile's ref does not stop a local --source-dir build), and says so."""
    profiles = box.file("ollama-build.toml", '[profiles.lab]\nref = "v0.6.8"\n')
    argv = [*dry_build, "--profiles-file", str(profiles), "--profile", "lab"]
    outcome = run_main(argv, capsys)
    assert_ok(outcome)
    assert (
        "notice: --ref from profile lab is not used: --source-dir from command line excludes it"
        in outcome.err.splitlines()
    )
