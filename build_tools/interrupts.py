"""A Ctrl-C that Python swallowed still ends the run, as ``error: interrupted`` and exit 130.

SIGINT raises KeyboardInterrupt wherever the interpreter is. When that is inside a callback the
interpreter runs itself - the weakref callback of importlib's module locks, while a module of
the tool loads - Python prints ``Exception ignored in: ...`` with a traceback and carries on,
so the run went on as if nothing had happened (seen on a loaded CI machine: SIGINT 0.3 s after
start, then ``inspect -`` read its input and failed with exit 8 under that traceback). While
:func:`watching` is active, such an interrupt is remembered instead of printed, and
:func:`check` raises it again where the tool is back in its own code.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["check", "watching"]

_swallowed = threading.Event()


def _hook(unraisable: Any) -> None:
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _swallowed.set()
        return
    sys.__unraisablehook__(unraisable)


@contextmanager
def watching() -> Iterator[None]:
    """Remember interrupts Python would only print, for the duration of one run."""
    _swallowed.clear()
    previous = sys.unraisablehook
    sys.unraisablehook = _hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


def check() -> None:
    """Raise the KeyboardInterrupt that Python swallowed since the run began, if any."""
    if _swallowed.is_set():
        _swallowed.clear()
        raise KeyboardInterrupt
