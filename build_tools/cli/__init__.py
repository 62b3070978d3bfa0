"""The command layer: argv in, settings resolved, a command's handler run, output shown.

``catalog`` lists the commands, ``parser`` is the only place that knows argparse, ``dispatch``
resolves settings and runs a handler, ``commands/`` holds the handlers (imported on use).
Nothing below this package reads argv.
"""
