"""GitHub Actions awareness: folded steps, ::error::/::warning:: annotations, step summary.

The end-to-end check (a fixture build on "GitHub Actions" writing folded logs and a step
summary) is in test_reproducible.py, whose two real builds run with GITHUB_ACTIONS=true.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from build_tools import ci
from build_tools.__main__ import main
from build_tools.console import reporter
from build_tools.pipeline.summary import write_build_summary

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Pretend to run on GitHub Actions; returns the step summary file."""
    summary = tmp_path / "step-summary.md"
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    return summary


@pytest.fixture
def not_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


def test_detection() -> None:
    assert ci.detect_ci_provider({"GITHUB_ACTIONS": "true"}) is ci.CIProvider.GITHUB_ACTIONS
    assert ci.detect_ci_provider({"GITHUB_ACTIONS": "false"}) is None
    assert ci.detect_ci_provider({}) is None


@pytest.mark.usefixtures("github")
def test_annotations_escape_what_would_break_the_command() -> None:
    assert ci.annotation("error", "50% done\nthen: failed") == "::error::50%25 done%0Athen: failed"
    assert ci.annotation("warning", "w", title="a: b, c") == "::warning title=a%3A b%2C c::w"


@pytest.mark.usefixtures("not_github")
def test_off_ci_nothing_changes(capsys: pytest.CaptureFixture[str]) -> None:
    assert ci.annotation("error", "x") is None
    with reporter.step("Configure"):
        reporter.warning("careful")
    err = capsys.readouterr().err
    assert "::" not in err
    assert "warning: careful" in err


@pytest.mark.usefixtures("github")
def test_steps_fold_once_and_outermost_only(capsys: pytest.CaptureFixture[str]) -> None:
    with reporter.step("Build CUDA backend (a very long title that must stay on one line)"):
        reporter.info("inside")
        with reporter.step("nested"):
            reporter.info("deeper")
    with pytest.raises(RuntimeError), reporter.step("Install"):
        raise RuntimeError("boom")
    lines = capsys.readouterr().err.splitlines()
    assert lines.count("::endgroup::") == 2
    assert sum(line.startswith("::group::") for line in lines) == 2
    first = lines.index(
        "::group::Build CUDA backend (a very long title that must stay on one line)"
    )
    end = lines.index("::endgroup::")
    assert any("deeper" in line for line in lines[first:end])
    assert lines[end + 1].startswith("✓ Build CUDA backend")  # the result shows unfolded
    assert lines[-1].startswith("✕ Install")
    assert lines[-2] == "::endgroup::"


@pytest.mark.usefixtures("github")
def test_errors_from_main_become_error_annotations(capsys: pytest.CaptureFixture[str]) -> None:
    profiles = str(REPO / "ci" / "ollama-build.toml")
    assert main(["plan", "--profiles-file", profiles, "--profile", "lab-sm68"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("::error::")
    assert "did you mean 'lab-sm86'?" in err


def test_step_summary_only_on_github(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    environ = {"GITHUB_STEP_SUMMARY": str(summary)}
    assert write_build_summary(None, None, environ) is None  # type: ignore[arg-type]
    assert not summary.exists()
