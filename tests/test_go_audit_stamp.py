"""An unchanged re-run does not read bin/ollama's symbol table again, and a changed binary is."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import pytest

from build_tools.errors import AuditError
from build_tools.pipeline.stamps import Stamps, audited_once

from ollama_fixture import write_fixture
from plan_values import generation, make_build_plan, make_checkout, make_options, make_toolkit

EXPECTED = {"github.com/ollama/ollama/version.Version": "0.24.0"}


class Auditor:
    """Reads what the 'binary' says, and counts how often it was asked."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, binary: Path, expected: Mapping[str, str]) -> dict[str, str]:
        self.calls += 1
        found = dict(line.split("=", 1) for line in binary.read_text().splitlines())
        if any(found.get(k) != v for k, v in expected.items()):
            raise AuditError(f"{binary}: Go variables differ")
        return found


@pytest.fixture
def stamps(tmp_path: Path) -> Stamps:
    source = write_fixture(tmp_path / "ollama", generation="G4", tag="v0.24.0")
    plan = make_build_plan(
        make_checkout(source, "v0.24.0"),
        generation("G4"),
        toolkit=make_toolkit(),
        options=make_options(tmp_path / "work"),
    )
    return Stamps(plan)


def write_binary(path: Path, version: str, mtime_ns: int) -> None:
    path.write_text(f"github.com/ollama/ollama/version.Version={version}\n")
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_an_unchanged_binary_is_audited_once(stamps: Stamps, tmp_path: Path) -> None:
    binary, audit = tmp_path / "ollama-bin", Auditor()
    write_binary(binary, "0.24.0", 1_000_000_000)
    first = audited_once(stamps, binary, EXPECTED, audit)
    again = audited_once(stamps, binary, EXPECTED, audit)
    assert first == again == EXPECTED
    assert audit.calls == 1
    # Other expectations (another plan's -X values) are audited, not taken from the stamp.
    with pytest.raises(AuditError):
        audited_once(stamps, binary, {**EXPECTED, "x.Y": "1"}, audit)
    assert audit.calls == 2


def test_a_replaced_binary_is_audited_again_and_a_failure_is_not_remembered(
    stamps: Stamps, tmp_path: Path
) -> None:
    binary, audit = tmp_path / "ollama-bin", Auditor()
    write_binary(binary, "0.24.0", 1_000_000_000)
    audited_once(stamps, binary, EXPECTED, audit)
    write_binary(binary, "0.24.1", 2_000_000_000)  # same size, another time: relinked
    for _ in range(2):
        with pytest.raises(AuditError):
            audited_once(stamps, binary, EXPECTED, audit)
    assert audit.calls == 3


def test_without_stamps_every_audit_reads_the_binary(tmp_path: Path) -> None:
    binary, audit = tmp_path / "ollama-bin", Auditor()
    write_binary(binary, "0.24.0", 1_000_000_000)
    for _ in range(2):
        assert audited_once(None, binary, EXPECTED, audit) == EXPECTED
    assert audit.calls == 2
