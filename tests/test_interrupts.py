"""A Ctrl-C that Python itself swallows (it lands in a callback the interpreter runs, such as
importlib's module-lock weakref callback while a module loads) still ends the run cleanly."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest

from build_tools.__main__ import main
from build_tools.cli import dispatch, spec


def swallowed_interrupt() -> None:
    """What a SIGINT during an import does: KeyboardInterrupt inside a weakref callback, which
    Python reports as 'Exception ignored' and does not propagate."""

    class Lock:
        pass

    def callback(_: object) -> None:
        raise KeyboardInterrupt

    lock = Lock()
    reference = weakref.ref(lock, callback)
    del lock
    gc.collect()
    assert reference() is None


def test_an_interrupt_python_swallowed_while_loading_ends_the_run_with_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = dispatch.resolve_invocation

    def loading(*args: Any, **kwargs: Any) -> Any:
        swallowed_interrupt()
        return original(*args, **kwargs)

    monkeypatch.setattr(dispatch, "resolve_invocation", loading)
    code = main(["plan", "--arch", "86", "--json"])
    captured = capsys.readouterr()
    assert code == 130
    assert captured.err.strip().splitlines() == ["error: interrupted"]
    assert captured.out == ""  # the command never ran


def test_one_swallowed_while_the_command_ran_is_still_an_interrupt(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    original = spec.Context

    def context(**kwargs: Any) -> Any:  # made after the last check, just before the command
        swallowed_interrupt()
        return original(**kwargs)

    monkeypatch.setattr(dispatch, "Context", context)
    code = main(["plan", "--arch", "86", "--json"])
    captured = capsys.readouterr()
    assert code == 130
    assert captured.err.strip().splitlines()[-1] == "error: interrupted"
    assert "Exception ignored" not in captured.err


def test_other_unraisable_errors_are_still_reported(capsys: pytest.CaptureFixture[str]) -> None:
    from build_tools import interrupts

    class Thing:
        pass

    def callback(_: object) -> None:
        raise ValueError("a real bug")

    with interrupts.watching():
        thing = Thing()
        reference = weakref.ref(thing, callback)
        del thing
        gc.collect()
        interrupts.check()  # nothing swallowed: no KeyboardInterrupt
    assert reference() is None
    assert "a real bug" in capsys.readouterr().err
