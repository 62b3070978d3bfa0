"""The one place that runs subprocesses.

Every external program (nvcc, cmake, ninja, go, git, apt-get, dpkg-deb, pip ...) is started
through :class:`Runner`. It echoes the command with its working directory and environment
changes, streams or captures output, keeps a full log when asked, raises
:class:`~build_tools.errors.CommandFailedError` with the log tail on failure, and implements
``--dry-run``: commands that change something are printed and skipped, read-only probes
(``probe=True``, e.g. ``nvcc --version``) still run so that a dry run shows a truthful plan.

A quick question (``quick=True``: ``nvidia-smi``, ``nvcc --version``, ``git rev-parse``,
``go version``) runs in a process group of its own; if it has not answered after
:attr:`Runner.probe_timeout` seconds it is stopped with everything it started, and
:class:`~build_tools.errors.CommandTimedOutError` names it. ``main`` sets that limit
(``BUILD_TOOLS_PROBE_TIMEOUT``). Other commands stay in the tool's process group, so that a
terminal's Ctrl-C reaches them and a git fetch can still ask for a password. When the tool is
interrupted (Ctrl-C, or SIGTERM/SIGHUP, which ``main`` turns into the same), the running
command and every process it started get SIGINT, then SIGKILL if they have not stopped within
a few seconds.

Arguments are always an argv list; ``shell=True`` is never used.
"""

from __future__ import annotations

import codecs
import contextlib
import os
import selectors
import shlex
import shutil
import signal
import subprocess
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from build_tools.console import Reporter, reporter
from build_tools.errors import CommandFailedError, CommandTimedOutError, ToolNotFoundError

__all__ = [
    "DEFAULT_PROBE_TIMEOUT",
    "INHERITED_PATH",
    "PROBE_TIMEOUT_VARIABLE",
    "RunResult",
    "Runner",
    "format_command",
    "prepend_path",
]

TAIL_LINES = 40
# How long a quick probe may take before it is stopped; main() reads the variable.
DEFAULT_PROBE_TIMEOUT = 60.0
PROBE_TIMEOUT_VARIABLE = "BUILD_TOOLS_PROBE_TIMEOUT"
# After an interrupt, how long a command's group may take to stop on SIGINT before SIGKILL.
INTERRUPT_GRACE = 5.0
# A PATH change that ends with this entry continues with the PATH this process was started
# with. Recipes write it instead of copying the machine's PATH, so a step (and the manifest
# that records it) says only what the build adds.
INHERITED_PATH = "$PATH"


@dataclass(frozen=True)
class RunResult:
    """What a finished (or dry-run skipped) command produced."""

    argv: tuple[str, ...]
    returncode: int
    output: str
    skipped: bool = False


def format_command(
    argv: Sequence[str], *, cwd: Path | None = None, env: Mapping[str, str | None] | None = None
) -> str:
    """Render a command the way a user could paste it into a POSIX shell."""
    parts: list[str] = []
    if cwd is not None:
        parts.append(f"(cd {shlex.quote(str(cwd))} &&")
    for key, value in sorted((env or {}).items()):
        parts.append(f"-u {key}" if value is None else f"{key}={_shell_value(key, value)}")
    if env:
        parts.insert(1 if cwd is not None else 0, "env")
    parts.append(shlex.join(argv))
    line = " ".join(parts)
    return line + ")" if cwd is not None else line


def _added_path_entries(key: str, value: str) -> list[str] | None:
    """The entries a PATH change puts before the inherited PATH; None for any other value."""
    entries = value.split(os.pathsep)
    if key == "PATH" and entries[-1] == INHERITED_PATH:
        return entries[:-1]
    return None


def _shell_value(key: str, value: str) -> str:
    added = _added_path_entries(key, value)
    if added is None:
        return shlex.quote(value)
    # Quoted entries, then the shell's own $PATH, so that a pasted command expands it.
    return os.pathsep.join([*(shlex.quote(e) for e in added), '"$PATH"'])


