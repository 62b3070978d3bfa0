"""The one subprocess helper: environment changes, failures with their log tail, --dry-run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from build_tools.errors import CommandFailedError
from build_tools.runner import INHERITED_PATH, Runner, format_command, prepend_path

PRINT_ENV = "import os, sys; print(os.environ.get(sys.argv[1], '<unset>'))"


def child_env(runner: Runner, name: str, env: dict[str, str | None]) -> str:
    result = runner.run([sys.executable, "-c", PRINT_ENV, name], env=env, probe=True)
    return result.output.strip()


def test_a_path_change_is_prepended_to_the_inherited_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    value = prepend_path(tmp_path / "cuda" / "bin", tmp_path / "ninja")
    # What a recipe (and the manifest) holds: only what the build adds.
    assert value == f"{tmp_path}/cuda/bin:{tmp_path}/ninja:{INHERITED_PATH}"
    seen = child_env(Runner(echo=False), "PATH", {"PATH": value})
    assert seen == f"{tmp_path}/cuda/bin:{tmp_path}/ninja:/usr/bin:/bin"
    # A PATH without the reference replaces the inherited one; None unsets a variable.
    assert child_env(Runner(echo=False), "PATH", {"PATH": "/opt/x"}) == "/opt/x"
    monkeypatch.setenv("BUILD_TOOLS_PROBE", "set")
    assert child_env(Runner(echo=False), "BUILD_TOOLS_PROBE", {"BUILD_TOOLS_PROBE": None}) == (
        "<unset>"
    )


def test_a_printed_command_pasted_into_a_shell_gets_the_same_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    env: dict[str, str | None] = {
        "PATH": prepend_path(tmp_path / "with space", tmp_path / "bin"),
        "CUDACXX": str(tmp_path / "it's" / "nvcc"),
        "BUILD_TOOLS_PROBE": None,
    }
    argv = [sys.executable, "-c", PRINT_ENV + "; print(os.environ.get('CUDACXX'))", "PATH"]
    line = format_command(argv, cwd=tmp_path, env=env)
    assert '"$PATH"' in line
    pasted = subprocess.run(["sh", "-c", line], capture_output=True, text=True, check=True)
    ran = Runner(echo=False).run(argv, cwd=tmp_path, env=env, probe=True)
    assert pasted.stdout == ran.output
    assert pasted.stdout.splitlines()[0] == f"{tmp_path}/with space:{tmp_path}/bin:/usr/bin:/bin"


def test_a_failure_carries_exit_code_tail_and_log(tmp_path: Path) -> None:
    script = "import sys; [print(f'line {i}') for i in range(100)]; sys.exit(3)"
    log = tmp_path / "step.log"
    with pytest.raises(CommandFailedError) as caught:
        Runner(echo=False).run([sys.executable, "-c", script], log_path=log, what="configure")
    error = caught.value
    assert error.returncode == 3
    assert error.exit_code == 10
    assert "configure failed with exit code 3" in str(error)
    assert str(log) in str(error)
    assert error.output_tail.splitlines()[-1] == "line 99"
    assert "line 0" not in error.output_tail  # a tail, not the whole output
    assert "line 0" in log.read_text()  # ... which the log keeps


def test_dry_run_skips_changes_but_runs_probes(tmp_path: Path) -> None:
    marker = tmp_path / "made"
    runner = Runner(dry_run=True, echo=False)
    touch = [sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    assert runner.run(touch).skipped
    assert not marker.exists()
    probe = runner.run([sys.executable, "-c", "print('ok')"], probe=True)
    assert (probe.skipped, probe.output.strip()) == (False, "ok")
