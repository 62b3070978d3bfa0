"""Programs a test needs: found, or the test is skipped saying what to install."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

__all__ = ["require"]


def require(name: str, why: str, *, install: str | None = None) -> Path:
    """``name`` beside this Python (pip-installed tools first) or on PATH; else skip the test
    with the reason (``why``) and what to install."""
    beside = Path(sys.executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed ({why}); install {install or name} to run this test")
    return Path(found)
