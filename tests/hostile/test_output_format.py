"""Output as it lands in a log (stderr not a terminal, as in CI and under capsys): a message is
one line whatever its length, lines carry no trailing padding, a table with no rows is not
printed, a printed command can be pasted back into a shell.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from .conftest import Box
from .support import assert_ok, run_main
from boxes import SEED_BOX, write_json_inventory


def test_notice_is_one_line(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_main(["detect"], capsys)
    assert_ok(outcome)
    lines = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(lines) == 1, outcome.err
    assert lines[0].startswith("notice:"), outcome.err


def test_warnings_are_one_line_each(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    """Every warning and notice of the plan (as --json lists them) is one whole line of the
    human output, however long: nothing is wrapped off a terminal."""
    seed = write_json_inventory(box.root / "seed.json", SEED_BOX)
    argv = ["plan", "--inventory", str(seed), "--arch", "80"]
    listed = run_main([*argv, "--json"], capsys)
    assert_ok(listed, json_out=True)
    data = json.loads(listed.out)
    outcome = run_main(argv, capsys)
    assert_ok(outcome)
    lines = outcome.err.splitlines()
    assert data["warnings"], "the seed box gives warnings with --arch 80"
    for kind, messages in (("warning", data["warnings"]), ("notice", data["notices"])):
        for message in messages:
            assert f"{kind}: {message}" in lines, (
                f"{kind} not on one line: {message}\n{outcome.err}"
            )


def _outputs(box: Box, dry_build: list[str], capsys: pytest.CaptureFixture[str]) -> list[str]:
    seed = write_json_inventory(box.root / "seed.json", SEED_BOX)
    runs = [
        ["detect"],
        ["plan", "--inventory", str(seed), "--exclude-arch", "50"],
        ["toolkit", "list"],
        ["patches", "list"],
        dry_build,
    ]
    return [run_main(argv, capsys).err for argv in runs]


def test_no_trailing_padding(
    box: Box, dry_build: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    for err in _outputs(box, dry_build, capsys):
        padded = [line for line in err.splitlines() if line != line.rstrip()]
        assert not padded, "lines end in spaces:\n" + "\n".join(repr(p) for p in padded[:5])


def test_dry_run_commands_can_be_pasted(
    box: Box, dry_build: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    outcome = run_main(dry_build, capsys)
    assert_ok(outcome)
    lines = outcome.err.splitlines()
    commands = [line.removeprefix("would run: ") for line in lines if line.startswith("would run:")]
    assert commands
    for command in commands:
        shlex.split(command)  # balanced quotes: not cut in the middle
    broken = [line for line in lines if line.startswith(("-", "'", "/"))]
    assert not broken, "command lines were wrapped:\n" + "\n".join(broken[:5])


def test_no_table_without_rows(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    install = box.root / "install"
    (install / "bin").mkdir(parents=True)
    (install / "bin" / "ollama").write_text("#!/bin/sh\n")
    outcome = run_main(["inspect", str(install), "--inventory", str(box.inventory)], capsys)
    assert_ok(outcome)
    assert "Backends" not in outcome.err, f"a table with headers and no rows:\n{outcome.err}"


def test_quiet_detect_says_nothing(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    outcome = run_main(["-q", "detect"], capsys)
    assert_ok(outcome)
    assert outcome.err.strip() == ""


def test_json_output_is_only_json(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    """stdout carries one JSON document, even when notices are printed."""
    outcome = run_main(["detect", "--json"], capsys)
    assert_ok(outcome, json_out=True)
    assert isinstance(json.loads(outcome.out), dict)


def test_long_path_in_error_stays_on_one_line(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    deep = box.root / ("very-long-directory-name-" * 8) / "box.json"
    outcome = run_main(["plan", "--inventory", str(deep), "--arch", "86"], capsys)
    errors = [line for line in outcome.err.splitlines() if line.strip()]
    assert len(errors) == 1, outcome.err
    assert str(deep) in errors[0], outcome.err


def test_error_echoing_a_newline_stays_one_line(
    box: Box, capsys: pytest.CaptureFixture[str]
) -> None:
    """A value with a newline, echoed in the error, must not break the one-line contract."""
    argv = ["plan", "--inventory", str(box.inventory), "--arch", "86", "--ref", "v0.6.8\nxx"]
    outcome = run_main(argv, capsys)
    errors = [line for line in outcome.err.splitlines() if line.strip()]
    assert outcome.code == 2, outcome.err
    assert len(errors) == 1, outcome.err


def test_missing_inventory_path_is_named(box: Box, capsys: pytest.CaptureFixture[str]) -> None:
    path = Path(box.root / "nothing.json")
    outcome = run_main(["plan", "--inventory", str(path), "--arch", "86"], capsys)
    assert outcome.code == 4, outcome.err
    assert str(path) in outcome.err