@dataclass
class Runner:
    """Runs commands; see the module docstring for the contract."""

    dry_run: bool = False
    out: Reporter = field(default_factory=lambda: reporter)
    echo: bool = True
    probe_timeout: float = DEFAULT_PROBE_TIMEOUT  # seconds a quick=True command may take

    def which(self, program: str, *, path: str | None = None, hint: str | None = None) -> Path:
        """Resolve a program on PATH or fail with a typed error that says what to install."""
        found = shutil.which(program, path=path)
        if found is None:
            raise ToolNotFoundError(
                f"'{program}' was not found on PATH", hint=hint or f"install {program}"
            )
        return Path(found)

    def environment_for(self, changes: Mapping[str, str | None] | None) -> dict[str, str]:
        """The environment a command run with ``env=changes`` receives (stamps of skipped
        steps record the part of it that changes the output)."""
        return _merged_env(changes)

    def run(
        self,
        argv: Sequence[str | os.PathLike[str]],
        *,
        cwd: Path | None = None,
        env: Mapping[str, str | None] | None = None,
        probe: bool = False,
        log_path: Path | None = None,
        on_line: Callable[[str], None] | None = None,
        check: bool = True,
        what: str | None = None,
        hint: str | None = None,
        quick: bool = False,
    ) -> RunResult:
        """Run ``argv``; return its combined stdout+stderr as text.

        ``env`` holds changes to the current environment (``None`` unsets a variable).
        ``probe`` marks a read-only query that still runs under ``--dry-run``.
        ``log_path`` receives the full output; ``on_line`` sees each line as it arrives.
        ``what`` names the step in error messages ("configure", "nvcc --version" ...).
        ``quick`` marks a question that answers in seconds: it is stopped (with every process
        it started) after :attr:`probe_timeout` seconds, raising CommandTimedOutError.
        """
        args = tuple(os.fspath(a) for a in argv)
        shown = format_command(args, cwd=cwd, env=env)
        if self.dry_run and not probe:
            self.out.info(f"would run: {shown}")
            return RunResult(args, 0, "", skipped=True)
        if self.echo and not probe:
            self.out.command(shown)
        else:
            self.out.debug(f"+ {shown}")

        output = _Output(log_path, on_line)
        label = what or Path(args[0]).name
        timeout = self.probe_timeout if quick else None
        try:
            output.begin(shown)
            returncode = _pump(
                args, cwd=cwd, env=_merged_env(env), output=output, hint=hint, timeout=timeout
            )
        except _TimedOut:
            raise CommandTimedOutError(
                f"{label} did not answer within {timeout:g} s and was stopped",
                argv=args,
                returncode=-signal.SIGKILL,
                output_tail="\n".join(output.tail),
                log_path=log_path,
                hint=hint
                or f"if it is only slow, set {PROBE_TIMEOUT_VARIABLE}=SECONDS to wait longer",
            ) from None
        finally:
            output.close()
        if check and returncode != 0:
            where = f"; full log: {log_path}" if log_path is not None else ""
            raise CommandFailedError(
                f"{label} failed with exit code {returncode}{where}",
                argv=args,
                returncode=returncode,
                output_tail="\n".join(output.tail),
                log_path=log_path,
                hint=hint,
            )
        return RunResult(args, returncode, "".join(output.chunks))


def prepend_path(*directories: Path) -> str:
    """A PATH value: ``directories`` first, then the inherited PATH (see INHERITED_PATH)."""
    return os.pathsep.join([*(str(d) for d in directories), INHERITED_PATH])


def _merged_env(changes: Mapping[str, str | None] | None) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in (changes or {}).items():
        if value is None:
            env.pop(key, None)
        elif (added := _added_path_entries(key, value)) is not None:
            inherited = os.environ.get("PATH")
            env[key] = os.pathsep.join(added + ([inherited] if inherited else []))
        else:
            env[key] = value
    return env


