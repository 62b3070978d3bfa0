"""The one subprocess helper: environment changes, failures with their log tail, --dry-run."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from build_tools.errors import CommandFailedError, CommandTimedOutError, ToolNotFoundError
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


# A quick probe that prints a line, starts a grandchild that would outlive it, then hangs.
HANGING_PROBE = """
import subprocess, sys, time
print("partial answer", flush=True)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"


def test_a_quick_probe_that_hangs_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "grandchild"
    runner = Runner(echo=False, probe_timeout=1.0)
    with pytest.raises(CommandTimedOutError, match=r"fake-probe did not answer within 1 s") as info:
        runner.run(
            [sys.executable, "-c", HANGING_PROBE, str(pid_file)],
            probe=True,
            quick=True,
            what="fake-probe",
        )
    assert info.value.exit_code == 10
    assert "partial answer" in info.value.output_tail
    grandchild = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(grandchild), "the probe's own children are stopped with it"


@pytest.mark.parametrize(
    ("mode", "reason"),
    [(0o644, "permission denied"), (0o755, "interpreter")],
    ids=["not-executable", "bad-interpreter"],
)
def test_a_program_that_cannot_start_is_named_with_the_reason(
    tmp_path: Path, mode: int, reason: str
) -> None:
    program = tmp_path / "tool"
    program.write_text("#!/nonexistent/interpreter\n")
    program.chmod(mode)
    with pytest.raises(ToolNotFoundError, match=reason):
        Runner(echo=False).run([str(program)], probe=True)


# A build step that starts a worker of its own (as cmake starts ninja, ninja a compiler).
STEP_WITH_WORKER = """
import subprocess, sys, time
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
open(sys.argv[1], "w").write(str(child.pid))
print("started", flush=True)
time.sleep(60)
"""


def test_an_interrupted_command_is_stopped_with_what_it_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker"

    def interrupt(line: str) -> None:
        if line == "started":
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Runner(echo=False).run(
            [sys.executable, "-c", STEP_WITH_WORKER, str(pid_file)], on_line=interrupt
        )
    worker = int(pid_file.read_text())
    deadline = time.monotonic() + 5
    while _alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(worker), "the step's own worker is stopped with it"
