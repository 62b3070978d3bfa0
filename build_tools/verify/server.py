"""Run a built ``ollama serve`` in isolation for as long as a ``with`` block lasts.

Why not :class:`~build_tools.runner.Runner`: it runs a command to completion and returns its
output, while the server has to keep running in the background while we talk to it over HTTP,
then be stopped. So this module holds the one ``Popen`` of the verify step, with the same
conventions: an argv list (no shell), the command echoed through the reporter, nothing run
under ``--dry-run`` (the caller checks ``runner.dry_run`` first).

Isolation: a free loopback port (``OLLAMA_HOST=127.0.0.1:<port>``), ``OLLAMA_MODELS`` and
``HOME`` (where Ollama writes its key pair) inside the work directory, every inherited
``OLLAMA_*`` variable removed so the user's settings cannot change the result, ``OLLAMA_DEBUG=1``
for the per-device discovery lines. The log (stdout and stderr) goes to a file.

Stopping, whatever happened inside the block: SIGTERM (Ollama then stops its runner children),
SIGKILL to the whole process group after ``stop_timeout`` seconds. The server gets its own
session, so that group is exactly the server and the runners it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from build_tools.console import Reporter
from build_tools.errors import VerifyError
from build_tools.runner import format_command

__all__ = ["RunningServer", "background_server", "free_port", "ollama_server", "server_environment"]

POLL_SECONDS = 0.25
LOG_TAIL_LINES = 25


@dataclass
class RunningServer:
    """A started server. Call :meth:`wait_until_ready` before talking to it."""

    base_url: str
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)
    started_seconds: float = 0.0
    stop_detail: str = ""  # filled in when the server has been stopped
    stop_seconds: float = 0.0
    stopped_cleanly: bool = False
    env_removed: tuple[str, ...] = field(default=())
    name: str = "ollama serve"  # what the messages call it
    ready_path: str = "/api/version"  # answers 200 once the server is up

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    @property
    def pid(self) -> int:
        return self.proc.pid

    def wait_until_ready(self, timeout: float) -> None:
        """Poll ``GET <ready_path>`` until it answers; fail early if the server exits."""
        _wait_until_ready(self.proc, self, timeout)


def free_port() -> int:
    """A loopback port that is free now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_environment(
    workdir: Path, port: int
) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """(full environment, the changes to show, inherited OLLAMA_* names removed)."""
    changes = {
        "OLLAMA_HOST": f"127.0.0.1:{port}",
        "OLLAMA_MODELS": str(workdir / "models"),
        "HOME": str(workdir / "home"),
        "OLLAMA_DEBUG": "1",
    }
    removed = sorted(k for k in os.environ if k.startswith("OLLAMA_") and k not in changes)
    env = {k: v for k, v in os.environ.items() if k not in removed}
    env.update(changes)
    return env, changes, removed


def _answers(base_url: str, path: str = "/api/version") -> bool:
    try:
        # The URL is ours: http://127.0.0.1:<port>.
        with urllib.request.urlopen(f"{base_url}{path}", timeout=2) as response:  # noqa: S310
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _wait_until_ready(proc: subprocess.Popen[bytes], server: RunningServer, timeout: float) -> None:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        code = proc.poll()
        if code is not None:
            raise VerifyError(
                f"{server.name} exited with code {code} before answering; last log lines:\n"
                f"{server.log_tail()}",
                hint=f"full log: {server.log_path}",
            )
        if _answers(server.base_url, server.ready_path):
            server.started_seconds = time.monotonic() - start
            return
        time.sleep(POLL_SECONDS)
    raise VerifyError(
        f"{server.name} did not answer GET {server.ready_path} within {timeout:.0f}s; last log "
        f"lines:\n"
        f"{server.log_tail()}",
        hint=f"raise --timeout, or read the full log: {server.log_path}",
    )


def _kill_group(pid: int) -> None:
    # The group of the session we created: the server and the runners it started, nothing else.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _stop(proc: subprocess.Popen[bytes], server: RunningServer, stop_timeout: float) -> None:
    start = time.monotonic()
    try:
        _terminate(proc, server, stop_timeout)
    finally:
        server.stop_seconds = time.monotonic() - start


def _terminate(proc: subprocess.Popen[bytes], server: RunningServer, stop_timeout: float) -> None:
    start = time.monotonic()
    if proc.poll() is not None:
        server.stop_detail = f"had already exited with code {proc.returncode}"
        _kill_group(proc.pid)  # runners it may have left behind
        server.stopped_cleanly = True  # nothing of it is left running: not a stop failure
        return
    proc.send_signal(signal.SIGTERM)
    try:
        code = proc.wait(timeout=stop_timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc.pid)
        proc.wait()
        server.stop_detail = f"did not stop within {stop_timeout:.0f}s of SIGTERM; killed"
        return
    _kill_group(proc.pid)
    server.stopped_cleanly = True
    server.stop_detail = f"stopped by SIGTERM in {time.monotonic() - start:.1f}s (exit code {code})"


@contextlib.contextmanager
def ollama_server(
    install_dir: Path,
    workdir: Path,
    *,
    out: Reporter,
    stop_timeout: float = 15.0,
) -> Iterator[RunningServer]:
    """Start ``<install_dir>/bin/ollama serve`` and stop it when the block ends, however it
    ends. The block calls ``server.wait_until_ready(timeout)`` first."""
    binary = install_dir / "bin" / "ollama"
    if not binary.is_file():
        raise VerifyError(
            f"{binary} does not exist",
            hint="pass the install directory that holds bin/ollama and lib/ollama",
        )
    for sub in ("models", "home"):
        (workdir / sub).mkdir(parents=True, exist_ok=True)
    port = free_port()
    env, changes, removed = server_environment(workdir, port)
    argv = [str(binary), "serve"]
    with background_server(
        argv,
        env=env,
        shown_env=changes,
        workdir=workdir,
        port=port,
        log_path=workdir / "ollama-serve.log",
        out=out,
        stop_timeout=stop_timeout,
    ) as server:
        server.env_removed = tuple(removed)
        yield server


@contextlib.contextmanager
def background_server(
    argv: list[str],
    *,
    env: dict[str, str],
    shown_env: dict[str, str],
    workdir: Path,
    port: int,
    log_path: Path,
    out: Reporter,
    stop_timeout: float = 15.0,
    name: str = "ollama serve",
    ready_path: str = "/api/version",
) -> Iterator[RunningServer]:
    """Start ``argv`` (an HTTP server on 127.0.0.1:``port``) in a session of its own, its
    output in ``log_path``, and stop it (SIGTERM, then SIGKILL to its process group) when the
    block ends, however it ends."""
    out.command(format_command(argv, env=shown_env))
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(
        base_url=f"http://127.0.0.1:{port}",
        port=port,
        log_path=log_path,
        proc=proc,
        name=name,
        ready_path=ready_path,
    )
    try:
        yield server
    finally:
        _stop(proc, server, stop_timeout)