@dataclass
class _Output:
    """Collects a command's output: all of it, its tail, its log file, a line callback."""

    log_path: Path | None
    on_line: Callable[[str], None] | None
    chunks: list[str] = field(default_factory=list)
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=TAIL_LINES))
    _log: TextIO | None = None

    def begin(self, shown: str) -> None:
        if self.log_path is not None:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = self.log_path.open("w", encoding="utf-8", errors="replace")
            self._log.write(f"$ {shown}\n")

    def line(self, line: str) -> None:
        self.chunks.append(line)
        self.tail.append(line.rstrip("\n"))
        if self._log is not None:
            self._log.write(line)
        if self.on_line is not None:
            self.on_line(line.rstrip("\n"))

    def close(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


class _TimedOut(Exception):
    """The command ran past its timeout; its process group was killed."""


def _start(
    args: tuple[str, ...],
    *,
    cwd: Path | None,
    env: dict[str, str],
    hint: str | None,
    own_group: bool,
) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            # A group of its own: a timeout stops everything it started.
            process_group=0 if own_group else None,
        )
    except OSError as error:
        if cwd is not None and not cwd.is_dir():
            raise ToolNotFoundError(
                f"cannot run '{args[0]}' in {cwd}: no such directory", hint=hint
            ) from None
        if isinstance(error, FileNotFoundError) and not Path(args[0]).exists():
            reason = "program not found"
        elif isinstance(error, FileNotFoundError):
            reason = "its interpreter (the #! line) or a library it needs is missing"
        elif isinstance(error, PermissionError):
            reason = "permission denied (is it an executable file?)"
        else:
            reason = error.strerror or str(error)
        raise ToolNotFoundError(
            f"cannot run '{args[0]}': {reason}", hint=hint or f"install {args[0]}"
        ) from None


def _descendants(pid: int) -> list[int]:
    """The processes ``pid`` started, and theirs (Linux ``/proc``; empty where unreadable)."""
    found: list[int] = []
    pending = [pid]
    while pending:
        parent = pending.pop()
        try:
            tasks = [entry.name for entry in Path(f"/proc/{parent}/task").iterdir()]
        except OSError:
            continue
        for task in tasks:
            try:
                children = Path(f"/proc/{parent}/task/{task}/children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                found.append(child)
                pending.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _signal(pids: list[int], signum: signal.Signals) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signum)


def _stop(
    proc: subprocess.Popen[bytes], first: signal.Signals, grace: float, *, group: bool
) -> None:
    """Send ``first`` to the command and everything it started (its process group if it has
    one of its own, else the processes found below it), then SIGKILL after ``grace`` seconds."""
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, first)
    # Found before anything is signalled: once the command exits, its children are orphans.
    pids = [proc.pid, *_descendants(proc.pid)]
    if not group:
        _signal(pids, first)
    deadline = time.monotonic() + (0 if first == signal.SIGKILL else grace)
    while time.monotonic() < deadline and (proc.poll() is None or any(map(_alive, pids[1:]))):
        time.sleep(0.05)
    if group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    _signal(pids, signal.SIGKILL)
    proc.wait()


def _lines(text: str, *, final: bool) -> tuple[list[str], str]:
    """Complete lines (universal newlines, each ending in ``\\n``) and the unfinished rest."""
    text = text.replace("\r\n", "\n")
    hold = ""
    if not final and text.endswith("\r"):  # maybe the first half of a \r\n
        text, hold = text[:-1], "\r"
    parts = text.replace("\r", "\n").split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    rest = parts[-1] + hold
    if final and rest:
        lines.append(rest)
        rest = ""
    return lines, rest


def _pump(
    args: tuple[str, ...],
    *,
    cwd: Path | None,
    env: dict[str, str],
    output: _Output,
    hint: str | None,
    timeout: float | None = None,
) -> int:
    own_group = timeout is not None
    proc = _start(args, cwd=cwd, env=env, hint=hint, own_group=own_group)
    deadline = None if timeout is None else time.monotonic() + timeout
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    rest = ""
    try:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise _TimedOut
                if not selector.select(left):
                    continue
                chunk = os.read(fd, 65536)
                lines, rest = _lines(rest + decoder.decode(chunk, final=not chunk), final=not chunk)
                for line in lines:
                    output.line(line)
                if not chunk:
                    break
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            return proc.wait(timeout=left)
        except subprocess.TimeoutExpired:
            raise _TimedOut from None
    except _TimedOut:
        _stop(proc, signal.SIGKILL, 0, group=own_group)
        raise
    except BaseException:
        # Ctrl-C or an error in a callback: never leave the command running behind us.
        _stop(proc, signal.SIGINT, INTERRUPT_GRACE, group=own_group)
        raise
    finally:
        if proc.stdout is not None:
            proc.stdout.close()
