"""Entry point: ``python -m build_tools`` and the ``ollama-build`` console script.

The only place that catches errors: a :class:`BuildToolsError` becomes one line on stderr (plus
the output tail of a failed command) and its exit code; a traceback only with ``--debug`` or
``BUILD_TOOLS_DEBUG=1``. The environment is read here, once, and handed down.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from build_tools.errors import BuildToolsError, CommandFailedError

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    environ = dict(os.environ)
    debug = environ.get("BUILD_TOOLS_DEBUG") == "1" or "--debug" in argv
    try:
        from build_tools.cli.dispatch import dispatch
        from build_tools.cli.parser import parse_command_line
        from build_tools.console import reporter
        from build_tools.runner import Runner

        invocation = parse_command_line(argv)
        debug = debug or invocation.debug
        reporter.verbose = invocation.verbose or debug
        reporter.quiet = invocation.quiet
        return dispatch(invocation, Runner(dry_run=invocation.dry_run), environ)
    except BuildToolsError as error:
        if debug:
            raise
        from build_tools.console import reporter

        if isinstance(error, CommandFailedError) and error.output_tail:
            reporter.raw(error.output_tail + "\n")
        reporter.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        sys.stderr.write("error: interrupted\n")
        return 130


if __name__ == "__main__":
    sys.exit(main())
