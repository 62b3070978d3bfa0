"""Entry point: ``python -m build_tools`` and the ``ollama-build`` console script.

The only place that catches errors: a :class:`BuildToolsError` becomes one line on stderr (plus
the output tail of a failed command) and its exit code; a traceback only with ``--debug`` or
``BUILD_TOOLS_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from build_tools.cli import parse_args
from build_tools.console import reporter
from build_tools.errors import BuildToolsError, CommandFailedError
from build_tools.runner import Runner
from build_tools.settings import apply_profile, show_options

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser, args = parse_args(argv)
    debug = args.debug or os.environ.get("BUILD_TOOLS_DEBUG") == "1"
    reporter.verbose = args.verbose or debug
    reporter.quiet = args.quiet
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    runner = Runner(dry_run=args.dry_run)
    try:
        args = apply_profile(args, argv)  # defaults < profile < command line
        if getattr(args, "show_options", False):
            return show_options(args)
        return int(args.func(args, runner))
    except BuildToolsError as error:
        if debug:
            raise
        if isinstance(error, CommandFailedError) and error.output_tail:
            reporter.raw(error.output_tail + "\n")
        reporter.error(str(error))
        return error.exit_code
    except KeyboardInterrupt:
        reporter.error("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
