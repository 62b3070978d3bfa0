"""Entry point: ``python -m build_tools`` and the ``ollama-build`` console script.

The only place that catches errors: a :class:`BuildToolsError` becomes one line on stderr (plus
the output tail of a failed command) and its exit code; a traceback only with ``--debug`` or
``BUILD_TOOLS_DEBUG=1``. The environment is read here, once, and handed down. Even the tool's
own modules are imported inside the handler, so Ctrl-C while they load is ``error:
interrupted`` and exit 130 like any other interrupt.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from types import FrameType

__all__ = ["main"]

INTERRUPTED = 130


def _debug_flag(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """``--debug`` among the global flags (before the command), or BUILD_TOOLS_DEBUG=1."""
    for arg in argv:
        if arg == "--debug":
            return True
        if not arg.startswith("-"):
            break
    return environ.get("BUILD_TOOLS_DEBUG") == "1"


def _probe_timeout(environ: Mapping[str, str]) -> float | None:
    """BUILD_TOOLS_PROBE_TIMEOUT: seconds a quick probe (nvidia-smi, nvcc, git, go) may take."""
    from build_tools.errors import ConfigurationError
    from build_tools.runner import PROBE_TIMEOUT_VARIABLE
    from build_tools.settings.parse import seconds

    text = environ.get(PROBE_TIMEOUT_VARIABLE, "")
    if not text:
        return None
    try:
        return seconds(text)
    except ValueError as error:
        raise ConfigurationError(
            f"${PROBE_TIMEOUT_VARIABLE} has an invalid value {text!r}: {error}"
        ) from None


def _run(argv: list[str], environ: dict[str, str]) -> int:
    from build_tools import interrupts
    from build_tools.errors import BuildToolsError, CommandFailedError

    debug = _debug_flag(argv, environ)
    try:
        from build_tools.cli.dispatch import dispatch
        from build_tools.cli.parser import parse_command_line
        from build_tools.console import reporter
        from build_tools.runner import Runner

        invocation = parse_command_line(argv)
        debug = debug or invocation.debug
        reporter.verbose = invocation.verbose or debug
        reporter.quiet = invocation.quiet
        runner = Runner(dry_run=invocation.dry_run)
        if (timeout := _probe_timeout(environ)) is not None:
            runner.probe_timeout = timeout
        interrupts.check()  # a Ctrl-C while the modules above loaded
        return dispatch(invocation, runner, environ)
    except BuildToolsError as error:
        if debug:
            raise
        from build_tools.console import reporter

        if isinstance(error, CommandFailedError) and error.output_tail:
            reporter.raw(error.output_tail + "\n")
        reporter.error(str(error))
        return error.exit_code


# Signals that end a run like Ctrl-C does: the running command's process group is stopped,
# temporary directories are removed (a verify server is stopped), and the exit code is 130.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise KeyboardInterrupt


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt while the tool runs (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, _interrupt) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        from build_tools import interrupts

        with _stopped_by_signals(), interrupts.watching():
            code = _run(args, dict(os.environ))
            interrupts.check()  # one Python swallowed while the command ran
            return code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return INTERRUPTED


if __name__ == "__main__":
    code = main()
    if code == INTERRUPTED:
        # CPython may turn an exit after a KeyboardInterrupt that passed through C code (an
        # import) into death by SIGINT; the exit code the README documents is 130.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
